/**
 * `check`: will these modules load into this kernel, and why not? The kernel's load-time
 * checks in the kernel's order (research/kernel-load-checks.md §6.2), first fatal one wins,
 * every finding reported. Modules are loaded in the order given, so a later module may use
 * an earlier one's exports (as with insmod).
 */
import type { ReasonCode } from './codes.js';
import { decompressModule } from '../compress/index.js';
import { isKmodsealError, KmodsealError, type ErrorCode } from '../bytes/errors.js';
import { checkModuleBtf, type ModuleBtfCheckResult } from '../btf/validate.js';
import { findElfBtf, type Btf } from '../btf/btf.js';
import type { ModinfoEntry } from '../modinfo/modinfo.js';
import type { Elf } from '../elf/elf.js';
import {
  moduleFacts,
  first,
  type ModuleExport,
  type ModuleFacts,
  type UndefinedSymbol,
  type VersionRecord,
} from './module-facts.js';
import { kernelSignatureVerdict, keyCert, type KeyCert, type SigResult } from './signature.js';
import { kernelElfValidity } from './elf-validity.js';
import { MODULE_FILE_MAX } from './limits.js';
import type { CheckTarget, ExportInfo, LoadPolicy } from './target.js';
import type { KernelPart, KernelWarning } from '../kernel/vmlinux.js';

/** Whether the kernel loads a module, loads it with a taint, or refuses it. */
export type Outcome = 'loads' | 'loads-tainted' | 'rejected';

/** One finding behind a verdict: the check, its consequence and the line the kernel logs. */
export interface Reason {
  /** Which check: signature, elf, modinfo, struct-module, modversions, vermagic, taint, exports, symbols, btf, input. */
  readonly check: string;
  /** A stable code, e.g. "unsigned", "untrusted-key", "crc-mismatch", "unknown-symbol". */
  readonly code: ReasonCode;
  /** Human explanation. */
  readonly message: string;
  /** The line the kernel logs for it, when it logs one. */
  readonly log?: string;
  /** True when this finding is what stops the load. */
  readonly fatal: boolean;
  /** Set on the note of a check that could not be made because this part of the kernel image is unreadable. */
  readonly unreadable?: { readonly part: KernelPart; readonly offset: number };
}

/**
 * The kernel's verdict on one module (see {@link checkModules}): loads, loads tainted, or rejected with
 * the errno, taints and log lines.
 */
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

/** One module for {@link checkModules}: its file name (for messages and the module name fallback) and its bytes (any compression). */
export interface CheckInput {
  readonly file: string;
  readonly data: Uint8Array;
}

/** Options of {@link checkModules}: extra trusted certificates and the load order. */
export interface CheckOptions {
  /** Certificates of the secondary/machine keyrings (MOK etc.). */
  readonly extraTrusted?: readonly Uint8Array[];
  /**
   * 'given' (insmod): load in the order given. 'dependencies' (depmod/modprobe): load every
   * module after the given modules that export what it needs. Results keep the given order.
   */
  readonly order?: 'given' | 'dependencies';
}

const GPL_COMPATIBLE = new Set([
  'GPL',
  'GPL v2',
  'GPL and additional rights',
  'Dual BSD/GPL',
  'Dual MIT/GPL',
  'Dual MPL/GPL',
]);
/** Taint letters in the order the kernel prints them (kernel/panic.c taint_flags). */
const TAINT_ORDER = 'PFSRMBUDAWCIOELKXTN';

