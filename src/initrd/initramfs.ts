/**
 * Initramfs images as the kernel unpacks them: a sequence of cpio archives ("newc" 070701 or
 * "crc" 070702), each either plain or compressed, with zero padding between them: the
 * uncompressed early-microcode archive that initramfs-tools and dracut put first, then the
 * main archive compressed with gzip, xz, zstd or lz4 (legacy frame).
 *
 * Authority: init/initramfs.c (unpack_to_rootfs: at a 4-aligned "0" a cpio archive, NUL bytes
 * skipped, anything else must be a compressed archive found by magic, decompressed and parsed
 * as cpio; "junk at the end of compressed archive" when its cpio does not end in a trailer),
 * lib/decompress.c (the magics), Documentation/driver-api/early-userspace/buffer-format.rst
 * (the newc header: 6-byte magic, 13 fields of 8 hex digits, the name padded so that header +
 * name end on 4 bytes, the data padded to 4, "TRAILER!!!" last).
 *
 *   archive := { header(110) name(namesize, NUL-terminated) pad4 data(filesize) pad4 }... trailer
 *
 * A compressed archive's end is where its stream ends (gzip: the deflate stream and its 8-byte
 * trailer; zstd: the last frame, frames following each other; xz: the stream footer); an lz4
 * archive, which has no end marker, runs to the end of the image. Bytes after it are read as
 * the kernel reads them: more archives.
 *
 * Everything is bounded: at most {@link MAX_INITRAMFS_SIZE} decompressed bytes in all, at most
 * {@link MAX_ENTRIES} entries, names at most PATH_MAX; errors are FormatErrors with the offset
 * (for a compressed archive: the file is `IMAGE[codec archive at 0xOFF]` and the offset is in
 * its decompressed bytes).
 */
import { ByteReader } from '../bytes/reader.js';
import {
  decompressPayload,
  gzipMember,
  probeCodec,
  xzStreamEnd,
  zstdFrameEnd,
  type KernelCodec,
} from '../compress/stream.js';

/** Bound on the decompressed bytes of one initramfs image (Debian's are 30-200 MiB). */
export const MAX_INITRAMFS_SIZE = 2 * 1024 * 1024 * 1024 - 1;
/** Bound on the number of cpio entries. */
export const MAX_ENTRIES = 1_000_000;
const PATH_MAX = 4096;
const HEADER = 110;
const TRAILER = 'TRAILER!!!';

/** File types of `mode` (S_IFMT). */
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/** One cpio archive of the image. */
export interface InitramfsArchive {
  /** Offset of the archive (or of its compressed stream) in the image. */
  readonly offset: number;
  /** Its length in the image (compressed length for a compressed archive). */
  readonly length: number;
  readonly compression: KernelCodec | 'none';
  /** The cpio bytes' length (decompressed). */
  readonly size: number;
  /** Entries, the trailer not counted. */
  readonly entries: number;
}

/** One cpio entry. */
export interface InitramfsEntry {
  /** The path as stored (no leading "./" removed; the kernel does not remove it either). */
  readonly name: string;
  readonly mode: number;
  readonly ino: number;
  readonly nlink: number;
  readonly mtime: number;
  /** Data (a view into the archive's bytes): a regular file's content, a symlink's target. */
  readonly data: Uint8Array;
  /** Index into {@link Initramfs.archives}. */
  readonly archive: number;
  /** Offset of the entry's header in its archive's (decompressed) bytes. */
  readonly offset: number;
}

/** An initramfs image read: its archives, and every entry in unpacking order. */
export interface Initramfs {
  readonly archives: readonly InitramfsArchive[];
  readonly entries: readonly InitramfsEntry[];
}

/** Whether `data` starts as an initramfs image can: a cpio magic, or a compressed stream. Never throws. */
export function probeInitramfs(data: Uint8Array): boolean {
  if (data.length >= 6 && isCpioMagic(data, 0)) return true;
  let i = 0;
  while (i < data.length && i < 4096 && data[i] === 0) i++;
  return i < data.length && (isCpioMagic(data, i) || probeCodec(data, i) !== undefined);
}

