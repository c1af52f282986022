/**
 * What a decompressed kernel says about itself: release and banner, GNU build id, built-in
 * trusted certificates, raw BTF, embedded config, and exported symbols with CRCs.
 * Authority: see banner.ts, certs.ts, config.ts, ksymtab.ts; include/uapi/linux/elf.h and the
 * gABI for notes:
 *
 *   Elf_Nhdr  u32 n_namesz; u32 n_descsz; u32 n_type; name (padded to 4); desc (padded to 4)
 *   GNU build id: name "GNU\0", n_type 3 (NT_GNU_BUILD_ID), desc = the id
 *
 * A vmlinux ELF gives everything; a raw Image (arm64, armhf, s390x payloads) gives the banner,
 * the certificates (by scan) and the embedded config only. A part that is malformed is left out
 * and reported as a {@link KernelWarning}; the others are still read.
 */
import { Elf, SHF_ALLOC, SHT_NOBITS, probeElf, type ElfSection } from '../elf/elf.js';
import { toHex } from '../bytes/reader.js';
import { FormatError, type ErrorCode } from '../bytes/errors.js';
import { parseBtf } from '../btf/btf.js';
import { findBanner } from './banner.js';
import {
  readCertificateListAt,
  scanCertificateList,
  type CertificateList,
  type CertificateSymbols,
  type WordLayout,
} from './certs.js';
import { findEmbeddedConfig, type KernelConfig } from './config.js';
import { readExports, ksymtabLayout, type ExportedSymbol, type KsymtabLayout } from './ksymtab.js';
import { nextSymbolAddress, type SystemMap } from './system-map.js';

const SHT_NOTE = 7;
const NT_GNU_BUILD_ID = 3;
/** Notes sections are small; this bounds the walk. */
const MAX_NOTES = 4096;

/** The parts of a kernel that are read independently of each other. */
export type KernelPart = 'config' | 'build-id' | 'certificates' | 'btf' | 'exports';

/** A part of the kernel that could not be read (it is undefined in the result). */
export interface KernelWarning {
  readonly part: KernelPart;
  /** Offset of the fault in the kernel: in the decompressed image (what --extract-vmlinux writes), or the file when not compressed. */
  readonly offset: number;
  /** What is wrong there (the FormatError's format and detail, without file name and offset). */
  readonly message: string;
  readonly code: ErrorCode;
}

export interface VmlinuxInfo {
  readonly isElf: boolean;
  /** ELF class, byte order and e_machine (undefined for a raw image). */
  readonly elf:
    | { readonly class: 32 | 64; readonly littleEndian: boolean; readonly machine: number; readonly hasSymtab: boolean }
    | undefined;
  readonly banner: string | undefined;
  readonly release: string | undefined;
  /** GNU build id, lowercase hex. */
  readonly buildId: string | undefined;
  readonly certificates: CertificateList | undefined;
  /** Zero-copy view of the `.BTF` section. */
  readonly btf: Uint8Array | undefined;
  readonly config: KernelConfig | undefined;
  readonly exports: readonly ExportedSymbol[] | undefined;
  readonly ksymtabLayout: KsymtabLayout | undefined;
  /** Parts that are malformed and were left out, in reading order (empty when every part was read). */
  readonly warnings: readonly KernelWarning[];
}

export interface VmlinuxOptions {
  file: string;
  /** Symbols for a stripped vmlinux (Debian: /boot/System.map-RELEASE from the -dbg package). */
  systemMap?: SystemMap;
}

/**
 * Inspects a decompressed kernel (ELF vmlinux or raw Image). A part that is malformed (a
 * FormatError while reading the config, build id, certificates, BTF or exports) is left
 * undefined and listed in `warnings`.
 * @throws FormatError from the ELF reader (E_TRUNCATED, E_RANGE, E_FORMAT ...: no part can be
 *         located), and E_FORMAT when `systemMap` does not match the image.
 */
