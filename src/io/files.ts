/**
 * The host's files: reading module files (regular files only, opened non-blocking), positional
 * reads into a reused scratch buffer, tree walks (kmodseal_io when built, else node:fs), and
 * small text reads. Imports nothing above src/bytes; what the bytes mean is decided elsewhere.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KmodsealError } from '../bytes/errors.js';
import { loadAddon } from './addon.js';

export const MODULE_EXTENSIONS = ['.ko', '.ko.xz', '.ko.zst', '.ko.gz'] as const;

export function hasModuleExtension(p: string): boolean {
  return MODULE_EXTENSIONS.some((e) => p.endsWith(e));
}

/** What a non-regular file is, for error messages. */
function fileKind(st: fs.Stats): string {
  return st.isDirectory()
    ? 'is a directory'
    : st.isFIFO()
      ? 'not a regular file (a FIFO)'
      : st.isCharacterDevice()
        ? 'not a regular file (a character device)'
        : st.isBlockDevice()
          ? 'not a regular file (a block device)'
          : st.isSocket()
            ? 'not a regular file (a socket)'
            : 'not a regular file';
}

function ioError(file: string, e: unknown): KmodsealError {
  const err = e as NodeJS.ErrnoException;
  return new KmodsealError(
    'E_IO',
    `${file}: cannot read: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message}`,
    { cause: e },
  );
}

/**
 * Opens a regular file for reading. O_NONBLOCK: opening a FIFO must not wait for a writer
 * (it has no effect on regular files). @throws KmodsealError E_IO naming the file, also for
 * FIFOs, devices (/dev/zero would never end) and directories.
 */
export function openRegularFile(file: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw ioError(file, e);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new KmodsealError('E_IO', `${file}: cannot read: ${fileKind(st)}`);
    return { fd, size: st.size };
  } catch (e) {
    fs.closeSync(fd);
    throw e instanceof KmodsealError ? e : ioError(file, e);
  }
}

/** Reads a whole regular file (to its end: /proc and /sys files report no size). @throws KmodsealError E_IO with the OS reason. */
export function readFileBytes(file: string): Uint8Array {
  const { fd } = openRegularFile(file);
  try {
    return fs.readFileSync(fd);
  } catch (e) {
    throw ioError(file, e);
  } finally {
    fs.closeSync(fd);
  }
}

/** Every module file below a directory, sorted by path (bytewise) for stable output. */
export function walkModules(dir: string): string[] {
  if (nativeIo === undefined) nativeIo = loadAddon<NativeIo>('kmodseal_io');
  if (nativeIo) {
    // path.join's names: the normalised root, then '/'-joined names ('.' joins to nothing)
    const base = path.normalize(dir);
    const found = nativeIo.walk(dir, base === '.' ? '' : base.endsWith('/') ? base : `${base}/`, [
      ...MODULE_EXTENSIONS,
    ]);
    // sorted by bytes there; UTF-16 order differs only beyond the BMP, and a sorted list sorts in one pass
    if (typeof found !== 'number') return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    // an error: walked again below, which names it
  }
  return walkModulesPortable(dir);
}

/** {@link walkModules} by node:fs alone (the fallback, and the reference the addon is tested against). */
export function walkModulesPortable(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch (e) {
      throw new KmodsealError('E_IO', `${d}: cannot read directory: ${(e as Error).message}`, { cause: e });
    }
    for (const ent of entries) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) visit(p);
      else if ((ent.isFile() || ent.isSymbolicLink()) && hasModuleExtension(ent.name)) out.push(p);
    }
  };
  visit(dir);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** kmod's path_make_absolute_cwd: the path joined to the cwd, not normalised. */
export function absolutePath(p: string): string {
  return p.startsWith('/') ? p : `${process.cwd()}/${p}`;
}

/** Whether `p` is a directory (false when it cannot be stat'ed). */
export function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A text file read as latin1, or undefined when it cannot be read. */
export function readTextOptional(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
}

/** The running kernel's release (uname -r). */
export function runningRelease(): string {
  return fs.readFileSync('/proc/sys/kernel/osrelease', 'latin1').trim();
}

