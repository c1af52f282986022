/**
 * Module decompression: the only place that knows codecs. Like kmod (libkmod-file.c), the
 * codec is chosen by magic bytes, not by file name.
 *
 *   xz    FD 37 7A 58 5A 00   native/xz.c when built (decoding: the newer static liblzma of
 *                             kmodseal_unxz when built, else the system's), else lzma-native
 *   zstd  28 B5 2F FD         zstd-napi
 *   gzip  1F 8B               node:zlib
 *
 * Output is bounded by {@link MAX_MODULE_SIZE}: a bomb fails with E_LIMIT, never an allocation
 * larger than the limit.
 */
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { FormatError, KmodsealError } from '../bytes/errors.js';
import { ByteReader } from '../bytes/reader.js';
import { loadAddon } from '../io/addon.js';
import { systemLiblzma } from '../io/env.js';

/** A module file's compression, from its magic bytes: `.ko`, `.ko.xz`, `.ko.zst` or `.ko.gz`. */
export type Compression = 'none' | 'xz' | 'zstd' | 'gzip';

/** The largest decompressed module we accept (the largest Debian module is ~20 MiB). */
export const MAX_MODULE_SIZE = 512 * 1024 * 1024;

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC = [0x1f, 0x8b];

function startsWith(data: Uint8Array, magic: readonly number[]): boolean {
  return data.length >= magic.length && magic.every((b, i) => data[i] === b);
}

/** The compression of a module file, by magic. Never throws. */
export function probeCompression(data: Uint8Array): Compression {
  if (startsWith(data, XZ_MAGIC)) return 'xz';
  if (startsWith(data, ZSTD_MAGIC)) return 'zstd';
  if (startsWith(data, GZIP_MAGIC)) return 'gzip';
  return 'none';
}

/** Extension kmod gives each compression. */
export const COMPRESSION_EXT: Record<Compression, string> = {
  none: '.ko',
  xz: '.ko.xz',
  zstd: '.ko.zst',
  gzip: '.ko.gz',
};

const require = createRequire(import.meta.url);
interface NativeXz {
  /** threads > 1: liblzma's threaded decoder (the blocks of a multi-block stream in parallel). */
  decode(input: Uint8Array, maxOutput: number, sizeHint?: number, threads?: number): Buffer;
  decodeInto(input: Uint8Array, output: Uint8Array): number;
  encode(input: Uint8Array, dictSize: number): Buffer;
  /** encode() on the libuv thread pool (absent in an addon built before it existed). */
  encodeAsync?(input: Uint8Array, dictSize: number): Promise<Buffer>;
}
type NativeXzDecoder = Pick<NativeXz, 'decode' | 'decodeInto'> & { version(): string };

let nativeXz: NativeXz | null | undefined;
/** The addon over the system liblzma: the encoder (and a decoder). */
function loadNativeXz(): NativeXz | null {
  if (nativeXz === undefined) nativeXz = loadAddon<NativeXz>('kmodseal_xz');
  return nativeXz;
}

let xzDecoder: NativeXzDecoder | null | undefined;
/**
 * The fastest native decoder: kmodseal_unxz (static, newer liblzma) unless
 * KMODSEAL_SYSTEM_LIBLZMA=1, else kmodseal_xz. Every liblzma decodes a stream to the same bytes.
 */
function loadXzDecoder(): NativeXzDecoder | null {
  if (xzDecoder !== undefined) return xzDecoder;
  const fast = systemLiblzma() ? null : loadAddon<NativeXzDecoder>('kmodseal_unxz');
  return (xzDecoder = fast ?? (loadNativeXz() as NativeXzDecoder | null));
}

/**
 * `xz --check=crc32 --lzma2=dict=SIZE` (preset 6) through the system liblzma, the library the
 * xz tool uses (same bytes); undefined when the native fast path is not built.
 */
export function nativeXzEncode(data: Uint8Array, dictSize: number): Uint8Array | undefined {
  return loadNativeXz()?.encode(data, dictSize);
}

/**
 * {@link nativeXzEncode} off the calling thread (libuv's pool): many calls in flight use every
 * core. Same bytes. `data` must not change until the promise settles.
 */
export function nativeXzEncodeAsync(data: Uint8Array, dictSize: number): Promise<Uint8Array> | undefined {
  const n = loadNativeXz();
  if (!n) return undefined;
  if (!n.encodeAsync) return Promise.resolve(n.encode(data, dictSize));
  return n.encodeAsync(data, dictSize).catch((e: Error & { code?: string }) => {
    throw new KmodsealError('E_COMPRESS', `xz: ${e.message}`, { cause: e });
  });
}

/** Which xz implementation is in use (for diagnostics and benchmarks). */
export function xzBackend(): 'liblzma' | 'lzma-native' {
  return loadNativeXz() ? 'liblzma' : 'lzma-native';
}

/**
 * Sum of the uncompressed sizes recorded in an .xz file's index(es), or undefined when the
 * footer/index cannot be read (the decoder then reports the real error).
 * Layout (xz file-format 1.0.4 §2.1.2, §4): ... Index | Stream Footer (CRC32, Backward Size, Flags, "YZ").
 */