export async function inspectVmlinux(data: Uint8Array, options: VmlinuxOptions): Promise<VmlinuxInfo> {
  const { file } = options;
  const warnings: KernelWarning[] = [];
  const config = await readPart(warnings, 'config', () => findEmbeddedConfig(data, file));
  if (!probeElf(data)) {
    const banner = findBanner(data);
    return {
      isElf: false,
      elf: undefined,
      banner: banner?.banner,
      release: banner?.release,
      buildId: undefined,
      certificates: await readPart(warnings, 'certificates', () => scanCertificateList(data, file, RAW_LAYOUTS)),
      btf: undefined,
      config,
      exports: undefined,
      ksymtabLayout: undefined,
      warnings,
    };
  }
  const elf = Elf.parse(data, file);
  const rodata = elf.findSection('.rodata');
  const banner =
    (rodata ? findBanner(data, rodata.sh_offset, rodata.sh_offset + rodata.sh_size) : undefined) ?? findBanner(data);
  const buildId = await readPart(warnings, 'build-id', () => findBuildId(elf));
  if (options.systemMap && !elf.symbols()) checkSystemMap(elf, options.systemMap);
  const certificates = await readPart(warnings, 'certificates', () => findCertificates(elf, options.systemMap));
  const btfSection = elf.findSection('.BTF');
  const btf = btfSection ? await readPart(warnings, 'btf', () => checkedBtf(elf, btfSection)) : undefined;
  const exports = await readPart(warnings, 'exports', () => readExports(elf));
  return {
    isElf: true,
    elf: {
      class: elf.header.class,
      littleEndian: elf.header.littleEndian,
      machine: elf.header.e_machine,
      hasSymtab: elf.symbols() !== undefined,
    },
    banner: banner?.banner,
    release: banner?.release,
    buildId,
    certificates,
    btf,
    config,
    exports,
    ksymtabLayout: exports ? ksymtabLayout(elf) : undefined,
    warnings,
  };
}

/** One part, read on its own: a FormatError becomes a warning and the part is undefined. */
async function readPart<T>(
  warnings: KernelWarning[],
  part: KernelPart,
  read: () => T | Promise<T>,
): Promise<T | undefined> {
  try {
    return await read();
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    warnings.push({ part, offset: e.offset, message: `${e.format}: ${e.detail}`, code: e.code });
    return undefined;
  }
}

/** The `.BTF` section, zero-copy, once its header and type table parse. */
function checkedBtf(elf: Elf, s: ElfSection): Uint8Array {
  const data = elf.sectionData(s);
  parseBtf(data, { file: elf.file, offset: s.sh_offset });
  return data;
}

/** Word layouts tried on a raw image, whose architecture is unknown. */
const RAW_LAYOUTS: readonly WordLayout[] = [
  { wordSize: 8, littleEndian: true },
  { wordSize: 8, littleEndian: false },
  { wordSize: 4, littleEndian: true },
  { wordSize: 4, littleEndian: false },
];

/**
 * The GNU build id from the SHT_NOTE sections (`.notes` in vmlinux).
 * @returns undefined when there is none. @throws FormatError E_TRUNCATED/E_LIMIT on a malformed note.
 */
