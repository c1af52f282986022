/**
 * The facts about a target kernel that its module loader consults, gathered once:
 * vermagic, exported symbols with CRCs and namespaces, sizeof(struct module), trusted
 * certificates, BTF and the configuration's policy.
 */
import { KmodsealError } from '../bytes/errors.js';
import { parseBtf, type Btf } from '../btf/btf.js';
import { kernelSeries, type KernelSeries } from '../kernel/series.js';
import type { KernelSource } from '../kernel/source.js';
import type { ExportedSymbol } from '../kernel/ksymtab.js';
import type { KernelCertificate } from '../kernel/certs.js';
import type { KernelWarning } from '../kernel/vmlinux.js';
import { findBanner } from '../kernel/banner.js';

/** The switches that decide whether a module loads: signature enforcement, lockdown, modversions, BTF mismatch handling. */
export interface LoadPolicy {
  /** CONFIG_MODULE_SIG: signatures are looked at at all. */
  readonly moduleSig: boolean;
  /** CONFIG_MODULE_SIG_FORCE or module.sig_enforce=1. */
  readonly sigEnforce: boolean;
  /** Lockdown at integrity level or above (lockdown=, or Debian's Secure Boot lockdown). */
  readonly lockdown: boolean;
  readonly modversions: boolean;
  readonly allowBtfMismatch: boolean;
  /** CONFIG_MODULE_FORCE_LOAD: a forced load taints F instead of failing. */
  readonly forceLoad: boolean;
  /** CONFIG_MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS. */
  readonly allowMissingNamespaceImports: boolean;
  /** CONFIG_DEBUG_INFO_BTF_MODULES: module BTF is parsed at load. */
  readonly btfModules: boolean;
  /**
   * Debian's kernels reject an import whose CRC is missing from `__versions` (upstream only
   * warns once): observed on Debian 6.12.111.
   */
  readonly rejectMissingCrc: boolean;
  /** `modprobe --force`: MODULE_INIT_IGNORE_MODVERSIONS | MODULE_INIT_IGNORE_VERMAGIC. */
  readonly force: boolean;
  /** CONFIG_LIVEPATCH: a module marked `livepatch` loads (taint K); without it, it is refused. */
  readonly livepatch: boolean;
  /**
   * CONFIG_CONSTRUCTORS (selected only by GCOV_KERNEL and KASAN_GENERIC, so off in Debian's
   * kernels and the test kernel): a module with both .ctors and .init_array is refused.
   */
  readonly constructors: boolean;
}

/** A symbol visible to modules: its CRC, GPL-only flag, namespace and owner. */
export interface ExportInfo {
  readonly crc: number | undefined;
  readonly gpl: boolean;
  readonly namespace: string;
  /** "vmlinux" or the exporting module's name. */
  readonly owner: string;
}

/** A kernel as the module checks see it (from {@link buildTarget}): release, vermagic, exports, trusted keys, BTF and load policy. */
export interface CheckTarget {
  readonly description: string;
  readonly release: string | undefined;
  readonly series: KernelSeries;
  /** The kernel's own vermagic string (VERMAGIC_STRING), trailing space included. */
  readonly vermagic: string | undefined;
  /** ELF e_machine of the kernel (modules must match). */
  readonly machine: number | undefined;
  /** The kernel's word size and byte order, with which it reads every module (undefined for a raw image). */
  readonly layout: { readonly is64: boolean; readonly littleEndian: boolean } | undefined;
  readonly exports: ReadonlyMap<string, ExportInfo> | undefined;
  /** sizeof(struct module), from the kernel's BTF. */
  readonly structModuleSize: number | undefined;
  readonly trusted: readonly KernelCertificate[];
  readonly btf: Btf | undefined;
  readonly policy: LoadPolicy;
  readonly debian: boolean;
  /** Parts of the kernel image that could not be read and are missing above (a config file replaces the embedded one). */
  readonly unreadable: readonly KernelWarning[];
}

/** Boot-time settings for {@link buildTarget} that override what the kernel configuration implies. */
export interface PolicyOverrides {
  sigEnforce?: boolean | undefined;
  lockdown?: boolean | undefined;
  allowBtfMismatch?: boolean | undefined;
  force?: boolean | undefined;
}