export function xzUncompressedSize(data: Uint8Array): number | undefined {
  return xzIndexTotals(data, data.length)?.uncompressed;
}

/**
 * What the index of the xz stream ending at `end` (after its footer's "YZ") records: the bytes its
 * blocks take (each Unpadded Size rounded up to 4) and their uncompressed sizes, and where the
 * index starts; undefined when no readable index is there.
 */
export function xzIndexTotals(
  data: Uint8Array,
  end: number,
): { blocks: number; uncompressed: number; indexStart: number } | undefined {
  const n = end;
  if (n < 24 || n > data.length || data[n - 2] !== 0x59 || data[n - 1] !== 0x5a) return undefined;
  const backward = ((data[n - 8]! | (data[n - 7]! << 8) | (data[n - 6]! << 16) | (data[n - 5]! << 24)) >>> 0) + 1;
  const indexSize = backward * 4;
  const indexStart = n - 12 - indexSize;
  let p = indexStart;
  if (p < 12 || data[p] !== 0) return undefined;
  p++;
  const last = n - 12 - 4; // CRC32 of the index
  const varint = (): number | undefined => {
    let v = 0;
    for (let i = 0, mul = 1; i < 9 && p < last; i++, mul *= 128) {
      const b = data[p++]!;
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) return v;
    }
    return undefined;
  };
  const records = varint();
  if (records === undefined || records > 1_000_000) return undefined;
  let uncompressed = 0;
  let blocks = 0;
  for (let i = 0; i < records; i++) {
    const unpadded = varint();
    if (unpadded === undefined) return undefined;
    const u = varint();
    if (u === undefined) return undefined;
    blocks += (unpadded + 3) & ~3;
    uncompressed += u;
  }
  return { blocks, uncompressed, indexStart };
}

/** Largest output {@link xzDecodeWhole} decodes into one buffer. */
const WHOLE_XZ_MAX = 2 ** 31;

/**
 * A whole .xz file (e.g. a package's data.tar.xz) decoded natively in one piece, on `threads`
 * threads when the stream has several blocks with their sizes recorded (as `xz -T` and
 * dpkg-deb write them). Undefined when no native decoder is built or the xz index does not
 * give a size within bounds (`maxSize`, 2 GiB, 16x the input + 64 MiB): the caller then
 * streams (and reports its limit) itself.
 * @throws FormatError E_COMPRESS, E_TRUNCATED, E_LIMIT (offsets into `data`)
 */
export function xzDecodeWhole(
  data: Uint8Array,
  file: string,
  maxSize: number,
  threads: number,
): Uint8Array | undefined {
  const native = loadXzDecoder();
  const hint = xzUncompressedSize(data);
  // One buffer holds it all: beyond 2 GiB, the caller's limit, or 16x the input plus 64 MiB
  // (what real packages stay well within: a bomb's output must not sit in memory), the caller
  // streams. An index that understates the size meets the same bound as E_LIMIT.
  const limit = Math.min(maxSize, WHOLE_XZ_MAX, data.length * 16 + (64 << 20));
  if (!native || hint === undefined || hint > limit) return undefined;
  try {
    return native.decode(data, limit, hint, threads);
  } catch (e) {
    throw nativeXzFailure(file, e);
  }
}

function fail(
  file: string,
  code: 'E_COMPRESS' | 'E_LIMIT' | 'E_TRUNCATED',
  offset: number,
  format: string,
  detail: string,
  cause?: unknown,
): FormatError {
  return new FormatError(code, { file, offset, format, detail, cause });
}

/** A native xz decoder's error ({code, offset}) as a typed error: E_LIMIT and E_TRUNCATED kept, anything else E_COMPRESS. */
function nativeXzFailure(file: string, e: unknown): FormatError {
  const err = e as Error & { code?: string; offset?: number };
  const code = err.code === 'E_LIMIT' || err.code === 'E_TRUNCATED' ? err.code : 'E_COMPRESS';
  return fail(file, code, err.offset ?? 0, 'xz', err.message, e);
}

/**
 * Decompresses a module (or returns the input when it is not compressed).
 * @returns the ELF bytes (the input itself when uncompressed) and the compression found.
 * @throws FormatError E_COMPRESS (corrupt), E_TRUNCATED, E_LIMIT (bomb)
 */
export async function decompressModule(
  data: Uint8Array,
  file: string,
  maxSize = MAX_MODULE_SIZE,
): Promise<{ data: Uint8Array; compression: Compression }> {
  const compression = probeCompression(data);
  switch (compression) {
    case 'none':
      return { data, compression };
    case 'gzip':
      return { data: gunzip(data, file, maxSize), compression };
    case 'zstd':
      return { data: unzstd(data, file, maxSize), compression };
    case 'xz':
      return { data: await unxz(data, file, maxSize), compression };
  }
}