export function findBuildId(elf: Elf): string | undefined {
  for (const s of elf.sections) {
    if (s.sh_type !== SHT_NOTE) continue;
    const r = elf.sectionReader(s);
    let p = 0;
    for (let n = 0; p + 12 <= r.length; n++) {
      if (n >= MAX_NOTES) throw r.error('E_LIMIT', p, `more than ${MAX_NOTES} notes`);
      const namesz = r.u32(p, 'n_namesz');
      const descsz = r.u32(p + 4, 'n_descsz');
      const type = r.u32(p + 8, 'n_type');
      const nameAt = p + 12;
      const descAt = nameAt + align4(namesz);
      r.need(descAt, descsz, 'note desc');
      if (type === NT_GNU_BUILD_ID && namesz === 4 && r.startsWith(nameAt, [0x47, 0x4e, 0x55, 0]))
        return toHex(r.bytes(descAt, descsz));
      p = descAt + align4(descsz);
    }
  }
  return undefined;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Certificates via .symtab, else System.map, else the scan. */
function findCertificates(elf: Elf, systemMap: SystemMap | undefined): CertificateList | undefined {
  const layout: WordLayout = { wordSize: elf.wordSize, littleEndian: elf.header.littleEndian };
  const syms = certificateSymbolsFromSymtab(elf) ?? (systemMap ? certificateSymbolsFromMap(elf, systemMap) : undefined);
  if (syms) return readCertificateListAt(elf.data, elf.file, syms, layout);
  return scanCertificateList(elf.data, elf.file, [layout]);
}

function certificateSymbolsFromSymtab(elf: Elf): CertificateSymbols | undefined {
  const symbols = elf.symbols();
  if (!symbols) return undefined;
  const wanted = new Map<string, { value: bigint; size: bigint }>();
  for (const s of symbols) {
    if (CERT_SYMBOLS.includes(s.name) && !wanted.has(s.name))
      wanted.set(s.name, { value: s.st_value, size: s.st_size });
  }
  const off = (name: string): number | undefined => {
    const s = wanted.get(name);
    return s ? addressToOffset(elf, s.value, name) : undefined;
  };
  const list = off('system_certificate_list');
  const listSize = off('system_certificate_list_size');
  if (list === undefined || listSize === undefined) return undefined;
  const extra = wanted.get('system_extra_cert');
  return {
    list,
    listSize,
    moduleCertSize: off('module_cert_size'),
    extraCert: off('system_extra_cert'),
    extraCertSize: extra ? Number(extra.size) : undefined,
    extraCertUsed: off('system_extra_cert_used'),
  };
}

const CERT_SYMBOLS = [
  'system_certificate_list',
  'system_certificate_list_size',
  'module_cert_size',
  'system_extra_cert',
  'system_extra_cert_used',
];

/**
 * A System.map of another build would point at unrelated bytes: its linux_banner must be the banner.
 * @throws FormatError E_FORMAT when it is not, E_RANGE when its address is in no section.
 */
function checkSystemMap(elf: Elf, map: SystemMap): void {
  const bannerSym = map.byName.get('linux_banner');
  if (!bannerSym) return;
  const at = addressToOffset(elf, bannerSym.address, 'linux_banner');
  if (!elf.r.startsWith(at, Buffer.from('Linux version ', 'latin1'))) {
    throw elf.r.error('E_FORMAT', at, 'System.map does not match this vmlinux (linux_banner is not at its address)');
  }
}

function certificateSymbolsFromMap(elf: Elf, map: SystemMap): CertificateSymbols | undefined {
  const addr = (name: string): bigint | undefined => map.byName.get(name)?.address;
  const off = (name: string): number | undefined => {
    const a = addr(name);
    return a === undefined ? undefined : addressToOffset(elf, a, name);
  };
  const list = off('system_certificate_list');
  const listSize = off('system_certificate_list_size');
  if (list === undefined || listSize === undefined) return undefined;
  const extraAddr = addr('system_extra_cert');
  const next = extraAddr !== undefined ? nextSymbolAddress(map, 'system_extra_cert') : undefined;
  return {
    list,
    listSize,
    moduleCertSize: off('module_cert_size'),
    extraCert: off('system_extra_cert'),
    extraCertSize: extraAddr !== undefined && next !== undefined ? Number(next - extraAddr) : undefined,
    extraCertUsed: off('system_extra_cert_used'),
  };
}

/**
 * File offset of a virtual address: the allocated, file-backed section containing it.
 * @throws FormatError E_RANGE when no section contains it.
 */
export function addressToOffset(elf: Elf, address: bigint, what: string): number {
  const s = elf.sections.find(
    (x: ElfSection) =>
      (x.sh_flags & SHF_ALLOC) !== 0 &&
      x.sh_type !== SHT_NOBITS &&
      address >= x.sh_addr &&
      address < x.sh_addr + BigInt(x.sh_size),
  );
  if (!s)
    throw new FormatError('E_RANGE', {
      file: elf.file,
      offset: 0,
      format: 'elf',
      detail: `${what}: address 0x${address.toString(16)} is in no allocated section`,
    });
  return s.sh_offset + Number(address - s.sh_addr);
}
