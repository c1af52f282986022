/**
 * The sparse module reader behind `inspect`: which byte ranges of a plain ELF module hold the
 * headers, `.modinfo` and the signature trailer, read through a caller's positional reader.
 * Pure: the file is opened by the caller (src/run/jobs/inspect.ts over src/io/files.ts).
 */
import { ByteReader } from '../bytes/reader.js';
import { rawElfHeader, RawSectionTable } from '../elf/section-table.js';
import { findSignatureTrailer } from '../modsig/trailer.js';

/** A positional reader: `read` fills exactly `len` bytes of `buf` at `at` from file offset `pos`, false on a short read or an error. */
export interface RangeSource {
  readonly size: number;
  read(buf: Uint8Array, at: number, len: number, pos: number): boolean;
}

/**
 * Reads only what `inspect` needs of an uncompressed module into `buffer(size)`: the ELF
 * header, the section header table, the section-name table, `.modinfo`, and the signature
 * trailer and blob. Bytes outside those ranges are NOT valid. Returns undefined when the file
 * is not a plain little/big-endian ELF whose layout we can follow (the caller then reads it
 * whole, which also produces the exact error).
 */
export function readModuleSparse(f: RangeSource, buffer: (size: number) => Buffer): Uint8Array | undefined {
  try {
    const size = f.size;
    if (size < 64) return undefined;
    const buf = buffer(size);
    // Few, large reads: syscalls, not bytes, dominate for small files. Ranges already read are
    // not read again.
    const loaded: [number, number][] = [];
    const load = (off: number, len: number): boolean => {
      if (off < 0 || len < 0 || off + len > size) return false;
      for (const [a, b] of loaded) if (off >= a && off + len <= b) return true;
      if (!f.read(buf, off, len, off)) return false;
      loaded.push([off, off + len]);
      return true;
    };
    if (!load(0, Math.min(size, SPARSE_HEAD))) return undefined;
    if (buf[0] !== 0x7f || buf[1] !== 0x45 || buf[2] !== 0x4c || buf[3] !== 0x46) return undefined;
    const is64 = buf[4] === 2;
    const le = buf[5] === 1;
    if ((buf[4] !== 1 && buf[4] !== 2) || (buf[5] !== 1 && buf[5] !== 2)) return undefined;
    const r = new ByteReader(buf.subarray(0, size), { file: '<module>', format: 'elf', littleEndian: le });
    const { e_shoff: shoff, e_shentsize: shentsize, e_shnum: shnum, e_shstrndx: shstrndx } = rawElfHeader(r, is64);
    if (shentsize !== (is64 ? 64 : 40) || shstrndx >= shnum || shoff + shnum * shentsize > size) return undefined;
    // Modules keep the name table and the section headers at the end, followed by the
    // signature: one read from the name table (when it is near) to the end of the file.
    const tailFrom = size <= SPARSE_HEAD ? 0 : Math.min(shoff, size - SPARSE_HEAD);
    if (!load(tailFrom, size - tailFrom)) return undefined;
    const table = new RawSectionTable(r, is64, shoff, shnum);
    const sec = (i: number): { name: number; type: number; off: number; size: number } => ({
      name: table.nameOff(i),
      type: table.type(i),
      off: table.offset(i),
      size: table.size(i),
    });
    const str = sec(shstrndx);
    if (!load(str.off, str.size)) return undefined;
    for (let i = 1; i < shnum; i++) {
      const s = sec(i);
      if (s.type !== SHT_NOBITS_ && s.type !== 0 && s.off + s.size > size) return undefined; // let the full parser report it
      if (s.name + 8 < str.size && r.startsWith(str.off + s.name, MODINFO_NAME)) {
        if (!load(s.off, s.size)) return undefined;
        break;
      }
    }
    const tail = Math.min(size, 40);
    if (!load(size - tail, tail)) return undefined;
    // the signature blob, when the trailer (struct module_signature and the magic) is complete
    const trailer = findSignatureTrailer(r.data);
    if (trailer?.info) {
      const t = trailer.infoOffset;
      const { sig_len, signer_len, key_id_len } = trailer.info;
      const extra = sig_len + signer_len + key_id_len;
      if (sig_len === 0 || extra > t || !load(t - extra, extra)) return undefined;
    }
    return buf.subarray(0, size);
  } catch {
    return undefined;
  }
}
const SHT_NOBITS_ = 8;
const MODINFO_NAME = new TextEncoder().encode('.modinfo\0');
/** Bytes read from the start of a module in one go (the median Debian module is smaller). */
const SPARSE_HEAD = 16 * 1024;