function isCpioMagic(d: Uint8Array, p: number): boolean {
  // "07070" then "1" (newc) or "2" (crc)
  return (
    p + 6 <= d.length &&
    d[p] === 0x30 &&
    d[p + 1] === 0x37 &&
    d[p + 2] === 0x30 &&
    d[p + 3] === 0x37 &&
    d[p + 4] === 0x30 &&
    (d[p + 5] === 0x31 || d[p + 5] === 0x32)
  );
}

function hex8(r: ByteReader, off: number, what: string): number {
  let v = 0;
  for (let i = 0; i < 8; i++) {
    const c = r.u8(off + i, what);
    const d =
      c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 55 : c >= 0x61 && c <= 0x66 ? c - 87 : -1;
    if (d < 0) throw r.error('E_FORMAT', off + i, `cpio ${what}: '${String.fromCharCode(c)}' is not a hex digit`);
    v = v * 16 + d;
  }
  return v;
}

const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Parses cpio archives in `r` from `start`, as the kernel's state machine does: archives, then
 * NUL padding, then (at a 4-aligned offset) more archives. Stops at the end of `r`, or at the first
 * byte that is neither NUL nor a cpio magic (returned, for the caller's compressed-archive check).
 */
function parseCpio(
  r: ByteReader,
  start: number,
  archive: number,
  out: InitramfsEntry[],
  stopAtForeign: boolean,
): { end: number; complete: boolean; entries: number } {
  let p = start;
  let complete = true;
  let count = 0;
  for (;;) {
    while (p < r.length && r.data[p] === 0) p++;
    if (p >= r.length) return { end: p, complete, entries: count };
    if (!isCpioMagic(r.data, p) || (p & 3) !== 0) {
      if (stopAtForeign) return { end: p, complete, entries: count };
      throw r.error('E_FORMAT', p, 'no cpio magic (junk at the end of the compressed archive)');
    }
    complete = false;
    for (;;) {
      r.need(p, HEADER, 'cpio header');
      if (!isCpioMagic(r.data, p)) throw r.error('E_FORMAT', p, 'no cpio magic where the next entry should start');
      const f = (i: number, what: string): number => hex8(r, p + 6 + 8 * i, what);
      const ino = f(0, 'c_ino');
      const mode = f(1, 'c_mode');
      const nlink = f(4, 'c_nlink');
      const mtime = f(5, 'c_mtime');
      const filesize = f(6, 'c_filesize');
      const namesize = f(11, 'c_namesize');
      if (namesize === 0 || namesize > PATH_MAX)
        throw r.error('E_FORMAT', p + 6 + 88, `cpio c_namesize ${namesize} (1 to ${PATH_MAX})`);
      const nameBytes = r.bytes(p + HEADER, namesize, 'cpio name');
      if (nameBytes[namesize - 1] !== 0) throw r.error('E_FORMAT', p + HEADER, 'cpio name is not NUL-terminated');
      const name = Buffer.from(nameBytes.subarray(0, namesize - 1)).toString('utf8');
      const dataAt = align4(p + HEADER + namesize);
      if (name === TRAILER) {
        p = align4(dataAt + filesize);
        complete = true;
        break;
      }
      const data = r.bytes(dataAt, filesize, `cpio data of ${name}`);
      if (out.length >= MAX_ENTRIES) throw r.error('E_LIMIT', p, `more than ${MAX_ENTRIES} cpio entries`);
      out.push({ name, mode, ino, nlink, mtime, data, archive, offset: p });
      count++;
      p = align4(dataAt + filesize);
      if (p > r.length) throw r.error('E_TRUNCATED', r.length, `cpio archive ends inside ${name}`);
      if (p === r.length) return { end: p, complete: false, entries: count };
    }
  }
}

/** End of consecutive zstd frames from `start` (skippable frames included), or undefined when the first does not end. */
function zstdFramesEnd(d: Uint8Array, start: number): number | undefined {
  let end = zstdFrameEnd(d, start);
  if (end === undefined) return undefined;
  while (end + 4 <= d.length && probeCodec(d, end) === 'zstd') {
    const next = zstdFrameEnd(d, end);
    if (next === undefined) break;
    end = next;
  }
  return end;
}

/**
 * Reads an initramfs image: every archive and every entry, in the order the kernel unpacks
 * them (a later entry of the same name replaces an earlier one when unpacked; both are listed).
 * @throws FormatError E_FORMAT (no cpio magic, bad header), E_TRUNCATED, E_COMPRESS, E_LIMIT,
 *   E_UNSUPPORTED (bzip2, lzma, lzo archives)
 */
export async function readInitramfs(data: Uint8Array, file: string, maxSize = MAX_INITRAMFS_SIZE): Promise<Initramfs> {
  const archives: InitramfsArchive[] = [];
  const entries: InitramfsEntry[] = [];
  const r = new ByteReader(data, { file, format: 'initramfs' });
  let p = 0;
  let budget = maxSize;
  while (p < data.length) {
    if (data[p] === 0) {
      p++;
      continue;
    }
    if (isCpioMagic(data, p) && (p & 3) === 0) {
      const first = entries.length;
      const res = parseCpio(r, p, archives.length, entries, true);
      if (!res.complete) throw r.error('E_TRUNCATED', res.end, 'cpio archive ends without its TRAILER!!! entry');
      archives.push({
        offset: p,
        length: res.end - p,
        compression: 'none',
        size: res.end - p,
        entries: entries.length - first,
      });
      p = res.end;
      continue;
    }
    const codec = probeCodec(data, p);
    if (!codec)
      throw r.error(
        'E_FORMAT',
        p,
        'neither a cpio archive nor a compressed one (invalid magic at start of compressed archive)',
      );
    let end: number;
    let cpio: Uint8Array;
    if (codec === 'gzip') ({ end, out: cpio } = gzipMember(r, p, budget));
    else {
      const e = codec === 'xz' ? xzStreamEnd(data, p) : codec === 'zstd' ? zstdFramesEnd(data, p) : data.length;
      if (e === undefined)
        throw r.error('E_TRUNCATED', data.length, `${codec} archive at 0x${p.toString(16)} does not end`);
      end = e;
      cpio = await decompressPayload(data.subarray(p, end), codec, file, p, budget);
    }
    budget -= cpio.length;
    const inner = new ByteReader(cpio, { file: `${file}[${codec} archive at 0x${p.toString(16)}]`, format: 'cpio' });
    const first = entries.length;
    const res = parseCpio(inner, 0, archives.length, entries, false);
    if (!res.complete)
      throw inner.error(
        'E_TRUNCATED',
        res.end,
        'cpio archive ends without its TRAILER!!! entry (junk at the end of the compressed archive)',
      );
    archives.push({
      offset: p,
      length: end - p,
      compression: codec,
      size: cpio.length,
      entries: entries.length - first,
    });
    p = end;
  }
  return { archives, entries };
}

/** A kernel module in an initramfs: its entry, and the release directory it lies in. */
export interface InitramfsModule {
  readonly entry: InitramfsEntry;
  /** The path as stored, without a leading "./" or "/". */
  readonly path: string;
  /** RELEASE of `[usr/]lib/modules/RELEASE/...`. */
  readonly release: string;
}

const MODULE_PATH = /^(?:usr\/)?lib\/modules\/([^/]+)\/.+\.ko(?:\.xz|\.zst|\.gz)?$/;

/**
 * The kernel modules of an initramfs (regular files named `*.ko[.xz|.zst|.gz]` below
 * `lib/modules/RELEASE/` or `usr/lib/modules/RELEASE/`), the last of each path winning as when
 * unpacked, in path order.
 */
export function initramfsModules(fs: Initramfs): InitramfsModule[] {
  const byPath = new Map<string, InitramfsModule>();
  for (const entry of fs.entries) {
    if ((entry.mode & S_IFMT) !== S_IFREG) continue;
    const path = entry.name.replace(/^(\.\/|\/)+/, '');
    const m = MODULE_PATH.exec(path);
    if (m) byPath.set(path, { entry, path, release: m[1]! });
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
