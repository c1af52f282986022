/**
 * `check`: will these modules load into this kernel, and why not? The kernel's load-time
 * checks in the kernel's order (research/kernel-load-checks.md §6.2), first fatal one wins,
 * every finding reported. Modules are loaded in the order given, so a later module may use
 * an earlier one's exports (as with insmod).
 */
import { decompressModule } from '../compress/index.js';
import { isKmodsealError, type KmodsealError } from '../bytes/errors.js';
import { checkModuleBtf } from '../btf/validate.js';
import { findElfBtf } from '../btf/btf.js';
import { moduleFacts, first, type ModuleFacts } from './module-facts.js';
import { kernelSignatureVerdict, keyCert, type KeyCert, type SigResult } from './signature.js';
import type { CheckTarget, ExportInfo } from './target.js';

export type Outcome = 'loads' | 'loads-tainted' | 'rejected';

export interface Reason {
  /** Which check: signature, elf, modinfo, struct-module, modversions, vermagic, taint, exports, symbols, btf, input. */
  readonly check: string;
  /** A stable code, e.g. "unsigned", "untrusted-key", "crc-mismatch", "unknown-symbol". */
  readonly code: string;
  /** Human explanation. */
  readonly message: string;
  /** The line the kernel logs for it, when it logs one. */
  readonly log?: string;
  /** True when this finding is what stops the load. */
  readonly fatal: boolean;
}

export interface ModuleVerdict {
  readonly file: string;
  readonly name: string;
  readonly outcome: Outcome;
  /** For a rejected module: finit_module()'s errno name. */
  readonly errno: string | null;
  /** Taint letters the kernel would show in /sys/module/NAME/taint (in the kernel's letter order). */
  readonly taints: string;
  readonly reasons: readonly Reason[];
  /** The trusted certificate that vouched for the signature. */
  readonly signedBy: string | null;
}

export interface CheckInput {
  readonly file: string;
  readonly data: Uint8Array;
}

export interface CheckOptions {
  /** Certificates of the secondary/machine keyrings (MOK etc.). */
  readonly extraTrusted?: readonly Uint8Array[];
  /**
   * 'given' (insmod): load in the order given. 'dependencies' (depmod/modprobe): load every
   * module after the given modules that export what it needs. Results keep the given order.
   */
  readonly order?: 'given' | 'dependencies';
}

const GPL_COMPATIBLE = new Set(['GPL', 'GPL v2', 'GPL and additional rights', 'Dual BSD/GPL', 'Dual MIT/GPL', 'Dual MPL/GPL']);
/** Taint letters in the order the kernel prints them (kernel/panic.c taint_flags). */
const TAINT_ORDER = 'PFSRMBUDAWCIOELKXTN';

/** Trusted certificates of the target, parsed once. */
export function trustedKeys(target: CheckTarget, extra: readonly Uint8Array[] = []): KeyCert[] {
  const out: KeyCert[] = [];
  for (const c of target.trusted) {
    try {
      out.push(keyCert(Buffer.from(c.der, 'base64'), c.kernelName));
    } catch {
      /* the kernel skips certificates it cannot parse */
    }
  }
  for (const der of extra) out.push(keyCert(der, 'extra certificate'));
  return out;
}

/**
 * Checks modules against a target, loading them in the order given.
 * `extraTrusted`: certificates in the secondary/machine keyrings (MOK etc.).
 */
export async function checkModules(target: CheckTarget, inputs: readonly CheckInput[], options: CheckOptions = {}): Promise<ModuleVerdict[]> {
  const keys = trustedKeys(target, options.extraTrusted);
  const loaded = new Map<string, ExportInfo>(target.exports ?? []);
  const loadedNames = new Set<string>();
  const out: ModuleVerdict[] = new Array(inputs.length);
  if (options.order === 'dependencies') {
    // every module is read once: the dependency order and the checks share the prepared bytes
    const prepared: (Prepared | undefined)[] = [];
    for (const input of inputs) prepared.push(await prepare(input));
    for (const i of dependencyOrder(prepared)) {
      out[i] = checkOne(target, keys, inputs[i]!, prepared[i]!, loaded, loadedNames);
      prepared[i] = undefined; // let the decompressed module go
    }
  } else {
    for (let i = 0; i < inputs.length; i++) out[i] = checkOne(target, keys, inputs[i]!, await prepare(inputs[i]!), loaded, loadedNames);
  }
  return out;
}

