/** `kmodseal kernel`: the readable summary and the JSON object, both from one KernelSource. */
import type { KernelSource } from '../kernel/source.js';
import type { KernelConfig } from '../kernel/config.js';
import { formatSymvers } from '../kernel/ksymtab.js';
import type { KernelPart, KernelWarning } from '../kernel/vmlinux.js';
import { count } from './counts.js';
import { parseBtf } from '../btf/btf.js';

export interface KernelJson {
  readonly source: string;
  readonly release: string | null;
  readonly banner: string | null;
  readonly buildId: string | null;
  /** Payload compression of the boot image (null for a plain vmlinux). */
  readonly compression: string | null;
  readonly image: {
    kind: string;
    pe: boolean;
    payloadOffset: number;
    payloadLength: number;
    fileSize: number;
    kernelSize: number;
    elf: boolean;
  } | null;
  readonly certificates: readonly {
    subject: string;
    issuer: string;
    serial: string;
    subjectKeyId: string | null;
    sha256: string;
    der: string;
    offset: number;
    kernelName: string;
  }[];
  readonly certificateList: {
    method: string;
    offset: number;
    listSize: number;
    unparsed: number;
    extra: { offset: number; size: number; used: number } | null;
  } | null;
  readonly btf: { size: number; types: number } | null;
  readonly config: ({ source: string } & Record<string, boolean | string>) | null;
  readonly exports: { count: number; gpl: number; withCrc: number; layout: string | null } | null;
  readonly builtinKeys?: readonly string[];
  /** Secure Boot (Authenticode) signatures of a PE/EFI image and its .sbat; null when not PE. */
  readonly secureBoot: {
    readonly signatures: readonly {
      signers: readonly { subject: string | null; issuer: string; serial: string }[];
      certificates: readonly string[];
      digestAlgorithm: string;
      signedDigest: string;
      imageDigest: string;
      digestMatches: boolean;
    }[];
    readonly sbat: string | null;
  } | null;
  /** A unified kernel image: its sections, command line, release and initramfs (the kernel above is its `.linux`). */
  readonly uki?: {
    readonly file: string;
    readonly cmdline: string | null;
    readonly uname: string | null;
    readonly sections: readonly { name: string; offset: number; size: number; sha256: string }[];
    readonly initrd: InitrdSummary | null;
  };
  /** The parts of the image that could not be read (their fields are null); absent when every part was read. */
  readonly warnings?: readonly KernelWarning[];
}

function btfSummary(btf: Uint8Array | undefined, file: string): { size: number; types: number } | null {
  if (!btf) return null;
  return { size: btf.length, types: parseBtf(btf, { file }).ownCount };
}

function configSummary(config: KernelConfig | undefined, source: string | undefined): KernelJson['config'] {
  if (!config) return null;
  const p = config.policy;
  return {
    source: source ?? 'unknown',
    MODULE_SIG: p.moduleSig,
    MODULE_SIG_FORCE: p.moduleSigForce,
    MODVERSIONS: p.modversions,
    MODULE_ALLOW_BTF_MISMATCH: p.moduleAllowBtfMismatch,
    SECURITY_LOCKDOWN_LSM: p.securityLockdownLsm,
    MODULE_COMPRESS: p.moduleCompress,
    MODULE_DECOMPRESS: p.moduleDecompress,
  };
}

/** What a UKI's `.initrd` holds: its size, its archives and the kernel modules in it. */
export interface InitrdSummary {
  readonly size: number;
  readonly archives: readonly { compression: string; entries: number }[];
  readonly modules: readonly { path: string; release: string }[];
}