/** Trusted certificates of the target, parsed once. */
export function trustedKeys(
  target:
    | Pick<CheckTarget, 'trusted'>
    | { readonly trusted: readonly { readonly der: string; readonly kernelName: string }[] },
  extra: readonly Uint8Array[] = [],
): KeyCert[] {
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
export async function checkModules(
  target: CheckTarget,
  inputs: readonly CheckInput[],
  options: CheckOptions = {},
): Promise<ModuleVerdict[]> {
  const keys = trustedKeys(target, options.extraTrusted);
  const front = frontTarget(target);
  // every module is read once; what its checks find on its own is kept, its bytes are not
  const fronts: ModuleFront[] = [];
  for (const input of inputs)
    fronts.push(checkFront(front, keys, input.file, await prepareModule(input.file, input.data)));
  return checkInOrder(target, fronts, options.order ?? 'given');
}

/**
 * The part of `check` that depends on the modules loaded before each one: in the load order
 * (given, or depmod's), each module's remaining checks against what is loaded so far.
 * Results keep the order of `fronts`.
 */
export function checkInOrder(
  target: CheckTarget,
  fronts: readonly ModuleFront[],
  order: 'given' | 'dependencies',
): ModuleVerdict[] {
  const loaded = new Map<string, ExportInfo>(target.exports ?? []);
  const boot = newBoot();
  const out: ModuleVerdict[] = new Array(fronts.length);
  const indexes = order === 'dependencies' ? dependencyOrder(fronts) : fronts.map((_, i) => i);
  for (const i of indexes) out[i] = checkBack(target, fronts[i]!, loaded, boot);
  return out;
}

/** A module decompressed and read (or why it could not be decompressed). */
export type Prepared =
  | { readonly data: Uint8Array; readonly facts: ModuleFacts }
  | { readonly error: KmodsealError }
  /** kernel_read_file() refuses the file before anything else looks at it (its size). */
  | { readonly unread: { readonly errno: 'EINVAL' | 'EFBIG'; readonly code: ReasonCode; readonly message: string } };

export { MODULE_FILE_MAX };

/** What kernel_read_file() says of a module file of this size, before reading it (fs/kernel_read_file.c). */
export function unreadableSize(size: number): Extract<Prepared, { unread: unknown }> | undefined {
  if (size === 0)
    return {
      unread: {
        errno: 'EINVAL',
        code: 'empty-file',
        message: 'the file is empty: kernel_read_file() refuses it (EINVAL) before any check',
      },
    };
  if (size > MODULE_FILE_MAX)
    return {
      unread: {
        errno: 'EFBIG',
        code: 'file-too-large',
        message: `${size} bytes: more than kernel_read_file() reads for a module (INT_MAX, ${MODULE_FILE_MAX})`,
      },
    };
  return undefined;
}

/** The name the kernel falls back to when a module names itself nowhere: its file name. */
function fileModname(file: string): string {
  return file
    .replace(/^.*\//, '')
    .replace(/\.ko(\.\w+)?$/, '')
    .replace(/-/g, '_');
}

/**
 * Decompresses and reads one module. `decompress` may return a buffer that the next call
 * reuses: the result is then valid only until the module's front checks are done.
 */
export async function prepareModule(
  file: string,
  raw: Uint8Array,
  decompress: (data: Uint8Array, file: string) => Promise<{ data: Uint8Array }> = decompressModule,
): Promise<Prepared> {
  const unread = unreadableSize(raw.length);
  if (unread) return unread;
  try {
    const data = (await decompress(raw, file)).data;
    return { data, facts: moduleFacts(data, file, fileModname(file)) };
  } catch (e) {
    if (!isKmodsealError(e)) throw e;
    return { error: e };
  }
}

/**
 * Indexes of `fronts` with every module after the modules that export the symbols it imports
 * (depmod's order); cycles and unreadable modules keep their place.
 */
function dependencyOrder(fronts: readonly ModuleFront[]): number[] {
  const provider = new Map<string, number>();
  const needs: string[][] = [];
  fronts.forEach((f, i) => {
    for (const e of f.exports) if (!provider.has(e.name)) provider.set(e.name, i);
    needs.push(f.undefinedSymbols.map((u) => u.name));
  });
  const state = new Uint8Array(fronts.length); // 0 new, 1 visiting, 2 done
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
  for (let i = 0; i < fronts.length; i++) visit(i);
  return order;
}

/** What of the target the per-module checks (signature to vermagic, and BTF) consult. */
export interface FrontTarget {
  readonly series: CheckTarget['series'];
  /** The kernel release: which 6.12 stable flow of the ELF checks applies. */
  readonly release: string | undefined;
  readonly policy: CheckTarget['policy'];
  readonly machine: number | undefined;
  readonly layout: CheckTarget['layout'];
  readonly structModuleSize: number | undefined;
  readonly vermagic: string | undefined;
  readonly btf: Btf | undefined;
  /** False for raw images (no export table). */
  readonly exportsKnown: boolean;
  readonly moduleLayout: ExportInfo | undefined;
  /** The kernel's own exports (what a module's imports mostly resolve to). */
  readonly kernelExports: ReadonlyMap<string, ExportInfo> | undefined;
  readonly unreadable: CheckTarget['unreadable'];
}

export function frontTarget(target: CheckTarget): FrontTarget {
  return {
    series: target.series,
    release: target.release,
    policy: target.policy,
    machine: target.machine,
    layout: target.layout,
    structModuleSize: target.structModuleSize,
    vermagic: target.vermagic,
    btf: target.btf,
    exportsKnown: target.exports !== undefined,
    moduleLayout: target.exports?.get('module_layout'),
    kernelExports: target.exports,
    unreadable: target.unreadable,
  };
}

/** Step 20 worked out ahead: BTF validation does not depend on other modules. */
export type BtfStep =
  | { readonly kind: 'skip' }
  | { readonly kind: 'no-btf' }
  | {
      readonly kind: 'checked';
      readonly status: ModuleBtfCheckResult['status'];
      readonly loads: boolean;
      readonly reason: string | undefined;
      readonly errName: string | undefined;
      readonly typeId: number | undefined;
      readonly kernelLog: readonly string[];
    }
  | {
      readonly kind: 'error';
      readonly code: string | undefined;
      readonly message: string;
      readonly stack: string | undefined;
    };

/**
 * One module's findings that do not depend on the modules loaded before it (steps 0-8 and,
 * ahead of time, 20). Plain data: it crosses threads.
 */
export interface ModuleFront {
  readonly file: string;
  readonly name: string;
  readonly reasons: Reason[];
  readonly taints: string[];
  readonly errno: string | null;
  readonly signedBy: string | null;
  readonly unsignedTaint: boolean;
  /** The module's exports and imports (the dependency order needs them even when it is rejected). */
  readonly exports: readonly ModuleExport[];
  readonly undefinedSymbols: readonly UndefinedSymbol[];
  /** What the later checks read, when steps 0-8 let the module through. */
  readonly rest?: {
    /** __versions, or undefined (none, or ignored by --force). */
    readonly versions: readonly VersionRecord[] | undefined;
    /** The .modinfo entries the later checks read (license, intree, staging, test, import_ns), in order. */
    readonly modinfo: readonly ModinfoEntry[];
    readonly writeExec: readonly { readonly name: string; readonly index: number }[];
    /** Both an SHF_ALLOC .ctors and an SHF_ALLOC .init_array (find_module_sections() refuses that). */
    readonly ctorsAndInitArray: boolean;
    readonly hasKcrctab: boolean;
    readonly commonSymbols: readonly string[];
    readonly btf: BtfStep;
    /**
     * Per undefined symbol, 1 when step 16 has nothing to say about it whatever loaded before:
     * the kernel itself exports it (an export of the kernel is never replaced: a module exporting
     * the same name is refused), visibly, with a matching CRC (or none needed), in no namespace
     * or an imported one.
     */
    readonly settled: Uint8Array | undefined;
  };
}

const LATER_MODINFO = new Set(['license', 'intree', 'staging', 'test', 'import_ns']);

/** Findings so far: the first rejection decides the errno. */
class Findings {
  readonly reasons: Reason[];
  readonly taints: Set<string>;
  errno: string | null;
  constructor(reasons: Reason[] = [], taints: Iterable<string> = [], errno: string | null = null) {
    this.reasons = reasons;
    this.taints = new Set(taints);
    this.errno = errno;
  }
  reject(check: string, code: ReasonCode, err: string, message: string, log?: string): void {
    const fatal = this.errno === null;
    if (fatal) this.errno = err;
    this.reasons.push({ check, code, message, fatal, ...(log !== undefined ? { log } : {}) });
  }
  note(check: string, code: ReasonCode, message: string, log?: string): void {
    this.reasons.push({ check, code, message, fatal: false, ...(log !== undefined ? { log } : {}) });
  }
}

const PART_NAMES: Record<KernelPart, string> = {
  config: 'embedded configuration',
  'build-id': 'build id',
  certificates: 'trusted certificates',
  btf: 'BTF',
  exports: 'exports',
};

/**
 * Notes that `check` could not be made as the kernel makes it, because the kernel image's `part`
 * is unreadable. @returns false (and notes nothing) when that part was read.
 */
function noteUnreadable(
  f: Findings,
  unreadable: readonly KernelWarning[],
  check: string,
  part: KernelPart,
  consequence: string,
): boolean {
  const w = unreadable.find((x) => x.part === part);
  if (!w) return false;
  const message = `the kernel's ${PART_NAMES[part]} could not be read (${w.message}, at 0x${w.offset.toString(16)}): ${consequence}`;
  f.reasons.push({ check, code: 'kernel-unreadable', message, fatal: false, unreadable: { part, offset: w.offset } });
  return true;
}

function tryForce(f: Findings, p: LoadPolicy, what: string, log: string): boolean {
  if (p.forceLoad) {
    if (!f.taints.has('F')) f.note('modversions', 'forced', `${what}: forced load taints the kernel (F)`, log);
    f.taints.add('F');
    return true;
  }
  return false;
}

/** A module's __versions record for a symbol (the first of that name, as the kernel's find_symbol loop takes). */
type VersionLookup = (sym: string) => VersionRecord | undefined;

function firstVersion(versions: readonly VersionRecord[]): VersionLookup {
  return (sym) => versions.find((r) => r.name === sym);
}

/** The same lookup through an index, for the many lookups of a module's imports. */
function indexedVersions(versions: readonly VersionRecord[]): VersionLookup {
  const index = new Map<string, VersionRecord>();
  for (const r of versions) if (!index.has(r.name)) index.set(r.name, r);
  return (sym) => index.get(sym);
}

/**
 * check_version(): the module's CRC for `sym` against the kernel's `crc`. A failure is fatal
 * (it decides the errno), except for `symbols`: simplify_symbols() reports every symbol and
 * returns the last error, so there the failure is recorded and its caller decides the errno.
 */
function checkVersion(
  f: Findings,
  p: LoadPolicy,
  name: string,
  versions: VersionLookup | undefined,
  sym: string,
  crc: number | undefined,
  check: 'modversions' | 'symbols',
): boolean {
  if (!p.modversions || crc === undefined) return true;
  const refuse = (code: ReasonCode, err: string, message: string, log?: string): void => {
    if (check === 'symbols') f.note(check, code, message, log);
    else f.reject(check, code, err, message, log);
  };
  if (!versions) {
    if (tryForce(f, p, `no __versions for ${sym}`, `${name}: ${sym}: kernel tainted.`)) return true;
    refuse(
      'no-versions',
      'ENOEXEC',
      `the module has no __versions and ${sym} needs a CRC (CONFIG_MODULE_FORCE_LOAD is off)`,
    );
    return false;
  }
  const rec = versions(sym);
  if (rec) {
    if (rec.crc === crc) return true;
    refuse(
      'crc-mismatch',
      'ENOEXEC',
      `${sym}: the module expects CRC 0x${rec.crc.toString(16).padStart(8, '0')}, the kernel has 0x${crc.toString(16).padStart(8, '0')}`,
      `${name}: disagrees about version of symbol ${sym}`,
    );
    return false;
  }
  if (p.rejectMissingCrc) {
    refuse(
      'no-symbol-version',
      'EINVAL',
      `${sym} has no CRC in __versions (Debian kernels reject this; upstream only warns)`,
      `${name}: no symbol version for ${sym}`,
    );
    return false;
  }
  f.note(
    check,
    'no-symbol-version',
    `${sym} has no CRC in __versions (accepted with a warning)`,
    `${name}: no symbol version for ${sym}`,
  );
  return true;
}

/**
 * Steps 0-8 of the kernel's checks for one module (they do not depend on other modules), and
 * step 20 (BTF) ahead of time when the module gets that far on its own. Keeps nothing of the
 * module's bytes.
 */
export function checkFront(
  target: FrontTarget,
  keys: readonly KeyCert[],
  file: string,
  prepared: Prepared,
): ModuleFront {
  const base = fileModname(file);
  const f = new Findings();
  let signer: SignatureFinding = { signedBy: null, unsignedTaint: false };
  const done = (name: string, facts?: ModuleFacts): ModuleFront => ({
    file,
    name,
    reasons: f.reasons,
    taints: [...f.taints],
    errno: f.errno,
    signedBy: signer.signedBy,
    unsignedTaint: signer.unsignedTaint,
    exports: facts?.exports ?? [],
    undefinedSymbols: facts?.undefinedSymbols ?? [],
  });

  // 0c. kernel_read_file(): an empty file, or one larger than INT_MAX
  if ('unread' in prepared) {
    f.reject('input', prepared.unread.code, prepared.unread.errno, prepared.unread.message);
    return done(base);
  }
  // 0d. decompression (the kernel's own, or userspace's: both give the same bytes for one stream)
  if ('error' in prepared) {
    f.reject('input', 'decompress', 'EINVAL', prepared.error.message);
    return done(base);
  }
  const data = prepared.data;
  noteUnreadable(f, target.unreadable, 'policy', 'config', 'the load policy is assumed (pass --config)');
  // 1. module_sig_check()
  if (target.policy.moduleSig) signer = checkSignature(f, target, keys, data, prepared.facts);
  if (f.errno) return done(prepared.facts.name, prepared.facts);
  // 2-5. the kernel's ELF checks
  const facts = checkElf(f, target, file, data, prepared.facts);
  const name = facts.name;
  if (f.errno || !facts.elf) return done(name, facts);
  // 7-8. check_modstruct_version() and check_modinfo(): module_layout CRC, then vermagic, then livepatch
  const versions = target.policy.force ? undefined : facts.versions;
  checkModuleLayout(f, target, name, versions);
  if (f.errno) return done(name, facts);
  checkVermagic(f, target, name, facts, versions);
  if (f.errno) return done(name, facts);
  checkLivepatch(f, target, name, facts);
  if (f.errno) return done(name, facts);
  // 20, ahead of time: BTF (module notifier). An error is kept and raised only if the module gets there.
  noteUnreadable(f, target.unreadable, 'btf', 'btf', "the module's BTF is not checked");
  const btf = moduleBtfStep(target, facts.elf, name, file);
  return {
    ...done(name, facts),
    rest: {
      settled: settledImports(target, facts, versions),
      versions,
      modinfo: facts.modinfo.filter((e) => LATER_MODINFO.has(e.key)),
      writeExec: facts.writeExecSections.map((s) => ({ name: s.name, index: s.index })),
      ctorsAndInitArray: facts.ctorsAndInitArray,
      hasKcrctab: facts.hasKcrctab,
      commonSymbols: facts.commonSymbols,
      btf,
    },
  };
}

/** What step 1 says of the module for later: who signed it, and whether it taints the kernel (E). */
interface SignatureFinding {
  readonly signedBy: string | null;
  readonly unsignedTaint: boolean;
}

const SOFT_SIGNATURE_RESULTS: Readonly<Record<string, readonly [ReasonCode, string]>> = {
  ENODATA: ['unsigned', 'Loading of unsigned module is rejected'],
  ENOPKG: ['unsupported-crypto', 'Loading of module with unsupported crypto is rejected'],
  ENOKEY: ['untrusted-key', 'Loading of module with unavailable key is rejected'],
};

/** 1. module_sig_check(): the signature's verdict, enforced, under lockdown, or tainting. */
function checkSignature(
  f: Findings,
  target: FrontTarget,
  keys: readonly KeyCert[],
  data: Uint8Array,
  facts: ModuleFacts,
): SignatureFinding {
  const p = target.policy;
  noteUnreadable(f, target.unreadable, 'signature', 'certificates', 'the signature is checked against no built-in key');
  const sig = kernelSignatureVerdict(data, facts.trailer, keys, { series: target.series, force: p.force });
  for (const l of sig.log) f.note('signature', 'log', l, l);
  const r: SigResult = sig.result;
  if (r === 'OK') {
    f.note('signature', 'trusted', sig.detail);
    return { signedBy: sig.trustedBy ?? null, unsignedTaint: false };
  }
  const soft = SOFT_SIGNATURE_RESULTS[r];
  if (!soft) {
    f.reject(
      'signature',
      r === 'EKEYREJECTED' ? 'bad-signature' : 'bad-message',
      r,
      `${sig.detail} (fatal even without enforcement)`,
    );
    return { signedBy: null, unsignedTaint: false };
  }
  const [code, msg] = soft;
  if (p.sigEnforce) f.reject('signature', code, 'EKEYREJECTED', `${sig.detail}; signatures are enforced`, msg);
  else if (p.lockdown)
    f.reject(
      'signature',
      code,
      'EPERM',
      `${sig.detail}; the kernel is locked down`,
      `Lockdown: insmod: unsigned module loading is restricted; see man kernel_lockdown.7`,
    );
  else {
    f.note(
      'signature',
      code,
      `${sig.detail}; not enforced: the module loads and taints the kernel (E)`,
      `${facts.name}: module verification failed: signature and/or required key missing - tainting kernel`,
    );
    return { signedBy: null, unsignedTaint: true };
  }
  return { signedBy: null, unsignedTaint: false };
}

/**
 * 2-5. The kernel's ELF checks (header, section table, names; .modinfo, symbol table,
 * this_module), in its order and with its lines; it reads the module with its own word size
 * and byte order, whatever e_ident says. @returns the module's facts as the kernel reads them
 * (read again when its layout is not the one of e_ident).
 */
function checkElf(f: Findings, target: FrontTarget, file: string, data: Uint8Array, facts: ModuleFacts): ModuleFacts {
  const p = target.policy;
  const kernelLayout = target.layout ?? {
    is64: facts.elf ? facts.elf.header.class === 64 : data[4] !== 1,
    littleEndian: facts.elf ? facts.elf.header.littleEndian : data[5] !== 2,
  };
  const checkedLength = p.moduleSig && !p.force ? facts.trailer.elfLength : data.length;
  noteUnreadable(f, target.unreadable, 'struct-module', 'btf', 'sizeof(struct module) unknown, not compared');
  const bad = kernelElfValidity(data, checkedLength, {
    series: target.series,
    machine: target.machine,
    is64: kernelLayout.is64,
    littleEndian: kernelLayout.littleEndian,
    structModuleSize: target.structModuleSize,
    release: target.release,
  });
  if (bad) {
    f.reject(bad.check, bad.code, 'ENOEXEC', bad.message, bad.log);
    return facts;
  }
  const asKernel =
    facts.elf &&
    (facts.elf.header.class === 64) === kernelLayout.is64 &&
    facts.elf.header.littleEndian === kernelLayout.littleEndian
      ? facts
      : moduleFacts(data, file, fileModname(file), {
          class: kernelLayout.is64 ? 64 : 32,
          littleEndian: kernelLayout.littleEndian,
        });
  // the kernel's checks passed but ours did not: nothing further can be worked out
  if (!asKernel.elf)
    f.reject('elf', 'invalid-elf', 'ENOEXEC', asKernel.elfError?.message ?? 'not an ELF relocatable object');
  return asKernel;
}

/** 7. check_modstruct_version(): module_layout's CRC. */
function checkModuleLayout(
  f: Findings,
  target: FrontTarget,
  name: string,
  versions: readonly VersionRecord[] | undefined,
): void {
  const p = target.policy;
  const layout = target.moduleLayout;
  if (p.modversions && target.exportsKnown) {
    if (!layout) f.note('modversions', 'no-module-layout', 'the kernel exports no module_layout: nothing to compare');
    else checkVersion(f, p, name, versions && firstVersion(versions), 'module_layout', layout.crc, 'modversions');
  } else if (p.modversions && !noteUnreadable(f, target.unreadable, 'modversions', 'exports', 'CRCs not checked')) {
    f.note('modversions', 'unknown', "the kernel's exports are unknown (raw image): CRCs not checked");
  }
}

/** 8. check_modinfo(): vermagic (its release ignored when the module has CRCs), or a forced load. */
function checkVermagic(
  f: Findings,
  target: FrontTarget,
  name: string,
  facts: ModuleFacts,
  versions: readonly VersionRecord[] | undefined,
): void {
  const p = target.policy;
  const vermagic = first(facts.modinfo, 'vermagic');
  if (p.force || vermagic === undefined) {
    if (!tryForce(f, p, 'bad vermagic', `${name}: bad vermagic: kernel tainted.`))
      f.reject(
        'vermagic',
        'no-vermagic',
        'ENOEXEC',
        vermagic === undefined
          ? 'the module has no vermagic'
          : 'vermagic ignored by --force without CONFIG_MODULE_FORCE_LOAD',
      );
  } else if (target.vermagic !== undefined) {
    const hasCrcs = Boolean(versions) && p.modversions;
    const a = hasCrcs ? vermagic.slice(vermagic.indexOf(' ')) : vermagic;
    const b = hasCrcs ? target.vermagic.slice(target.vermagic.indexOf(' ')) : target.vermagic;
    if (a !== b)
      f.reject(
        'vermagic',
        'vermagic',
        'ENOEXEC',
        `vermagic '${vermagic}' does not match the kernel's '${target.vermagic}'${hasCrcs ? ' (release ignored: CRCs present)' : ''}`,
        `${name}: version magic '${vermagic}' should be '${target.vermagic}'`,
      );
  } else f.note('vermagic', 'unknown', "the kernel's vermagic string was not found in the image: not compared");
}

/** 8. check_modinfo_livepatch(): any `livepatch` entry, whatever its value. */
function checkLivepatch(f: Findings, target: FrontTarget, name: string, facts: ModuleFacts): void {
  if (first(facts.modinfo, 'livepatch') === undefined) return;
  if (target.policy.livepatch) {
    f.taints.add('K');
    f.note(
      'taint',
      'livepatch',
      'a live patch: taints the kernel (K)',
      `${name}: tainting kernel with TAINT_LIVEPATCH`,
    );
  } else
    f.reject(
      'modinfo',
      'livepatch',
      'ENOEXEC',
      'marked as a live patch (modinfo livepatch), and this kernel is built without CONFIG_LIVEPATCH',
      `${name}: module is marked as livepatch module, but livepatch support is disabled`,
    );
}

/** 20, worked out ahead: the module's BTF validated against the kernel's (an error is kept, not thrown). */
function moduleBtfStep(target: FrontTarget, elf: Elf, name: string, file: string): BtfStep {
  const p = target.policy;
  try {
    const btf = findElfBtf(elf);
    if (target.btf && p.btfModules && btf && btf.btf.length > 0) {
      const r = checkModuleBtf(btf.btf, target.btf, {
        kernel: target.series,
        allowMismatch: p.allowBtfMismatch,
        moduleName: name,
        littleEndian: elf.header.littleEndian,
        file,
        offset: btf.btfOffset,
        ...(btf.distilledBase ? { distilledBase: btf.distilledBase } : {}),
      });
      return {
        kind: 'checked',
        status: r.status,
        loads: r.loads,
        reason: r.reason,
        errName: r.errName,
        typeId: r.typeId,
        kernelLog: r.kernelLog,
      };
    }
    if (target.btf && p.btfModules && btf === undefined) return { kind: 'no-btf' };
    return { kind: 'skip' };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return { kind: 'error', code: isKmodsealError(e) ? e.code : undefined, message: err.message, stack: err.stack };
  }
}

/** {@link ModuleFront} rest.settled: the imports step 16 passes silently, known from the kernel's exports alone. */
function settledImports(
  target: FrontTarget,
  facts: ModuleFacts,
  versions: readonly VersionRecord[] | undefined,
): Uint8Array | undefined {
  const kernel = target.kernelExports;
  if (!kernel) return undefined;
  const p = target.policy;
  const license = first(facts.modinfo, 'license');
  const proprietary = license === undefined || !GPL_COMPATIBLE.has(license);
  const imports = new Set(facts.modinfo.filter((e) => e.key === 'import_ns').map((e) => e.value));
  const crcOf = versions && indexedVersions(versions);
  const out = new Uint8Array(facts.undefinedSymbols.length);
  facts.undefinedSymbols.forEach((u, k) => {
    const ex = kernel.get(u.name);
    if (!ex || (ex.gpl && proprietary)) return;
    // checkVersion() returns true without a finding
    const crcOk = !p.modversions || ex.crc === undefined || (crcOf !== undefined && crcOf(u.name)?.crc === ex.crc);
    if (crcOk && (!ex.namespace || imports.has(ex.namespace))) out[k] = 1;
  });
  return out;
}

/** Steps 9-20 for one module, given what is loaded before it; a loaded module's exports become visible. */
export function checkBack(
  target: CheckTarget,
  front: ModuleFront,
  exportsNow: Map<string, ExportInfo>,
  boot: BootState,
): ModuleVerdict {
  const f = new Findings(front.reasons.slice(), front.taints, front.errno);
  const { name, file, signedBy, rest } = front;
  const result = (): ModuleVerdict => verdict(file, name, f.reasons, f.taints, f.errno, signedBy);
  // The unsigned-module and live-patch lines are printed where the taints are applied (step 12):
  // a module refused before that never prints them.
  const early = (): ModuleVerdict =>
    verdict(
      file,
      name,
      f.reasons.map((r) => (LATE_LINE.has(r.code) && !r.fatal && r.log ? withoutLog(r) : r)),
      f.taints,
      f.errno,
      signedBy,
    );
  if (f.errno || !rest) return early();
  const p = target.policy;
  // 9/11. duplicate name
  if (boot.loadedNames.has(name))
    f.reject('modinfo', 'duplicate', 'EEXIST', `a module named ${name} is already loaded`);
  if (f.errno) return early();
  checkWriteExec(f, name, rest);
  if (f.errno) return early();
  const proprietary = applyTaints(f, target.series, front, rest, boot);
  // 14. find_module_sections(): with CONFIG_CONSTRUCTORS, one constructor table
  if (p.constructors && rest.ctorsAndInitArray)
    f.reject(
      'elf',
      'ctors-and-init-array',
      'EINVAL',
      'the module has both .ctors and .init_array',
      `${name}: has both .ctors and .init_array.`,
    );
  if (f.errno) return result();
  // 15. exports without CRCs
  if (p.modversions && front.exports.length > 0 && !rest.hasKcrctab && !p.force) {
    if (
      !tryForce(f, p, 'no versions for exported symbols', `${name}: no versions for exported symbols: kernel tainted.`)
    )
      f.reject('exports', 'no-export-crcs', 'ENOEXEC', 'the module exports symbols without CRCs');
  }
  if (f.errno) return result();
  resolveSymbols(f, target, front, rest, exportsNow, proprietary);
  if (f.errno) return result();
  checkDuplicateExports(f, name, front.exports, exportsNow);
  if (f.errno) return result();
  applyBtf(f, rest.btf, boot);
  if (f.errno) return result();
  // loaded: its exports become visible to later modules
  boot.loadedNames.add(name);
  for (const ex of front.exports)
    exportsNow.set(ex.name, { crc: ex.crc, gpl: ex.gpl, namespace: ex.namespace, owner: name });
  return result();
}

type FrontRest = NonNullable<ModuleFront['rest']>;

/** 10. STRICT_MODULE_RWX: sections both writable and executable. */
function checkWriteExec(f: Findings, name: string, rest: FrontRest): void {
  for (const s of rest.writeExec)
    f.reject(
      'elf',
      'write-exec',
      'ENOEXEC',
      `section ${s.name} is both writable and executable`,
      `${name}: section ${s.name} (index ${s.index}) has invalid WRITE|EXEC flags`,
    );
}

/**
 * 12. The module's taints (P, O, C, N, E) and their lines: a taint's line when that taint is new
 * to the boot, the once-lines once a boot (modules checked together are loaded into one fresh
 * boot). @returns whether the license is proprietary (GPL-only symbols are then invisible).
 */
function applyTaints(
  f: Findings,
  series: CheckTarget['series'],
  front: ModuleFront,
  rest: FrontRest,
  boot: BootState,
): boolean {
  const { name } = front;
  const license = first(rest.modinfo, 'license');
  const proprietary = license === undefined || !GPL_COMPATIBLE.has(license);
  const firstTaint = (t: string): boolean => {
    const fresh = !boot.taints.has(t);
    boot.taints.add(t);
    return fresh;
  };
  if (proprietary) {
    f.taints.add('P');
    const fresh = firstTaint('P');
    f.note(
      'taint',
      'proprietary',
      `license '${license ?? '(none)'}' is not GPL-compatible: taints P, GPL-only symbols are invisible`,
      fresh ? `${name}: module license '${license ?? 'unspecified'}' taints kernel.` : undefined,
    );
    // 6.12 checks the taint again once the module's taints are applied
    if (fresh && series === '6.12')
      f.note('taint', 'proprietary-summary', 'the kernel is newly tainted P', `${name}: module license taints kernel.`);
  }
  if (first(rest.modinfo, 'intree') === undefined) {
    f.taints.add('O');
    f.note(
      'taint',
      'out-of-tree',
      'no intree=Y: out-of-tree module (O)',
      firstTaint('O') ? `${name}: loading out-of-tree module taints kernel.` : undefined,
    );
  }
  if (first(rest.modinfo, 'staging') !== undefined) {
    f.taints.add('C');
    f.note(
      'taint',
      'staging',
      'staging driver (C)',
      `${name}: module is from the staging directory, the quality is unknown, you have been warned.`,
    );
  }
  if (first(rest.modinfo, 'test') !== undefined) {
    f.taints.add('N');
    f.note(
      'taint',
      'test',
      'test module (N)',
      firstTaint('N') ? `${name}: loading test module taints kernel.` : undefined,
    );
  }
  if (front.unsignedTaint) f.taints.add('E');
  // pr_notice_once(): the unsigned-module and live-patch lines, the first time in a boot
  for (const [i, r] of f.reasons.entries()) {
    if (!LATE_LINE.has(r.code) || r.fatal || !r.log) continue;
    if (boot.once.has(r.code === 'livepatch' ? 'K' : 'E')) f.reasons[i] = withoutLog(r);
    else boot.once.add(r.code === 'livepatch' ? 'K' : 'E');
  }
  return proprietary;
}

/**
 * 16. simplify_symbols(): every undefined symbol against the kernel's exports and those of the
 * modules loaded so far (GPL visibility, CRCs, namespaces), all reported; the last error is
 * the errno, and its reason the fatal one.
 */
function resolveSymbols(
  f: Findings,
  target: CheckTarget,
  front: ModuleFront,
  rest: FrontRest,
  exportsNow: ReadonlyMap<string, ExportInfo>,
  proprietary: boolean,
): void {
  const p = target.policy;
  const { name } = front;
  const reasons = f.reasons;
  if (!target.exports) {
    if (!noteUnreadable(f, target.unreadable, 'symbols', 'exports', 'symbols not resolved')) {
      f.note('symbols', 'unknown', "the kernel's exports are unknown (raw image): symbols not resolved");
    }
    return;
  }
  const versions = rest.versions && indexedVersions(rest.versions);
  const imports = new Set(rest.modinfo.filter((e) => e.key === 'import_ns').map((e) => e.value));
  const unknown = (sym: string, message: string, err: number): void => {
    reasons.push({
      check: 'symbols',
      code: 'unknown-symbol',
      message,
      fatal: false,
      log: `${name}: Unknown symbol ${sym} (err -${err})`,
    });
  };
  let symErr: string | null = null;
  for (const c of rest.commonSymbols) {
    reasons.push({
      check: 'symbols',
      code: 'common-symbol',
      message: `${c} is a common symbol`,
      fatal: false,
      log: `${name}: please compile with -fno-common`,
    });
    symErr = 'ENOEXEC';
  }
  const settled = rest.settled;
  for (const [k, u] of front.undefinedSymbols.entries()) {
    if (settled?.[k]) continue;
    const ex = exportsNow.get(u.name);
    const visible = ex && !(ex.gpl && proprietary);
    if (!visible) {
      if (u.weak) continue;
      symErr = 'ENOENT';
      const message = ex
        ? `${u.name} is GPL-only and the module is not GPL-compatible`
        : `${u.name} is exported by neither the kernel nor an earlier module`;
      unknown(u.name, message, 2);
      continue;
    }
    // a CRC failure is recorded, not fatal: the loop goes on and returns the last error
    if (!checkVersion(f, p, name, versions, u.name, ex.crc, 'symbols')) {
      unknown(u.name, `${u.name} cannot be used (CRC)`, 22);
      symErr = 'EINVAL';
      continue;
    }
    if (ex.namespace && !imports.has(ex.namespace)) {
      const log = `${name}: module uses symbol (${u.name}) from namespace ${ex.namespace}, but does not import it.`;
      if (p.allowMissingNamespaceImports)
        f.note('symbols', 'namespace', `${u.name} is in namespace ${ex.namespace}, not imported (allowed)`, log);
      else {
        reasons.push({
          check: 'symbols',
          code: 'namespace',
          message: `${u.name} is in namespace ${ex.namespace}, which the module does not import`,
          fatal: false,
          log,
        });
        unknown(u.name, `${u.name} cannot be used (namespace)`, 22);
        symErr = 'EINVAL';
      }
    }
  }
  if (!symErr) return;
  f.errno = symErr;
  const last = reasons
    .map((r, i) => [r, i] as const)
    .filter(([r]) => r.check === 'symbols' && r.code === 'unknown-symbol')
    .pop();
  if (last) reasons[last[1]] = { ...last[0], fatal: true };
}

/**
 * 19. verify_exported_symbols(): __ksymtab then __ksymtab_gpl, the first duplicate refused
 * (module_name() of the kernel itself is "kernel").
 */
function checkDuplicateExports(
  f: Findings,
  name: string,
  exports: readonly ModuleExport[],
  exportsNow: ReadonlyMap<string, ExportInfo>,
): void {
  for (const ex of exports) {
    const owner = exportsNow.get(ex.name);
    if (!owner) continue;
    const by = owner.owner === 'vmlinux' ? 'kernel' : owner.owner;
    f.reject(
      'exports',
      'duplicate-export',
      'ENOEXEC',
      `${ex.name} is already exported by ${by === 'kernel' ? 'the kernel' : by}`,
      `${name}: exports duplicate symbol ${ex.name} (owned by ${by})`,
    );
    break;
  }
}

/** 20. BTF (module notifier), worked out by checkFront: an error kept then is raised now. */
function applyBtf(f: Findings, b: BtfStep, boot: BootState): void {
  if (b.kind === 'error') {
    if (b.code !== undefined) throw new KmodsealError(b.code as ErrorCode, b.message);
    const e = new Error(b.message);
    if (b.stack !== undefined) e.stack = b.stack;
    throw e;
  }
  if (b.kind === 'checked') {
    if (b.status === 'unsupported') f.note('btf', 'unsupported', `BTF not predicted: ${b.reason ?? 'distilled base'}`);
    else if (b.status === 'fail') {
      if (b.loads) {
        // pr_warn_once(): the mismatch line, the first time in a boot
        const lines = b.kernelLog.filter((l) => l !== BTF_MISMATCH_LINE || !boot.once.has('btf'));
        if (b.kernelLog.includes(BTF_MISMATCH_LINE)) boot.once.add('btf');
        f.note(
          'btf',
          'btf-mismatch',
          `BTF does not validate (${b.reason ?? b.errName}); loads without BTF (MODULE_ALLOW_BTF_MISMATCH)`,
          lines.length ? lines.join('\n') : undefined,
        );
      } else
        f.reject(
          'btf',
          'btf-mismatch',
          b.errName ?? 'EINVAL',
          `BTF does not validate: ${b.reason ?? b.errName}${b.typeId ? ` (type [${b.typeId}])` : ''}`,
          b.kernelLog.join('\n'),
        );
    }
  } else if (b.kind === 'no-btf') f.note('btf', 'no-btf', 'the module has no .BTF');
}

/** What one boot remembers from module to module: names loaded, taints set, once-lines printed. */
export interface BootState {
  readonly loadedNames: Set<string>;
  readonly taints: Set<string>;
  readonly once: Set<string>;
}

export function newBoot(): BootState {
  return { loadedNames: new Set(), taints: new Set(), once: new Set() };
}

const BTF_MISMATCH_LINE = 'Kernel module BTF mismatch detected, BTF debug info may be unavailable for some modules';

/** Notes whose kernel line is printed (once a boot) where the taints are applied. */
const LATE_LINE = new Set(['unsigned', 'untrusted-key', 'unsupported-crypto', 'livepatch']);

function withoutLog(r: Reason): Reason {
  const { log: _log, ...rest } = r;
  return rest;
}

function verdict(
  file: string,
  name: string,
  reasons: Reason[],
  taints: Set<string>,
  errno: string | null,
  signedBy: string | null,
): ModuleVerdict {
  const letters = [...TAINT_ORDER].filter((c) => taints.has(c)).join('');
  const outcome: Outcome = errno ? 'rejected' : letters ? 'loads-tainted' : 'loads';
  return { file, name, outcome, errno, taints: errno ? '' : letters, reasons, signedBy };
}