/** The kernel's VERMAGIC_STRING: the NUL-terminated string in the image that starts with the release and a space. */
export function findVermagic(kernel: Uint8Array, release: string): string | undefined {
  const needle = Buffer.from(`\0${release} `, 'latin1');
  const hay = Buffer.from(kernel.buffer, kernel.byteOffset, kernel.byteLength);
  for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + 1)) {
    const start = at + 1;
    const end = hay.indexOf(0, start);
    if (end < 0 || end - start > 256) continue;
    const s = hay.toString('latin1', start, end);
    if (/ mod_unload | modversions /.test(s + ' ') || / (SMP|preempt|mod_unload|modversions) ?/.test(s)) return s;
  }
  return undefined;
}

/** sizeof(struct module) from BTF: the size of the STRUCT named "module". */
export function structModuleSize(btf: Btf): number | undefined {
  for (const id of btf.ownIds()) {
    if (btf.kind(id) !== 4) continue;
    const t = btf.type(id);
    if (t.kind === 4 && t.name === 'module') return t.size;
  }
  return undefined;
}

/**
 * The load policy and facts of a kernel that {@link checkModules} checks modules against.
 * @param src - a kernel from {@link loadKernelSource} (an image is needed)
 * @param overrides - boot-time policy (sig_enforce, lockdown, ...) that the configuration does not fix
 * @throws KmodsealError E_USAGE when the source has no kernel image
 */
export function buildTarget(src: KernelSource, overrides: PolicyOverrides = {}): CheckTarget {
  const k = src.inspection;
  if (!k) throw new KmodsealError('E_USAGE', `${src.description}: a kernel image is needed to check modules against`);
  const values = src.config?.values;
  const on = (name: string, dflt: boolean): boolean => (values ? values.get(name) === 'y' : dflt);
  const banner = k.banner ?? (k.isElf ? undefined : findBanner(k.kernel)?.banner);
  const debian = /Debian|deb\d+/.test(banner ?? '') || /\+deb\d+/.test(k.release ?? '');
  const btf = k.btf ? parseBtf(k.btf, { file: src.description }) : undefined;
  const exports = k.exports
    ? new Map<string, ExportInfo>(
        k.exports.map((e: ExportedSymbol) => [
          e.name,
          { crc: e.crc, gpl: e.gpl, namespace: e.namespace, owner: 'vmlinux' },
        ]),
      )
    : undefined;
  return {
    description: src.description,
    release: k.release,
    series: kernelSeries(k.release),
    vermagic: k.release ? findVermagic(k.kernel, k.release) : undefined,
    machine: k.elf?.machine,
    layout: k.elf ? { is64: k.elf.class === 64, littleEndian: k.elf.littleEndian } : undefined,
    exports,
    structModuleSize: btf ? structModuleSize(btf) : undefined,
    trusted: k.certificates?.certificates ?? [],
    btf,
    debian,
    unreadable: k.warnings.filter((w) => w.part !== 'config' || !src.config),
    policy: {
      moduleSig: on('CONFIG_MODULE_SIG', true),
      sigEnforce: overrides.sigEnforce ?? on('CONFIG_MODULE_SIG_FORCE', false),
      lockdown: overrides.lockdown ?? false,
      modversions: on('CONFIG_MODVERSIONS', Boolean(k.exports?.some((e) => e.crc !== undefined))),
      allowBtfMismatch: overrides.allowBtfMismatch ?? on('CONFIG_MODULE_ALLOW_BTF_MISMATCH', false),
      forceLoad: on('CONFIG_MODULE_FORCE_LOAD', false),
      allowMissingNamespaceImports: on('CONFIG_MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS', false),
      btfModules: on('CONFIG_DEBUG_INFO_BTF_MODULES', Boolean(btf)),
      rejectMissingCrc: debian,
      livepatch: on('CONFIG_LIVEPATCH', false),
      constructors: on('CONFIG_CONSTRUCTORS', false),
      force: overrides.force ?? false,
    },
  };
}
