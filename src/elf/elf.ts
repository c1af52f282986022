/**
 * ELF reader for kernel modules and vmlinux: ELF32/ELF64, little- and big-endian.
 * Authority: the ELF gABI; include/uapi/linux/elf.h; kmod libkmod/libkmod-elf.c (validation).
 *
 *   Elf{32,64}_Ehdr   e_ident[16] e_type e_machine e_version e_entry e_phoff e_shoff e_flags
 *                     e_ehsize e_phentsize e_phnum e_shentsize e_shnum e_shstrndx
 *   Elf{32,64}_Shdr   sh_name sh_type sh_flags sh_addr sh_offset sh_size sh_link sh_info
 *                     sh_addralign sh_entsize       (40 bytes on ELF32, 64 on ELF64)
 *   Elf{32,64}_Sym    32: st_name st_value st_size st_info st_other st_shndx   (16 bytes)
 *                     64: st_name st_info st_other st_shndx st_value st_size   (24 bytes)
 *
 * Everything returned is a zero-copy view over the input bytes, except strings.
 */
import { ByteReader } from '../bytes/reader.js';
import { FormatError } from '../bytes/errors.js';

export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_DYNSYM = 11;
export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
export const SHN_XINDEX = 0xffff;
export const SHF_ALLOC = 0x2;

/** Upper bound on section headers we accept (e_shnum is 16 bits; extended numbering is not used by modules). */
export const MAX_SECTIONS = 0xff00;

export interface ElfSection {
  readonly index: number;
  readonly name: string;
  /** Raw header fields, named as in the gABI. */
  readonly sh_name: number;
  readonly sh_type: number;
  readonly sh_flags: number;
  readonly sh_addr: bigint;
  readonly sh_offset: number;
  readonly sh_size: number;
  readonly sh_link: number;
  readonly sh_info: number;
  readonly sh_addralign: number;
  readonly sh_entsize: number;
  /** Absolute offset of this section header in the file. */
  readonly headerOffset: number;
}

export interface ElfSymbol {
  readonly index: number;
  readonly name: string;
  readonly st_name: number;
  readonly st_value: bigint;
  readonly st_size: bigint;
  readonly st_info: number;
  readonly st_other: number;
  readonly st_shndx: number;
  readonly bind: number;
  readonly type: number;
}

export interface ElfHeader {
  readonly class: 32 | 64;
  readonly littleEndian: boolean;
  readonly e_type: number;
  readonly e_machine: number;
  readonly e_entry: bigint;
  readonly e_phoff: number;
  readonly e_shoff: number;
  readonly e_flags: number;
  readonly e_phentsize: number;
  readonly e_phnum: number;
  readonly e_shentsize: number;
  readonly e_shnum: number;
  readonly e_shstrndx: number;
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46] as const;

/** True when the bytes start with an ELF identification we can read. Never throws. */
export function probeElf(data: Uint8Array): boolean {
  return (
    data.length >= 16 &&
    ELF_MAGIC.every((b, i) => data[i] === b) &&
    (data[4] === 1 || data[4] === 2) &&
    (data[5] === 1 || data[5] === 2)
  );
}

/**
 * Reads the file as this class and byte order whatever e_ident says: the kernel reads a module
 * with its own layout (x86-64 and arm64 never look at EI_CLASS or EI_DATA).
 */
export interface ElfLayout {
  readonly class?: 32 | 64;
  readonly littleEndian?: boolean;
}

/** A section header; `name` and `sh_addr` are decoded on first use. */
class Section implements ElfSection {
  private _name: string | undefined;
  constructor(
    private readonly r: ByteReader,
    readonly index: number,
    readonly headerOffset: number,
    /** offset of sh_addr in the reader: positive for a 64-bit field, negated for a 32-bit one */
    private readonly addrAt: number,
    readonly sh_name: number,
    readonly sh_type: number,
    readonly sh_flags: number,
    readonly sh_offset: number,
    readonly sh_size: number,
    readonly sh_link: number,
    readonly sh_info: number,
    readonly sh_addralign: number,
    readonly sh_entsize: number,
    private readonly nameOf: (off: number) => string,
  ) {}
  get name(): string {
    return (this._name ??= this.nameOf(this.sh_name));
  }
  get sh_addr(): bigint {
    return this.addrAt >= 0 ? this.r.u64(this.addrAt) : BigInt(this.r.u32(-this.addrAt));
  }
}

export class Elf {
  readonly file: string;
  readonly data: Uint8Array;
  readonly header: ElfHeader;
  readonly sections: readonly ElfSection[];
  /** Reader with the file's byte order, over the whole file. */
  readonly r: ByteReader;
  readonly wordSize: 4 | 8;