/** A module decompressed and read (or why it could not be decompressed). */
type Prepared = { readonly data: Uint8Array; readonly facts: ModuleFacts } | { readonly error: KmodsealError };

/** The name the kernel falls back to when a module names itself nowhere: its file name. */
function fileModname(file: string): string {
  return file.replace(/^.*\//, '').replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_');
}

async function prepare(input: CheckInput): Promise<Prepared> {
  try {
    const data = (await decompressModule(input.data, input.file)).data;
    return { data, facts: moduleFacts(data, input.file, fileModname(input.file)) };
  } catch (e) {
    if (!isKmodsealError(e)) throw e;
    return { error: e };
  }
}

/**
 * Indexes of `inputs` with every module after the modules that export the symbols it imports
 * (depmod's order); cycles and unreadable modules keep their place.
 */
function dependencyOrder(prepared: readonly (Prepared | undefined)[]): number[] {
  const provider = new Map<string, number>();
  const needs: string[][] = [];
  prepared.forEach((m, i) => {
    const f = m && 'facts' in m ? m.facts : undefined;
    for (const e of f?.exports ?? []) if (!provider.has(e.name)) provider.set(e.name, i);
    needs.push((f?.undefinedSymbols ?? []).map((u) => u.name));
  });
  const state = new Uint8Array(prepared.length); // 0 new, 1 visiting, 2 done
  const order: number[] = [];
  const visit = (i: number): void => {
    if (state[i]) return;
    state[i] = 1;
    for (const sym of needs[i]!) {
      const p = provider.get(sym);
      if (p !== undefined && p !== i && state[p] === 0) visit(p);
    }
    state[i] = 2;
    order.push(i);
  };
  for (let i = 0; i < prepared.length; i++) visit(i);
  return order;
}

function checkOne(target: CheckTarget, keys: readonly KeyCert[], input: CheckInput, prepared: Prepared, exportsNow: Map<string, ExportInfo>, loadedNames: Set<string>): ModuleVerdict {
  const reasons: Reason[] = [];
  const taints = new Set<string>();
  let errno: string | null = null;
  let signedBy: string | null = null;
  const base = fileModname(input.file);
  const reject = (check: string, code: string, err: string, message: string, log?: string): void => {
    const fatal = errno === null;
    if (fatal) errno = err;
    reasons.push({ check, code, message, fatal, ...(log !== undefined ? { log } : {}) });
  };
  const note = (check: string, code: string, message: string, log?: string): void => {
    reasons.push({ check, code, message, fatal: false, ...(log !== undefined ? { log } : {}) });
  };
  const p = target.policy;

  // 0d. decompression (the kernel's own, or userspace's: both give the same bytes for one stream)
  if ('error' in prepared) {
    reject('input', 'decompress', 'EINVAL', prepared.error.message);
    return verdict(input.file, base, reasons, taints, errno, signedBy);
  }
  const { data, facts } = prepared;
  const name = facts.name;

  // 1. module_sig_check()
  let unsignedTaint = false;
  if (p.moduleSig) {
    const sig = kernelSignatureVerdict(data, facts.trailer, keys, { series: target.series, force: p.force });
    for (const l of sig.log) note('signature', 'log', l, l);
    const soft: Record<string, [string, string]> = {
      ENODATA: ['unsigned', 'Loading of unsigned module is rejected'],
      ENOPKG: ['unsupported-crypto', 'Loading of module with unsupported crypto is rejected'],
      ENOKEY: ['untrusted-key', 'Loading of module with unavailable key is rejected'],
    };
    const r: SigResult = sig.result;
    if (r === 'OK') {
      signedBy = sig.trustedBy ?? null;
      note('signature', 'trusted', sig.detail);
    } else if (soft[r]) {
      const [code, msg] = soft[r]!;
      if (p.sigEnforce) reject('signature', code, 'EKEYREJECTED', `${sig.detail}; signatures are enforced`, msg);
      else if (p.lockdown) reject('signature', code, 'EPERM', `${sig.detail}; the kernel is locked down`, `Lockdown: insmod: unsigned module loading is restricted; see man kernel_lockdown.7`);
      else {
        unsignedTaint = true;
        note('signature', code, `${sig.detail}; not enforced: the module loads and taints the kernel (E)`, `${name}: module verification failed: signature and/or required key missing - tainting kernel`);
      }
    } else {
      reject('signature', r === 'EKEYREJECTED' ? 'bad-signature' : 'bad-message', r, `${sig.detail} (fatal even without enforcement)`);
    }
  }
  if (errno) return verdict(input.file, name, reasons, taints, errno, signedBy);

  // 2-4. ELF validity
  if (!facts.elf) {
    reject('elf', 'invalid-elf', 'ENOEXEC', facts.elfError?.message ?? 'not an ELF relocatable object');
    return verdict(input.file, name, reasons, taints, errno, signedBy);
  }
  const elf = facts.elf;
  if (elf.header.e_type !== 1) reject('elf', 'not-relocatable', 'ENOEXEC', `e_type ${elf.header.e_type} is not ET_REL`);
  if (target.machine !== undefined && elf.header.e_machine !== target.machine) reject('elf', 'wrong-arch', 'ENOEXEC', `e_machine ${elf.header.e_machine} is not the kernel's ${target.machine}`);
  if (errno) return verdict(input.file, name, reasons, taints, errno, signedBy);

  // 5. .modinfo, this_module, symbol table
  if (target.series === '6.12' && facts.modinfoCount > 1) reject('modinfo', 'modinfo', 'ENOEXEC', 'more than one .modinfo section', 'Only one .modinfo section must exist.');
  const tm = facts.thisModule;
  if (tm.length === 0) reject('struct-module', 'no-this-module', 'ENOEXEC', 'no .gnu.linkonce.this_module section', `${name}: No module found in object`);
  else if (target.series === '6.12' && target.structModuleSize !== undefined && tm[0]!.sh_size !== target.structModuleSize) {
    reject('struct-module', 'struct-module-size', 'ENOEXEC', `.gnu.linkonce.this_module is ${tm[0]!.sh_size} bytes; this kernel's struct module is ${target.structModuleSize}`, `module ${name}: .gnu.linkonce.this_module section size must match the kernel's built struct module size at run time`);
  }
  if (facts.symtabCount === 0) reject('elf', 'no-symbols', 'ENOEXEC', 'the module has no symbol table', `${name}: module has no symbols (stripped?)`);
  if (errno) return verdict(input.file, name, reasons, taints, errno, signedBy);

  // 7-8. check_modstruct_version() and check_modinfo(): module_layout CRC, then vermagic
  const ignoreVersions = p.force;
  const versions = ignoreVersions ? undefined : facts.versions;
  const tryForce = (what: string, log: string): boolean => {
    if (p.forceLoad) {
      if (!taints.has('F')) note('modversions', 'forced', `${what}: forced load taints the kernel (F)`, log);
      taints.add('F');
      return true;
    }
    return false;
  };
  const checkVersion = (sym: string, crc: number | undefined, check: string): boolean => {
    if (!p.modversions || crc === undefined) return true;
    if (!versions) {
      if (tryForce(`no __versions for ${sym}`, `${name}: ${sym}: kernel tainted.`)) return true;
      reject(check, 'no-versions', 'ENOEXEC', `the module has no __versions and ${sym} needs a CRC (CONFIG_MODULE_FORCE_LOAD is off)`);
      return false;
    }
    const rec = versions.find((r) => r.name === sym);
    if (rec) {
      if (rec.crc === crc) return true;
      reject(check, 'crc-mismatch', check === 'symbols' ? 'EINVAL' : 'ENOEXEC', `${sym}: the module expects CRC 0x${rec.crc.toString(16).padStart(8, '0')}, the kernel has 0x${crc.toString(16).padStart(8, '0')}`, `${name}: disagrees about version of symbol ${sym}`);
      return false;
    }
    if (p.rejectMissingCrc) {
      reject(check, 'no-symbol-version', 'EINVAL', `${sym} has no CRC in __versions (Debian kernels reject this; upstream only warns)`, `${name}: no symbol version for ${sym}`);
      return false;
    }
    note(check, 'no-symbol-version', `${sym} has no CRC in __versions (accepted with a warning)`, `${name}: no symbol version for ${sym}`);
    return true;
  };
  const layout = target.exports?.get('module_layout');
  if (p.modversions && target.exports) {
    if (!layout) note('modversions', 'no-module-layout', 'the kernel exports no module_layout: nothing to compare');
    else checkVersion('module_layout', layout.crc, 'modversions');
  } else if (p.modversions) note('modversions', 'unknown', 'the kernel\'s exports are unknown (raw image): CRCs not checked');
  if (errno) return verdict(input.file, name, reasons, taints, errno, signedBy);

  const vermagic = first(facts.modinfo, 'vermagic');
  if (p.force || vermagic === undefined) {
    if (!tryForce('bad vermagic', `${name}: bad vermagic: kernel tainted.`)) reject('vermagic', 'no-vermagic', 'ENOEXEC', vermagic === undefined ? 'the module has no vermagic' : 'vermagic ignored by --force without CONFIG_MODULE_FORCE_LOAD');
  } else if (target.vermagic !== undefined) {
    const hasCrcs = Boolean(versions) && p.modversions;
    const a = hasCrcs ? vermagic.slice(vermagic.indexOf(' ')) : vermagic;
    const b = hasCrcs ? target.vermagic.slice(target.vermagic.indexOf(' ')) : target.vermagic;
    if (a !== b) reject('vermagic', 'vermagic', 'ENOEXEC', `vermagic '${vermagic}' does not match the kernel's '${target.vermagic}'${hasCrcs ? ' (release ignored: CRCs present)' : ''}`, `${name}: version magic '${vermagic}' should be '${target.vermagic}'`);
  } else note('vermagic', 'unknown', 'the kernel\'s vermagic string was not found in the image: not compared');
  if (errno) return verdict(input.file, name, reasons, taints, errno, signedBy);

  // 9/11. duplicate name
  if (loadedNames.has(name)) reject('modinfo', 'duplicate', 'EEXIST', `a module named ${name} is already loaded`);
  if (errno) return verdict(input.file, name, reasons, taints, errno, signedBy);

  // 10. STRICT_MODULE_RWX
  for (const s of facts.writeExecSections) reject('elf', 'write-exec', 'ENOEXEC', `section ${s.name} is both writable and executable`, `${name}: section ${s.name} (index ${s.index}) has invalid WRITE|EXEC flags`);
  if (errno) return verdict(input.file, name, reasons, taints, errno, signedBy);

  // 12. taints
  const license = first(facts.modinfo, 'license');
  const proprietary = license === undefined || !GPL_COMPATIBLE.has(license);
  if (proprietary) {
    taints.add('P');
    note('taint', 'proprietary', `license '${license ?? '(none)'}' is not GPL-compatible: taints P, GPL-only symbols are invisible`, license === undefined ? `${name}: module license 'unspecified' taints kernel.` : `${name}: module license '${license}' taints kernel.`);
  }
  if (first(facts.modinfo, 'intree') === undefined) {
    taints.add('O');
    note('taint', 'out-of-tree', 'no intree=Y: out-of-tree module (O)', `${name}: loading out-of-tree module taints kernel.`);
  }
  if (first(facts.modinfo, 'staging') !== undefined) {
    taints.add('C');
    note('taint', 'staging', 'staging driver (C)', `${name}: module is from the staging directory, the quality is unknown, you have been warned.`);
  }
  if (first(facts.modinfo, 'test') !== undefined) {
    taints.add('N');
    note('taint', 'test', 'test module (N)');
  }
  if (unsignedTaint) taints.add('E');

  // 15. exports without CRCs
  if (p.modversions && facts.exports.length > 0 && !facts.hasKcrctab && !p.force) {
    if (!tryForce('no versions for exported symbols', `${name}: no versions for exported symbols: kernel tainted.`)) reject('exports', 'no-export-crcs', 'ENOEXEC', 'the module exports symbols without CRCs');
  }
  if (errno) return verdict(input.file, name, reasons, taints, errno, signedBy);

  // 16. simplify_symbols(): every undefined symbol, all reported, last error returned
  const imports = new Set(facts.modinfo.filter((e) => e.key === 'import_ns').map((e) => e.value));
  let symErr: string | null = null;
  if (!target.exports) note('symbols', 'unknown', 'the kernel\'s exports are unknown (raw image): symbols not resolved');
  else {
    for (const c of facts.commonSymbols) {
      reasons.push({ check: 'symbols', code: 'common-symbol', message: `${c} is a common symbol`, fatal: false, log: `${name}: please compile with -fno-common` });
      symErr = 'ENOEXEC';
    }
    for (const u of facts.undefinedSymbols) {
      const ex = exportsNow.get(u.name);
      const visible = ex && !(ex.gpl && proprietary);
      if (!visible) {
        if (u.weak) continue;
        symErr = 'ENOENT';
        reasons.push({ check: 'symbols', code: 'unknown-symbol', message: ex ? `${u.name} is GPL-only and the module is not GPL-compatible` : `${u.name} is exported by neither the kernel nor an earlier module`, fatal: false, log: `${name}: Unknown symbol ${u.name} (err -2)` });
        continue;
      }
      const before = reasons.length;
      const prevErrno: string | null = errno;
      if (!checkVersion(u.name, ex.crc, 'symbols')) {
        // checkVersion recorded the failure as fatal; the symbol loop goes on and returns the last error
        errno = prevErrno;
        const r = reasons[before]!;
        reasons[before] = { ...r, fatal: false };
        reasons.push({ check: 'symbols', code: 'unknown-symbol', message: `${u.name} cannot be used (CRC)`, fatal: false, log: `${name}: Unknown symbol ${u.name} (err -22)` });
        symErr = 'EINVAL';
        continue;
      }
      if (ex.namespace && !imports.has(ex.namespace)) {
        const log = `${name}: module uses symbol (${u.name}) from namespace ${ex.namespace}, but does not import it.`;
        if (p.allowMissingNamespaceImports) note('symbols', 'namespace', `${u.name} is in namespace ${ex.namespace}, not imported (allowed)`, log);
        else {
          reasons.push({ check: 'symbols', code: 'namespace', message: `${u.name} is in namespace ${ex.namespace}, which the module does not import`, fatal: false, log });
          reasons.push({ check: 'symbols', code: 'unknown-symbol', message: `${u.name} cannot be used (namespace)`, fatal: false, log: `${name}: Unknown symbol ${u.name} (err -22)` });
          symErr = 'EINVAL';
        }
      }
    }
  }
  if (symErr) {
    errno = symErr;
    const last = reasons.map((r, i) => [r, i] as const).filter(([r]) => r.check === 'symbols' && r.code === 'unknown-symbol').pop();
    if (last) reasons[last[1]] = { ...last[0], fatal: true };
    return verdict(input.file, name, reasons, taints, errno, signedBy);
  }

  // 19. duplicate exports
  for (const ex of facts.exports) {
    const owner = exportsNow.get(ex.name);
    if (owner) reject('exports', 'duplicate-export', 'ENOEXEC', `${ex.name} is already exported by ${owner.owner}`, `${name}: exports duplicate symbol ${ex.name} (owned by ${owner.owner})`);
  }
  if (errno) return verdict(input.file, name, reasons, taints, errno, signedBy);

  // 20. BTF (module notifier)
  const btf = findElfBtf(elf);
  if (target.btf && p.btfModules && btf && btf.btf.length > 0) {
    const r = checkModuleBtf(btf.btf, target.btf, {
      kernel: target.series, allowMismatch: p.allowBtfMismatch, moduleName: name, littleEndian: elf.header.littleEndian, file: input.file, offset: btf.btfOffset,
      ...(btf.distilledBase ? { distilledBase: btf.distilledBase } : {}),
    });
    if (r.status === 'unsupported') note('btf', 'unsupported', `BTF not predicted: ${r.reason ?? 'distilled base'}`);
    else if (r.status === 'fail') {
      if (r.loads) note('btf', 'btf-mismatch', `BTF does not validate (${r.reason ?? r.errName}); loads without BTF (MODULE_ALLOW_BTF_MISMATCH)`, r.kernelLog.join('\n'));
      else reject('btf', 'btf-mismatch', r.errName ?? 'EINVAL', `BTF does not validate: ${r.reason ?? r.errName}${r.typeId ? ` (type [${r.typeId}])` : ''}`, r.kernelLog.join('\n'));
    }
  } else if (target.btf && p.btfModules && btf === undefined) note('btf', 'no-btf', 'the module has no .BTF');
  if (errno) return verdict(input.file, name, reasons, taints, errno, signedBy);

  // loaded: its exports become visible to later modules
  loadedNames.add(name);
  for (const ex of facts.exports) exportsNow.set(ex.name, { crc: ex.crc, gpl: ex.gpl, namespace: ex.namespace, owner: name });
  return verdict(input.file, name, reasons, taints, errno, signedBy);
}

function verdict(file: string, name: string, reasons: Reason[], taints: Set<string>, errno: string | null, signedBy: string | null): ModuleVerdict {
  const letters = [...TAINT_ORDER].filter((c) => taints.has(c)).join('');
  const outcome: Outcome = errno ? 'rejected' : letters ? 'loads-tainted' : 'loads';
  return { file, name, outcome, errno, taints: errno ? '' : letters, reasons, signedBy };
}

