/**
 * File-system edges: reading module files, walking trees, and looking modules up by name the
 * way kmod does (modules.dep, modules.alias, modules.builtin(.modinfo) of a module directory).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { KmodsealError } from '../bytes/errors.js';
import { parseModinfoString, type ModinfoEntry } from '../modinfo/modinfo.js';
import { certificatesFromPem } from '../keys/certificate.js';
import { loadAddon } from './addon.js';

export const MODULE_EXTENSIONS = ['.ko', '.ko.xz', '.ko.zst', '.ko.gz'] as const;

export function hasModuleExtension(p: string): boolean {
  return MODULE_EXTENSIONS.some((e) => p.endsWith(e));
}

/** What a non-regular file is, for error messages. */
function fileKind(st: fs.Stats): string {
  return st.isDirectory() ? 'is a directory' : st.isFIFO() ? 'not a regular file (a FIFO)' : st.isCharacterDevice() ? 'not a regular file (a character device)'
    : st.isBlockDevice() ? 'not a regular file (a block device)' : st.isSocket() ? 'not a regular file (a socket)' : 'not a regular file';
}

function ioError(file: string, e: unknown): KmodsealError {
  const err = e as NodeJS.ErrnoException;
  return new KmodsealError('E_IO', `${file}: cannot read: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message}`, { cause: e });
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
    const found = nativeIo.walk(dir, base === '.' ? '' : base.endsWith('/') ? base : `${base}/`, [...MODULE_EXTENSIONS]);
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

/** kmod's module-name normalisation: '-' becomes '_'. */
export function normalizeModname(name: string): string {
  return name.replace(/-/g, '_');
}

/** The module name kmod derives from a file name: basename without extension, normalised. */
export function modnameFromPath(p: string): string {
  const base = path.basename(p);
  const dot = base.indexOf('.');
  return normalizeModname(dot < 0 ? base : base.slice(0, dot));
}

/** kmod's alias normalisation: '-' becomes '_' outside of [...] classes. */
export function normalizeAlias(alias: string): string {
  let out = '';
  let inClass = false;
  for (const c of alias) {
    if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    out += c === '-' && !inClass ? '_' : c;
  }
  return out;
}

/** fnmatch(3) without flags: *, ?, [...] (with ! or ^ negation and ranges). */
export function fnmatch(pattern: string, s: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) re += '\\[';
      else {
        let body = pattern.slice(i + 1, close);
        if (body.startsWith('!') || body.startsWith('^')) body = '^' + body.slice(1);
        re += '[' + body.replace(/\\/g, '\\\\') + ']';
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(re + '$').test(s);
}

export type ModuleLookup =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'builtin'; readonly name: string; readonly modinfo: readonly ModinfoEntry[] };

/**
 * A module directory (/lib/modules/RELEASE) and kmod's lookups in it. Uses the text indexes
 * depmod writes next to its .bin files (same content).
 */
export class ModuleDirectory {
  readonly dir: string;
  private dep?: Map<string, string>;
  private aliases?: { pattern: string; module: string }[];
  private builtin?: Set<string>;
  private builtinInfo?: Map<string, ModinfoEntry[]>;

  constructor(dir: string) {
    this.dir = dir;
  }

  exists(): boolean {
    try {
      return fs.statSync(this.dir).isDirectory();
    } catch {
      return false;
    }
  }

  private readText(name: string): string | undefined {
    try {
      return fs.readFileSync(path.join(this.dir, name), 'latin1');
    } catch {
      return undefined;
    }
  }

