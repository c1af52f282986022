/**
 * Writing initramfs images: newc cpio archives, and an image re-packed with some files' contents
 * replaced (what `seal --initrd` does with the kernel modules it re-signs). Pure: bytes in, bytes
 * out; compression is the caller's (a callback), so that this floor never encodes.
 *
 * Authority: Documentation/driver-api/early-userspace/buffer-format.rst (newc: "070701", 13
 * fields of 8 hex digits, the name NUL-terminated and padded so that header + name end on 4
 * bytes, the data padded to 4, "TRAILER!!!" last; "070702" adds c_check, the sum of the data's
 * bytes), init/initramfs.c (archives one after another, NUL padding skipped, a plain archive at a
 * 4-aligned offset).
 *
 * Re-packing keeps what it does not change byte for byte: an archive none of whose entries is
 * replaced (the early-microcode archive, say) is copied as it is, compressed bytes and all; in an
 * archive that changes, every entry keeps its header (names, modes, owners, times, inode numbers)
 * and only a replaced entry's c_filesize (and c_check), its data and the data's padding change;
 * the bytes between entries (trailers, NUL padding, further archives in the same stream) are
 * copied. The changed archive is compressed again with its own codec by the caller.
 */
import { ByteReader } from '../bytes/reader.js';
import { KmodsealError } from '../bytes/errors.js';
import { concatBytes } from '../bytes/concat.js';
import { decompressPayload, gzipMember } from '../compress/stream.js';
import { MAX_INITRAMFS_SIZE, type Initramfs, type InitramfsEntry } from './initramfs.js';

const HEADER = 110;
const TRAILER = 'TRAILER!!!';
const FIELD_FILESIZE = 6;
const FIELD_CHECK = 12;

/** One entry of a newc archive to write. */
export interface CpioEntry {
  readonly name: string;
  readonly mode: number;
  readonly data?: Uint8Array;
  readonly ino?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly nlink?: number;
  readonly mtime?: number;
  readonly devMajor?: number;
  readonly devMinor?: number;
  readonly rdevMajor?: number;
  readonly rdevMinor?: number;
}

/** The codecs a re-packed archive can be compressed with. */
export type RepackCodec = 'gzip' | 'xz' | 'zstd';

/** Compresses one archive's cpio bytes with `codec` (the archive's own). */
export type ArchiveCompressor = (codec: RepackCodec, cpio: Uint8Array, archive: number) => Promise<Uint8Array>;

const align4 = (n: number): number => (n + 3) & ~3;
const utf8 = new TextEncoder();

function hex8(v: number, what: string): string {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new KmodsealError('E_RANGE', `cpio ${what} ${v} does not fit in 8 hex digits`);
  return v.toString(16).toUpperCase().padStart(8, '0');
}

/** c_check of the crc format: the sum of the data's bytes, modulo 2^32. */
export function cpioChecksum(data: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < data.length; i++) s = (s + data[i]!) >>> 0;
  return s;
}

/** The 110-byte newc header of an entry whose name is `namesize` bytes long with its NUL (uppercase hex, as GNU cpio). */
export function newcHeader(e: CpioEntry, namesize: number): Uint8Array {
  const size = e.data?.length ?? 0;
  const fields = [
    e.ino ?? 0,
    e.mode,
    e.uid ?? 0,
    e.gid ?? 0,
    e.nlink ?? 1,
    e.mtime ?? 0,
    size,
    e.devMajor ?? 0,
    e.devMinor ?? 0,
    e.rdevMajor ?? 0,
    e.rdevMinor ?? 0,
    namesize,
    0,
  ];
  const names = ['c_ino', 'c_mode', 'c_uid', 'c_gid', 'c_nlink', 'c_mtime', 'c_filesize', 'c_devmajor'];
  return utf8.encode('070701' + fields.map((v, i) => hex8(v, names[i] ?? 'field')).join(''));
}

/**
 * A newc archive of `entries` in order, ended by `TRAILER!!!`; with `blockSize` (GNU cpio: 512)
 * the archive is NUL-padded to a multiple of it.
 * @throws KmodsealError E_RANGE for a value that does not fit a field, E_FORMAT for an empty name or one holding a NUL
 */
export function writeNewc(entries: readonly CpioEntry[], options: { blockSize?: number } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  let length = 0;
  const push = (b: Uint8Array): void => {
    parts.push(b);
    length += b.length;
  };
  const pad = (): void => {
    if (length & 3) push(new Uint8Array(align4(length) - length));
  };
  const all: CpioEntry[] = [...entries, { name: TRAILER, mode: 0, nlink: 1 }];
  for (const e of all) {
    if (e.name === '' || e.name.includes('\0'))
      throw new KmodsealError('E_FORMAT', `cpio name ${JSON.stringify(e.name)} is empty or holds a NUL`);
    const name = utf8.encode(e.name + '\0');
    push(newcHeader(e, name.length));
    push(name);
    pad();
    if (e.data?.length) {
      push(e.data);
      pad();
    }
  }
  const block = options.blockSize ?? 0;
  if (block > 0 && length % block) push(new Uint8Array(block - (length % block)));
  return concatBytes(parts, length);
}

function hexAt(r: ByteReader, off: number, what: string): number {
  const text = Buffer.from(r.bytes(off, 8, what)).toString('latin1');
  if (!/^[0-9a-fA-F]{8}$/.test(text)) throw r.error('E_FORMAT', off, `cpio ${what}: '${text}' is not 8 hex digits`);
  return parseInt(text, 16);
}

/**
 * A cpio archive's bytes with the data of some entries replaced, everything else kept: each
 * replaced entry keeps its header but c_filesize (and c_check in a crc archive), in the case of
 * hex digits the header used. `entries` are this archive's, as `readInitramfs()` read them.
 */
