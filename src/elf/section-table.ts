/**
 * An ELF file's header and section header table as they are, read with a layout the caller
 * chooses and validated no further than "the bytes are there". {@link Elf.parse} (elf.ts) is the
 * validating reader (kmod's rules); this is for code that judges a file by someone else's rules
 * (the kernel's ELF checks, src/check/elf-validity.ts, which reads a module with the kernel's
 * word size and byte order) or only finds its way through it (src/modinfo/sparse.ts).
 *
 * Words are numbers; a 64-bit word of 2^53 or more (never inside a file) is Infinity, so that
 * range checks against a file's size fail without a throw.
 */
import type { ByteReader } from '../bytes/reader.js';

/** The fields of Elf{32,64}_Ehdr that lead to the section header table. */
export interface RawElfHeader {
  readonly e_type: number;
  readonly e_machine: number;
  /** 2^53 and more: Infinity. */
  readonly e_shoff: number;
  readonly e_shentsize: number;
  readonly e_shnum: number;
  readonly e_shstrndx: number;
}

/** The header through `r` (its byte order), as ELF64 or ELF32. @throws FormatError when `r` is shorter than the header */
export function rawElfHeader(r: ByteReader, is64: boolean): RawElfHeader {
  const o = is64 ? 8 : 4; // growth of the three word fields
  r.need(0, is64 ? 64 : 52, 'ELF header');
  return {
    e_type: r.u16Unchecked(16),
    e_machine: r.u16Unchecked(18),
    e_shoff: r.wordUnchecked(24 + 2 * o, is64 ? 8 : 4),
    e_shentsize: r.u16Unchecked(24 + 3 * o + 10),
    e_shnum: r.u16Unchecked(24 + 3 * o + 12),
    e_shstrndx: r.u16Unchecked(24 + 3 * o + 14),
  };
}

/**
 * `shnum` section headers of the class's size at `shoff`, checked once to lie inside `r`, then
 * read field by field without further checks (their callers walk them many times).
 */
export class RawSectionTable {
  readonly is64: boolean;
  readonly shoff: number;
  readonly shnum: number;
  readonly entrySize: 40 | 64;
  private readonly ws: 4 | 8;
  protected readonly r: ByteReader;
  /** @throws FormatError when the table does not lie inside `r` */
  constructor(r: ByteReader, is64: boolean, shoff: number, shnum: number) {
    this.r = r;
    this.is64 = is64;
    this.shoff = shoff;
    this.shnum = shnum;
    this.entrySize = is64 ? 64 : 40;
    this.ws = is64 ? 8 : 4;
    r.need(shoff, shnum * this.entrySize, 'section header table');
  }
  /** Offset of section header `i`. */
  header(i: number): number {
    return this.shoff + i * this.entrySize;
  }
  nameOff(i: number): number {
    return this.r.u32Unchecked(this.header(i));
  }
  type(i: number): number {
    return this.r.u32Unchecked(this.header(i) + 4);
  }
  /** sh_flags' low word (where every SHF_ flag a module uses is). */
  flags(i: number): number {
    return this.r.u32Unchecked(this.header(i) + 8 + (this.is64 && !this.r.littleEndian ? 4 : 0));
  }
  /** sh_addr is zero. */
  addrIsZero(i: number): boolean {
    const h = this.header(i);
    return this.is64
      ? this.r.u32Unchecked(h + 16) + this.r.u32Unchecked(h + 20) === 0
      : this.r.u32Unchecked(h + 12) === 0;
  }
  offset(i: number): number {
    return this.r.wordUnchecked(this.header(i) + (this.is64 ? 24 : 16), this.ws);
  }
  size(i: number): number {
    return this.r.wordUnchecked(this.header(i) + (this.is64 ? 32 : 20), this.ws);
  }
  link(i: number): number {
    return this.r.u32Unchecked(this.header(i) + (this.is64 ? 40 : 24));
  }
}