  private depIndex(): Map<string, string> {
    if (this.dep) return this.dep;
    this.dep = new Map();
    const text = this.readText('modules.dep');
    if (text === undefined) {
      throw new KmodsealError('E_NOTFOUND', `${this.dir}/modules.dep: missing; run depmod for this module directory first`);
    }
    for (const line of text.split('\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const rel = line.slice(0, colon);
      const name = modnameFromPath(rel);
      if (!this.dep.has(name)) this.dep.set(name, rel.startsWith('/') ? rel : `${this.dir}/${rel}`);
    }
    return this.dep;
  }

  private aliasIndex(): { pattern: string; module: string }[] {
    if (this.aliases) return this.aliases;
    this.aliases = [];
    for (const line of (this.readText('modules.alias') ?? '').split('\n')) {
      const m = /^alias\s+(\S+)\s+(\S+)/.exec(line);
      if (m) this.aliases.push({ pattern: m[1]!, module: m[2]! });
    }
    return this.aliases;
  }

  private builtinIndex(): Set<string> {
    if (this.builtin) return this.builtin;
    this.builtin = new Set();
    for (const line of (this.readText('modules.builtin') ?? '').split('\n')) if (line) this.builtin.add(modnameFromPath(line));
    return this.builtin;
  }

  /** modinfo of built-in modules, from modules.builtin.modinfo ("name.key=value\0" records). */
  builtinModinfo(name: string): ModinfoEntry[] {
    if (!this.builtinInfo) {
      this.builtinInfo = new Map();
      const text = this.readText('modules.builtin.modinfo') ?? '';
      for (const rec of text.split('\0')) {
        const dot = rec.indexOf('.');
        if (dot <= 0) continue;
        const mod = rec.slice(0, dot);
        let list = this.builtinInfo.get(mod);
        if (!list) this.builtinInfo.set(mod, (list = []));
        list.push(parseModinfoString(rec.slice(dot + 1)));
      }
    }
    return this.builtinInfo.get(name) ?? [];
  }

  /** Looks a name or alias up like kmod_module_new_from_lookup (modules.dep, aliases, built-ins). */
  lookup(alias: string): ModuleLookup[] {
    const name = normalizeAlias(alias);
    const dep = this.depIndex();
    const direct = dep.get(name);
    if (direct) return [{ kind: 'file', path: direct }];
    const seen = new Set<string>();
    const out: ModuleLookup[] = [];
    for (const a of this.aliasIndex()) {
      if (seen.has(a.module) || !fnmatch(normalizeAlias(a.pattern), name)) continue;
      seen.add(a.module);
      const p = dep.get(normalizeModname(a.module));
      if (p) out.push({ kind: 'file', path: p });
      else if (this.builtinIndex().has(normalizeModname(a.module))) out.push({ kind: 'builtin', name: a.module, modinfo: this.builtinModinfo(a.module) });
    }
    if (out.length) return out;
    if (this.builtinIndex().has(name)) return [{ kind: 'builtin', name, modinfo: this.builtinModinfo(name) }];
    return [];
  }

  /** Looks up a module by name only (modinfo -m). */
  lookupName(name: string): ModuleLookup | undefined {
    const n = normalizeModname(name);
    const p = this.depIndex().get(n);
    if (p) return { kind: 'file', path: p };
    if (this.builtinIndex().has(n)) return { kind: 'builtin', name: n, modinfo: this.builtinModinfo(n) };
    return undefined;
  }
}

/** The module directory kmod would use: BASEDIR/lib/modules/RELEASE. */
export function moduleDirectory(release: string, basedir = ''): ModuleDirectory {
  // kmod_new() makes the directory absolute against the cwd, unnormalised
  return new ModuleDirectory(absolutePath(`${basedir}/lib/modules/${release}`));
}

/** The running kernel's release (uname -r). */
export function runningRelease(): string {
  return fs.readFileSync('/proc/sys/kernel/osrelease', 'latin1').trim();
}

let scratch = Buffer.allocUnsafe(0);
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
interface RangeFile {
  readonly size: number;
  read(buf: Uint8Array, at: number, len: number, pos: number): boolean;
  close(): void;
}

function openRangeFile(file: string): RangeFile | undefined {
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
    return { size, read: (buf, at, len, pos) => io.pread(fd, buf, at, len, pos) === len, close: () => void io.close(fd) };
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
    if (size > scratch.length) scratch = Buffer.allocUnsafe(Math.max(size, Math.min(scratch.length * 2, 64 << 20)));
    if (!f.read(scratch, 0, size, 0)) return readFileBytes(file); // changed under us, or an I/O error: read again, naming it
    return scratch.subarray(0, size);
  } finally {
    f.close();
  }
}

/**
 * Reads only what `inspect` needs of an uncompressed module into the scratch buffer: the ELF
 * header, the section header table, the section-name table, `.modinfo`, and the signature
 * trailer and blob. Bytes outside those ranges are NOT valid. Returns undefined when the file
 * is not a plain little/big-endian ELF whose layout we can follow (the caller then reads it
 * whole, which also produces the exact error).
 */