let xzScratch = new Uint8Array(0);
/**
 * Like {@link decompressModule}, but an .xz module may be decoded into a buffer reused across
 * calls on this thread (no allocation or fresh pages per module: bulk `inspect`). The result
 * is valid only until the next call; callers copy what they keep.
 */
export async function decompressModuleTransient(
  data: Uint8Array,
  file: string,
  maxSize = MAX_MODULE_SIZE,
): Promise<{ data: Uint8Array; compression: Compression }> {
  const native = probeCompression(data) === 'xz' ? loadXzDecoder() : null;
  const hint = native ? xzUncompressedSize(data) : undefined;
  if (!native || hint === undefined || hint > maxSize) return decompressModule(data, file, maxSize);
  if (xzScratch.length < hint + 1) xzScratch = new Uint8Array(Math.max(hint + 1, xzScratch.length * 2));
  try {
    // one spare byte: a stream longer than its index claims fails with E_LIMIT, not silently
    const n = native.decodeInto(data, xzScratch.subarray(0, hint + 1));
    return { data: xzScratch.subarray(0, n), compression: 'xz' };
  } catch (e) {
    // the index lied: decode the slow way, bounded
    if ((e as { code?: string }).code === 'E_LIMIT') return decompressModule(data, file, maxSize);
    throw nativeXzFailure(file, e);
  }
}

function gunzip(data: Uint8Array, file: string, maxSize: number): Uint8Array {
  try {
    return zlib.gunzipSync(data, { maxOutputLength: maxSize });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE')
      throw fail(file, 'E_LIMIT', 0, 'gzip', `decompressed size exceeds ${maxSize} bytes`, e);
    if (err.code === 'Z_BUF_ERROR') throw fail(file, 'E_TRUNCATED', data.length, 'gzip', 'gzip stream ends early', e);
    throw fail(file, 'E_COMPRESS', 0, 'gzip', `corrupt gzip data: ${err.message}`, e);
  }
}

let zstdMod: typeof import('zstd-napi') | undefined;
function unzstd(data: Uint8Array, file: string, maxSize: number): Uint8Array {
  zstdMod ??= require('zstd-napi') as typeof import('zstd-napi');
  const r = new ByteReader(data, { file, format: 'zstd' });
  // Frame header: magic, descriptor; Frame_Content_Size lets us refuse bombs before decoding.
  const fhd = data.length > 4 ? data[4]! : 0;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const dictIdFlag = fhd & 3;
  const fcsSize = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  if (fcsSize > 0) {
    const at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][dictIdFlag]!;
    if (at + fcsSize <= data.length) {
      let size = 0;
      for (let i = fcsSize - 1; i >= 0; i--) size = size * 256 + data[at + i]!;
      if (fcsSize === 2) size += 256;
      if (size > maxSize)
        throw r.error('E_LIMIT', at, `zstd frame declares ${size} bytes, more than the ${maxSize}-byte limit`);
    }
  }
  try {
    const dec = new zstdMod.Decompressor();
    dec.setParameters({ windowLogMax: 27 });
    const out = dec.decompress(data);
    if (out.length > maxSize) throw r.error('E_LIMIT', 0, `decompressed size exceeds ${maxSize} bytes`);
    return out;
  } catch (e) {
    if (e instanceof FormatError) throw e;
    const msg = (e as Error).message;
    if (/incomplete|truncat|src size/i.test(msg))
      throw fail(file, 'E_TRUNCATED', data.length, 'zstd', `zstd stream ends early: ${msg}`, e);
    throw fail(file, 'E_COMPRESS', 0, 'zstd', `corrupt zstd data: ${msg}`, e);
  }
}

async function unxz(data: Uint8Array, file: string, maxSize: number): Promise<Uint8Array> {
  const hint = xzUncompressedSize(data);
  if (hint !== undefined && hint > maxSize) {
    throw fail(
      file,
      'E_LIMIT',
      data.length - 12,
      'xz',
      `xz index declares ${hint} bytes, more than the ${maxSize}-byte limit`,
    );
  }
  const native = loadXzDecoder();
  if (native) {
    try {
      return native.decode(data, maxSize, hint ?? 0);
    } catch (e) {
      throw nativeXzFailure(file, e);
    }
  }
  const lzma = require('lzma-native') as {
    decompress(b: Uint8Array, o: object, cb: (r: Buffer, e?: Error) => void): void;
  };
  // lzma-native decodes on another thread while this one goes on: it gets a copy, since callers
  // read the next module into the same scratch buffer (a shared view decoded garbage)
  const input = Buffer.from(data);
  const out = await new Promise<Buffer>((resolve, reject) =>
    lzma.decompress(input, {}, (res, err) => (err ? reject(err) : resolve(res))),
  ).catch((e: Error) => {
    throw fail(
      file,
      /end|truncat/i.test(e.message) ? 'E_TRUNCATED' : 'E_COMPRESS',
      0,
      'xz',
      `corrupt xz data: ${e.message}`,
      e,
    );
  });
  if (out.length > maxSize) throw fail(file, 'E_LIMIT', 0, 'xz', `decompressed size exceeds ${maxSize} bytes`);
  return out;
}