export function replaceCpioData(
  cpio: Uint8Array,
  file: string,
  entries: readonly InitramfsEntry[],
  replace: ReadonlyMap<InitramfsEntry, Uint8Array>,
): Uint8Array {
  const r = new ByteReader(cpio, { file, format: 'cpio' });
  const parts: Uint8Array[] = [];
  let cursor = 0;
  for (const e of [...entries].sort((a, b) => a.offset - b.offset)) {
    const data = replace.get(e);
    if (!data) continue;
    const p = e.offset;
    if (p < cursor) throw r.error('E_FORMAT', p, `cpio entry ${e.name} overlaps the one before it`);
    const header = r.bytes(p, HEADER, 'cpio header').slice();
    const oldSize = hexAt(r, p + 6 + 8 * FIELD_FILESIZE, 'c_filesize');
    const namesize = hexAt(r, p + 6 + 8 * 11, 'c_namesize');
    const crc = header[5] === 0x32;
    const lower = /[a-f]/.test(Buffer.from(header.subarray(6)).toString('latin1'));
    const put = (field: number, v: number): void => {
      let t = hex8(v, field === FIELD_FILESIZE ? 'c_filesize' : 'c_check');
      if (lower) t = t.toLowerCase();
      header.set(utf8.encode(t), 6 + 8 * field);
    };
    put(FIELD_FILESIZE, data.length);
    if (crc) put(FIELD_CHECK, cpioChecksum(data));
    const dataAt = align4(p + HEADER + namesize);
    const end = align4(dataAt + oldSize);
    r.need(dataAt, oldSize, `cpio data of ${e.name}`);
    parts.push(cpio.subarray(cursor, p), header, cpio.subarray(p + HEADER, dataAt), data);
    parts.push(new Uint8Array(align4(data.length) - data.length));
    cursor = Math.min(end, cpio.length);
  }
  parts.push(cpio.subarray(cursor));
  return concatBytes(parts);
}

/** The decompressed cpio bytes of archive `index` of an image read by `readInitramfs()`. */
async function archiveBytes(image: Uint8Array, file: string, fs: Initramfs, index: number): Promise<Uint8Array> {
  const a = fs.archives[index]!;
  if (a.compression === 'none') return image.subarray(a.offset, a.offset + a.length);
  if (a.compression === 'gzip') {
    const r = new ByteReader(image, { file, format: 'initramfs' });
    return gzipMember(r, a.offset, MAX_INITRAMFS_SIZE).out;
  }
  return decompressPayload(
    image.subarray(a.offset, a.offset + a.length),
    a.compression,
    file,
    a.offset,
    MAX_INITRAMFS_SIZE,
  );
}

/**
 * The image `fs` was read from, re-packed with the data of the entries in `replace` replaced.
 * Archives without a replaced entry are copied as they are; a changed plain archive is written
 * plain, a compressed one is given to `compress` with its codec (lz4 and the codecs the kernel
 * reader refuses: E_UNSUPPORTED). The bytes between and after archives (NUL padding) are kept,
 * and NULs are added where needed so that each archive stays at its offset modulo 4.
 * @throws KmodsealError E_UNSUPPORTED (an lz4 archive to change), FormatError (a malformed archive)
 */
export async function repackInitramfs(
  image: Uint8Array,
  file: string,
  fs: Initramfs,
  replace: ReadonlyMap<InitramfsEntry, Uint8Array>,
  compress: ArchiveCompressor,
): Promise<Uint8Array> {
  const changed = new Set<number>();
  const mine = new Set(fs.entries);
  for (const e of replace.keys()) {
    if (!mine.has(e)) throw new KmodsealError('E_USAGE', `${file}: an entry to replace is not one of this image's`);
    changed.add(e.archive);
  }
  for (const i of changed) repackable(file, fs, i);
  const parts: Uint8Array[] = [];
  let length = 0;
  const push = (b: Uint8Array): void => {
    parts.push(b);
    length += b.length;
  };
  let prevEnd = 0;
  for (let i = 0; i < fs.archives.length; i++) {
    const a = fs.archives[i]!;
    push(image.subarray(prevEnd, a.offset));
    if ((length & 3) !== (a.offset & 3)) push(new Uint8Array(((a.offset & 3) - (length & 3) + 4) & 3));
    prevEnd = a.offset + a.length;
    if (!changed.has(i)) {
      push(image.subarray(a.offset, prevEnd));
      continue;
    }
    const own = fs.entries.filter((e) => e.archive === i);
    const name = a.compression === 'none' ? file : `${file}[${a.compression} archive at 0x${a.offset.toString(16)}]`;
    const cpio = replaceCpioData(await archiveBytes(image, file, fs, i), name, own, replace);
    push(a.compression === 'none' ? cpio : await compress(a.compression as RepackCodec, cpio, i));
  }
  push(image.subarray(prevEnd));
  return concatBytes(parts);
}

/**
 * Refuses (E_UNSUPPORTED) re-packing archive `index`: lz4 (the kernel reads the legacy frame,
 * which has no end, and no encoder here writes it) and any codec but gzip, xz and zstd.
 */
export function repackable(file: string, fs: Initramfs, index: number): void {
  const a = fs.archives[index]!;
  if (a.compression === 'none' || a.compression === 'gzip' || a.compression === 'xz' || a.compression === 'zstd')
    return;
  throw new KmodsealError(
    'E_UNSUPPORTED',
    `${file}: the ${a.compression}-compressed archive at 0x${a.offset.toString(16)} holds files to replace, ` +
      `and kmodseal re-packs only gzip, xz and zstd archives (rebuild the initramfs with one of those)`,
  );
}