  private constructor(file: string, data: Uint8Array, header: ElfHeader, r: ByteReader, sections: ElfSection[]) {
    this.file = file;
    this.data = data;
    this.header = header;
    this.r = r;
    this.wordSize = header.class === 64 ? 8 : 4;
    this.sections = sections;
  }

  /**
   * Parses and validates the ELF header and section header table (as kmod's kmod_elf_new does:
   * the table, the section-name table and every section's extent must lie inside the file).
   * @throws FormatError E_MAGIC (not ELF), E_TRUNCATED, E_RANGE, E_FORMAT, E_LIMIT
   */
  static parse(data: Uint8Array, file: string, base = 0, layout: ElfLayout = {}): Elf {
    const probe = new ByteReader(data, { file, format: 'elf', base });
    if (data.length < 16 || !probe.startsWith(0, ELF_MAGIC))
      throw probe.error('E_MAGIC', 0, 'not an ELF file (bad magic)');
    const cls = layout.class === undefined ? data[4] : layout.class === 64 ? 2 : 1;
    const enc = layout.littleEndian === undefined ? data[5] : layout.littleEndian ? 1 : 2;
    if (cls !== 1 && cls !== 2) throw probe.error('E_FORMAT', 4, `invalid ELF class ${cls}`);
    if (enc !== 1 && enc !== 2) throw probe.error('E_FORMAT', 5, `invalid ELF data encoding ${enc}`);
    const r = probe.withEndian(enc === 1);
    const is64 = cls === 2;
    const ehsize = is64 ? 64 : 52;
    r.need(0, ehsize, 'ELF header');
    const w = (off: number, what: string): number => (is64 ? r.u64n(off, what) : r.u32(off, what));
    const wb = (off: number, what: string): bigint => (is64 ? r.u64(off, what) : BigInt(r.u32(off, what)));
    const o = is64 ? 8 : 4; // growth of the three word fields
    const header: ElfHeader = {
      class: is64 ? 64 : 32,
      littleEndian: enc === 1,
      e_type: r.u16(16, 'e_type'),
      e_machine: r.u16(18, 'e_machine'),
      e_entry: wb(24, 'e_entry'),
      e_phoff: w(24 + o, 'e_phoff'),
      e_shoff: w(24 + 2 * o, 'e_shoff'),
      e_flags: r.u32(24 + 3 * o, 'e_flags'),
      e_phentsize: r.u16(24 + 3 * o + 6, 'e_phentsize'),
      e_phnum: r.u16(24 + 3 * o + 8, 'e_phnum'),
      e_shentsize: r.u16(24 + 3 * o + 10, 'e_shentsize'),
      e_shnum: r.u16(24 + 3 * o + 12, 'e_shnum'),
      e_shstrndx: r.u16(24 + 3 * o + 14, 'e_shstrndx'),
    };
    const shentsize = is64 ? 64 : 40;
    const sections: ElfSection[] = [];
    if (header.e_shnum > 0) {
      if (header.e_shentsize !== shentsize) {
        throw r.error('E_FORMAT', 24 + 3 * o + 10, `e_shentsize ${header.e_shentsize} is not ${shentsize}`);
      }
      const tableOff = 24 + 2 * o;
      if (header.e_shoff === 0 || header.e_shoff + header.e_shnum * shentsize > data.length) {
        throw r.error(
          'E_RANGE',
          tableOff,
          `section header table (e_shoff 0x${header.e_shoff.toString(16)}, ${header.e_shnum} entries) lies outside the file ` +
            `(${data.length} bytes)`,
        );
      }
      if (header.e_shstrndx >= header.e_shnum) {
        throw r.error('E_RANGE', 24 + 3 * o + 14, `e_shstrndx ${header.e_shstrndx} >= e_shnum ${header.e_shnum}`);
      }
      const readHeader = (i: number, name: (off: number) => string): ElfSection => {
        const h = header.e_shoff + i * shentsize;
        const s = is64
          ? new Section(
              r,
              i,
              base + h,
              h + 16,
              r.u32(h),
              r.u32(h + 4),
              r.u64n(h + 8, 'sh_flags'),
              r.u64n(h + 24, 'sh_offset'),
              r.u64n(h + 32, 'sh_size'),
              r.u32(h + 40),
              r.u32(h + 44),
              r.u64n(h + 48, 'sh_addralign'),
              r.u64n(h + 56, 'sh_entsize'),
              name,
            )
          : new Section(
              r,
              i,
              base + h,
              -(h + 12),
              r.u32(h),
              r.u32(h + 4),
              r.u32(h + 8),
              r.u32(h + 16),
              r.u32(h + 20),
              r.u32(h + 24),
              r.u32(h + 28),
              r.u32(h + 32),
              r.u32(h + 36),
              name,
            );
        if (s.sh_type !== SHT_NOBITS && s.sh_type !== SHT_NULL && s.sh_offset + s.sh_size > data.length) {
          throw r.error(
            'E_RANGE',
            h + (is64 ? 24 : 16),
            `section [${i}]: sh_offset 0x${s.sh_offset.toString(16)} + sh_size 0x${s.sh_size.toString(16)} past end of file ` +
              `(${data.length} bytes)`,
          );
        }
        return s;
      };
      const shstr = readHeader(header.e_shstrndx, () => '');
      const strEnd = shstr.sh_offset + shstr.sh_size;
      if (shstr.sh_size > 0 && data[strEnd - 1] !== 0) {
        throw r.error('E_FORMAT', strEnd - 1, 'section name table does not end with NUL');
      }
      const name = (off: number): string =>
        off < shstr.sh_size ? r.cstring(shstr.sh_offset + off, 'section name', strEnd) : '';
      for (let i = 0; i < header.e_shnum; i++) sections.push(readHeader(i, name));
    }
    return new Elf(file, data, header, r, sections);
  }