export function kernelToJson(src: KernelSource, initrd?: InitrdSummary): KernelJson {
  const k = src.inspection;
  if (!k && src.symvers) {
    const e = src.symvers.exports;
    return {
      source: src.description,
      release: src.symvers.release ?? null,
      banner: null,
      buildId: null,
      compression: null,
      image: null,
      certificates: [],
      certificateList: null,
      btf: null,
      config: configSummary(src.config, src.configSource),
      exports: { count: e.length, gpl: e.filter((x) => x.gpl).length, withCrc: e.length, layout: null },
      secureBoot: null,
    };
  }
  if (!k) {
    const r = src.running!;
    return {
      source: src.description,
      release: r.release,
      banner: r.banner ?? null,
      buildId: r.buildId ?? null,
      compression: null,
      image: null,
      certificates: [],
      certificateList: null,
      btf: btfSummary(r.btf, '/sys/kernel/btf/vmlinux'),
      config: configSummary(src.config, src.configSource),
      exports: null,
      builtinKeys: r.builtinKeys,
      secureBoot: null,
    };
  }
  const list = k.certificates;
  return {
    source: src.description,
    release: k.release ?? null,
    banner: k.banner ?? null,
    buildId: k.buildId ?? null,
    compression: k.image.compression ?? null,
    image: {
      kind: k.image.kind,
      pe: k.image.pe,
      payloadOffset: k.image.payloadOffset,
      payloadLength: k.image.payloadLength,
      fileSize: k.image.fileSize,
      kernelSize: k.image.kernelSize,
      elf: k.isElf,
    },
    certificates: (list?.certificates ?? []).map((c) => ({
      subject: c.subject,
      issuer: c.issuer,
      serial: c.serial,
      subjectKeyId: c.subjectKeyId ?? null,
      sha256: c.sha256,
      der: c.der,
      offset: c.offset,
      kernelName: c.kernelName,
    })),
    certificateList: list
      ? {
          method: list.method,
          offset: list.offset,
          listSize: list.listSize,
          unparsed: list.unparsed.length,
          extra: list.extra ? { offset: list.extra.offset, size: list.extra.size, used: list.extra.used } : null,
        }
      : null,
    btf: btfSummary(k.btf, src.description),
    config: configSummary(src.config, src.configSource),
    exports: k.exports
      ? {
          count: k.exports.length,
          gpl: k.exports.filter((e) => e.gpl).length,
          withCrc: k.exports.filter((e) => e.crc !== undefined).length,
          layout: k.ksymtabLayout ?? null,
        }
      : null,
    secureBoot: src.pe
      ? {
          signatures: src.pe.signatures.map((s) => ({
            signers: s.signers.map((x) => ({ subject: x.subject ?? null, issuer: x.issuer, serial: x.serial })),
            certificates: s.certificates,
            digestAlgorithm: s.digestAlgorithm,
            signedDigest: s.signedDigest,
            imageDigest: s.imageDigest,
            digestMatches: s.digestMatches,
          })),
          sbat: src.pe.sbat ?? null,
        }
      : null,
    ...(src.uki
      ? {
          uki: {
            file: src.uki.file,
            cmdline: src.uki.cmdline ?? null,
            uname: src.uki.uname ?? null,
            sections: src.uki.sections.map(({ name, offset, size, sha256 }) => ({ name, offset, size, sha256 })),
            initrd: initrd ?? null,
          },
        }
      : {}),
    ...(k.warnings.length
      ? { warnings: k.warnings.map(({ part, offset, message, code }) => ({ part, offset, message, code })) }
      : {}),
  };
}

/** "exports unreadable at 0x… of the decompressed kernel: …" (the offset is in what --extract-vmlinux writes). */
export function formatKernelWarning(w: KernelWarning, compressed: boolean): string {
  return `${w.part} unreadable at 0x${w.offset.toString(16)}${compressed ? ' of the decompressed kernel' : ''}: ${w.message} (${w.code})`;
}

const POLICY_KEYS = [
  'MODULE_SIG',
  'MODULE_SIG_FORCE',
  'MODVERSIONS',
  'MODULE_ALLOW_BTF_MISMATCH',
  'SECURITY_LOCKDOWN_LSM',
  'MODULE_COMPRESS',
  'MODULE_DECOMPRESS',
];
const yn = (b: boolean | string): string => (typeof b === 'string' ? b : b ? 'y' : 'n');