export function readModuleSparse(file: string): Uint8Array | undefined {
  const f = openRangeFile(file);
  if (!f) return undefined;
  try {
    const size = f.size;
    if (size < 64) return undefined;
    if (size > scratch.length) scratch = Buffer.allocUnsafe(Math.max(size, Math.min(scratch.length * 2, 64 << 20)));
    const buf = scratch;
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
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const w = (off: number): number => (is64 ? dv.getUint32(off + (le ? 4 : 0), le) * 0x100000000 + dv.getUint32(off + (le ? 0 : 4), le) : dv.getUint32(off, le));
    const shoff = w(is64 ? 40 : 32);
    const shentsize = dv.getUint16(is64 ? 58 : 46, le);
    const shnum = dv.getUint16(is64 ? 60 : 48, le);
    const shstrndx = dv.getUint16(is64 ? 62 : 50, le);
    if (shentsize !== (is64 ? 64 : 40) || shstrndx >= shnum || shoff + shnum * shentsize > size) return undefined;
    // Modules keep the name table and the section headers at the end, followed by the
    // signature: one read from the name table (when it is near) to the end of the file.
    const tailFrom = size <= SPARSE_HEAD ? 0 : Math.min(shoff, size - SPARSE_HEAD);
    if (!load(tailFrom, size - tailFrom)) return undefined;
    const sec = (i: number): { name: number; type: number; off: number; size: number } => {
      const h = shoff + i * shentsize;
      return { name: dv.getUint32(h, le), type: dv.getUint32(h + 4, le), off: w(h + (is64 ? 24 : 16)), size: w(h + (is64 ? 32 : 20)) };
    };
    const str = sec(shstrndx);
    if (!load(str.off, str.size)) return undefined;
    for (let i = 1; i < shnum; i++) {
      const s = sec(i);
      if (s.type !== SHT_NOBITS_ && s.type !== 0 && s.off + s.size > size) return undefined; // let the full parser report it
      if (s.name + 8 < str.size && buf.toString('latin1', str.off + s.name, str.off + s.name + 9) === '.modinfo\0') {
        if (!load(s.off, s.size)) return undefined;
        break;
      }
    }
    const tail = Math.min(size, 40);
    if (!load(size - tail, tail)) return undefined;
    if (size >= 40 && buf.toString('latin1', size - 28, size) === '~Module signature appended~\n') {
      const t = size - 40;
      const sigLen = dv.getUint32(t + 8, false);
      const extra = sigLen + buf[t + 3]! + buf[t + 4]!;
      if (sigLen === 0 || extra > t || !load(t - extra, extra)) return undefined;
    }
    return buf.subarray(0, size);
  } catch {
    return undefined;
  } finally {
    f.close();
  }
}
const SHT_NOBITS_ = 8;
/** Bytes read from the start of a module in one go (the median Debian module is smaller). */
const SPARSE_HEAD = 16 * 1024;

/** stat(), or E_NOTFOUND naming the path. */
export function statOrNotFound(p: string): fs.Stats {
  const st = fs.statSync(p, { throwIfNoEntry: false });
  if (!st) throw new KmodsealError('E_NOTFOUND', `${p}: no such file or directory`);
  return st;
}

/**
 * The DER certificates in a file: one DER certificate, or every CERTIFICATE block of a PEM
 * file. Each must parse as X.509.
 * @throws KmodsealError E_USAGE (PEM without certificates), E_FORMAT (not X.509), E_IO
 */
export function readCertificateFile(file: string): Uint8Array[] {
  const bytes = readFileBytes(file);
  const text = Buffer.from(bytes).toString('latin1');
  const ders = text.includes('-----BEGIN') ? certificatesFromPem(text) : [bytes];
  if (!ders.length) throw new KmodsealError('E_USAGE', `${file}: no certificate in this PEM file`);
  for (const der of ders) {
    try {
      new crypto.X509Certificate(Buffer.from(der));
    } catch (e) {
      throw new KmodsealError('E_FORMAT', `${file}: not an X.509 certificate: ${(e as Error).message}`);
    }
  }
  return ders;
}