  /** The first section (index >= 1) with this name, or undefined. Same lookup as kmod. */
  findSection(name: string): ElfSection | undefined {
    const shstr = this.sections[this.header.e_shstrndx];
    if (!shstr) return undefined;
    // Compare bytes in the name table: no string is decoded for the sections we pass over.
    const d = this.data;
    const n = name.length;
    for (let i = 1; i < this.sections.length; i++) {
      const s = this.sections[i]!;
      if (s.sh_name + n >= shstr.sh_size) continue;
      const at = shstr.sh_offset + s.sh_name;
      if (d[at + n] !== 0) continue;
      let j = 0;
      while (j < n && d[at + j] === name.charCodeAt(j)) j++;
      if (j === n) return s;
    }
    return undefined;
  }

  /** Zero-copy contents of a section (empty for SHT_NOBITS). */
  sectionData(s: ElfSection): Uint8Array {
    if (s.sh_type === SHT_NOBITS) return new Uint8Array(0);
    return this.r.bytes(s.sh_offset, s.sh_size, `section [${s.index}] ${s.name}`);
  }

  /** A reader over a section's bytes, errors at absolute offsets. */
  sectionReader(s: ElfSection): ByteReader {
    return this.r.sub(s.sh_offset, s.sh_type === SHT_NOBITS ? 0 : s.sh_size, `section [${s.index}] ${s.name}`);
  }

  /** Symbols of the first SHT_SYMTAB section (or undefined when the file is stripped). */
  symbols(): ElfSymbol[] | undefined {
    const symtab = this.sections.find((s) => s.sh_type === SHT_SYMTAB);
    if (!symtab) return undefined;
    const entsize = this.header.class === 64 ? 24 : 16;
    if (symtab.sh_entsize !== 0 && symtab.sh_entsize !== entsize) {
      throw this.r.error(
        'E_FORMAT',
        symtab.headerOffset - this.r.base,
        `symbol table entry size ${symtab.sh_entsize} is not ${entsize}`,
      );
    }
    const strtab = this.sections[symtab.sh_link];
    if (!strtab || strtab.sh_type !== SHT_STRTAB) {
      throw this.r.error(
        'E_FORMAT',
        symtab.headerOffset - this.r.base,
        `symbol table sh_link ${symtab.sh_link} is not a string table`,
      );
    }
    const sr = this.sectionReader(symtab);
    const strEnd = strtab.sh_offset + strtab.sh_size;
    const n = Math.floor(symtab.sh_size / entsize);
    const out: ElfSymbol[] = new Array(n);
    const is64 = this.header.class === 64;
    for (let i = 0; i < n; i++) {
      const o = i * entsize;
      const st_name = sr.u32(o);
      const st_info = is64 ? sr.u8(o + 4) : sr.u8(o + 12);
      const sym: ElfSymbol = {
        index: i,
        st_name,
        name:
          st_name === 0
            ? ''
            : st_name < strtab.sh_size
              ? this.r.cstring(strtab.sh_offset + st_name, 'symbol name', strEnd)
              : '',
        st_info,
        st_other: is64 ? sr.u8(o + 5) : sr.u8(o + 13),
        st_shndx: is64 ? sr.u16(o + 6) : sr.u16(o + 14),
        st_value: is64 ? sr.u64(o + 8) : BigInt(sr.u32(o + 4)),
        st_size: is64 ? sr.u64(o + 16) : BigInt(sr.u32(o + 8)),
        bind: st_info >> 4,
        type: st_info & 0xf,
      };
      out[i] = sym;
    }
    return out;
  }
}

export function isFormatError(e: unknown): e is FormatError {
  return e instanceof FormatError;
}