let scratch = Buffer.allocUnsafe(0);
/**
 * This thread's scratch buffer, grown to at least `size` bytes (reused: what it held before is
 * gone). The bytes a readFileScratch() or a sparse module read returns live here.
 */
export function scratchBuffer(size: number): Buffer {
  if (size > scratch.length) scratch = Buffer.allocUnsafe(Math.max(size, Math.min(scratch.length * 2, 64 << 20)));
  return scratch;
}
/** native/io.c: positional reads without node:fs's per-call bookkeeping (errors as -errno). */
interface NativeIo {
  open(path: string): number;
  size(fd: number): number;
  pread(fd: number, buf: Uint8Array, at: number, len: number, pos: number): number;
  close(fd: number): number;
  /** Files and symlinks below `root` ending in one of `exts`, as prefix + relative path, or -errno. */
  walk(root: string, prefix: string, exts: string[]): string[] | number;
}
let nativeIo: NativeIo | null | undefined;

/**
 * An open file for positional reads into a buffer: kmodseal_io when built, else node:fs.
 * `read` fills exactly `len` bytes at `pos` (false on a short read or any error); undefined
 * when the file cannot be opened or is not a regular file (callers then take the node:fs path,
 * which names the error).
 */
export interface RangeFile {
  readonly size: number;
  read(buf: Uint8Array, at: number, len: number, pos: number): boolean;
  close(): void;
}

export function openRangeFile(file: string): RangeFile | undefined {
  if (nativeIo === undefined) nativeIo = loadAddon<NativeIo>('kmodseal_io');
  const io = nativeIo;
  if (io) {
    const fd = io.open(file);
    if (fd < 0) return undefined;
    const size = io.size(fd);
    if (size < 0) {
      io.close(fd);
      return undefined;
    }
    return {
      size,
      read: (buf, at, len, pos) => io.pread(fd, buf, at, len, pos) === len,
      close: () => void io.close(fd),
    };
  }
  let fd: number, size: number;
  try {
    ({ fd, size } = openRegularFile(file));
  } catch {
    return undefined;
  }
  return {
    size,
    read: (buf, at, len, pos) => {
      let done = 0;
      try {
        while (done < len) {
          const n = fs.readSync(fd, buf, at + done, len - done, pos + done);
          if (n === 0) return false;
          done += n;
        }
      } catch {
        return false;
      }
      return true;
    },
    close: () => fs.closeSync(fd),
  };
}

/** The first `n` bytes of a regular file (fewer when it is shorter). @throws KmodsealError E_IO */
export function readFileHead(file: string, n: number): Uint8Array {
  const { fd, size } = openRegularFile(file);
  try {
    const out = new Uint8Array(Math.min(n, size));
    let done = 0;
    while (done < out.length) {
      const k = fs.readSync(fd, out, done, out.length - done, done);
      if (k === 0) break;
      done += k;
    }
    return out.subarray(0, done);
  } catch (e) {
    throw ioError(file, e);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads a whole file into a reused buffer (no allocation, no GC pressure on large batches).
 * The returned view is valid only until the next call on the same thread: callers must copy
 * whatever they keep.
 * @throws KmodsealError E_IO
 */
export function readFileScratch(file: string): Uint8Array;
/** As above, but a file larger than `maxSize` is not read: its size is returned instead. */
export function readFileScratch(file: string, maxSize: number): Uint8Array | number;
export function readFileScratch(file: string, maxSize = Infinity): Uint8Array | number {
  const f = openRangeFile(file);
  if (!f) return readFileBytes(file); // produces the right E_IO message
  try {
    const size = f.size;
    if (size > maxSize) return size;
    const buf = scratchBuffer(size);
    if (!f.read(buf, 0, size, 0)) return readFileBytes(file); // changed under us, or an I/O error: read again, naming it
    return buf.subarray(0, size);
  } finally {
    f.close();
  }
}

/** stat(), or E_NOTFOUND naming the path. */
export function statOrNotFound(p: string): fs.Stats {
  const st = fs.statSync(p, { throwIfNoEntry: false });
  if (!st) throw new KmodsealError('E_NOTFOUND', `${p}: no such file or directory`);
  return st;
}