export function renderKernel(j: KernelJson): string {
  const lines: string[] = [];
  const row = (k: string, v: string): void => void lines.push(`${(k + ':').padEnd(14)}${v}`);
  const unreadable = (part: KernelPart): string | undefined => {
    const w = j.warnings?.find((x) => x.part === part);
    return w && `(${formatKernelWarning(w, j.compression !== null)})`;
  };
  row('kernel', j.source);
  row('release', j.release ?? '(not found)');
  row('banner', j.banner ?? '(not found)');
  row('build id', j.buildId ?? unreadable('build-id') ?? '(none)');
  if (j.image) {
    const kind = `${j.image.kind}${j.image.pe ? ' (PE/EFI)' : ''}`;
    row(
      'image',
      j.compression
        ? `${kind}, ${j.compression} payload at 0x${j.image.payloadOffset.toString(16)}: ${j.image.payloadLength} -> ` +
            `${j.image.kernelSize} bytes${j.image.elf ? ' (ELF vmlinux)' : ' (raw image, not ELF)'}`
        : `${kind}, ${j.image.kernelSize} bytes`,
    );
  }
  if (j.secureBoot) {
    if (j.secureBoot.signatures.length === 0) row('secure boot', 'PE/EFI image, not signed');
    for (const sig of j.secureBoot.signatures) {
      for (const x of sig.signers)
        row(
          'secure boot',
          `signed by ${x.subject ?? '(certificate not included)'}, issuer ${x.issuer}, serial ${x.serial}`,
        );
      row(
        '  digest',
        `${sig.digestAlgorithm} ${sig.imageDigest} ` +
          `${sig.digestMatches ? 'matches the signature' : `DOES NOT match the signed ${sig.signedDigest}`}`,
      );
    }
    if (j.secureBoot.sbat) for (const l of j.secureBoot.sbat.trimEnd().split('\n')) row('sbat', l);
  }
  if (j.uki) {
    row('uki', `${j.uki.sections.length} sections (the kernel above is its .linux)`);
    for (const s of j.uki.sections)
      row(`  ${s.name}`, `${String(s.size).padStart(10)} bytes at 0x${s.offset.toString(16)}, sha256 ${s.sha256}`);
    if (j.uki.cmdline !== null) row('  cmdline', j.uki.cmdline);
    if (j.uki.uname !== null) row('  uname', j.uki.uname);
    const i = j.uki.initrd;
    if (i) {
      const releases = [...new Set(i.modules.map((m) => m.release))].join(', ');
      const archives = i.archives.map((a) => `${a.compression} ${a.entries} entries`).join(' + ');
      row(
        '  initrd',
        `${i.size} bytes (${archives}): ${i.modules.length} module${i.modules.length === 1 ? '' : 's'}` +
          (releases ? ` for ${releases}` : ''),
      );
    }
  }
  if (j.certificateList) {
    const l = j.certificateList;
    row(
      'certificates',
      `${j.certificates.length} in the system list at 0x${l.offset.toString(16)} (${l.listSize} bytes, found by ` +
        `${l.method === 'symbols' ? 'symbols' : 'scanning'})${l.unparsed ? `, ${l.unparsed} unparsable` : ''}`,
    );
  } else if (j.image) row('certificates', unreadable('certificates') ?? '(no system certificate list found)');
  j.certificates.forEach((c, i) => {
    lines.push(`  [${i}] ${c.kernelName}`);
    lines.push(`      subject ${c.subject}`);
    lines.push(`      issuer  ${c.issuer}`);
    lines.push(`      serial  ${c.serial}`);
    lines.push(`      skid    ${c.subjectKeyId ?? '(none)'}`);
    lines.push(`      sha256  ${c.sha256}`);
  });
  if (j.certificateList?.extra) {
    const e = j.certificateList.extra;
    row('extra area', `${count(e.size, 'byte')} reserved at 0x${e.offset.toString(16)}, ${e.used} used`);
  }
  if (j.builtinKeys)
    row('builtin keys', j.builtinKeys.length ? j.builtinKeys.join('; ') : '(none visible in /proc/keys)');
  row('btf', j.btf ? `${count(j.btf.size, 'byte')}, ${count(j.btf.types, 'type')}` : (unreadable('btf') ?? '(none)'));
  const c = j.config;
  const policy = c && POLICY_KEYS.map((k) => `${k}=${yn(c[k]!)}`).join(' ');
  row('config', c ? `${c.source}: ${policy}` : (unreadable('config') ?? '(not found: pass --config FILE)'));
  if (j.exports)
    row(
      'exports',
      `${j.exports.count} (${j.exports.gpl} GPL-only, ${j.exports.withCrc} with CRC, ${j.exports.layout ?? '?'} ksymtab)`,
    );
  else if (j.image) {
    row(
      'exports',
      unreadable('exports') ?? (j.image.elf ? '(no __ksymtab)' : '(raw image: no section table to read exports from)'),
    );
  }
  return lines.join('\n') + '\n';
}

export { formatSymvers };
