/**
 * Compressed kernel payloads: codec detection by magic, stream extents, bounded decompression.
 * Authority: Documentation/arch/x86/boot.rst (payload), scripts/extract-vmlinux (magics),
 * scripts/Makefile.lib (`*_with_size` appends a 4-byte LE uncompressed size), xz file-format
 * 1.0.4 §2.1.2 (stream footer), RFC 8878 §3.1.1 (zstd frame), RFC 1952 (gzip header).
 *
 *   gzip  1F 8B 08            xz  FD 37 7A 58 5A 00      zstd  28 B5 2F FD
 *   bzip2 42 5A 68 ("BZh")    lzma 5D 00 00              lz4 (legacy)  02 21 4C 18
 *   lzo   89 4C 5A 4F ("\x89LZO")
 *
 * gzip, xz, zstd and lz4 are decoded (xz, zstd and lz4's legacy frame through src/compress);
 * the others are recognised and refused with E_UNSUPPORTED naming the codec. Every decode is
 * bounded by `maxSize`.
 *
 */
import zlib from 'node:zlib';
import { ByteReader } from '../bytes/reader.js';
import { FormatError } from '../bytes/errors.js';
import { decompressModule, xzIndexTotals } from './index.js';
import { decodeLz4Legacy } from './lz4.js';

/** The compression of a kernel image's payload. */
export type KernelCodec = 'gzip' | 'xz' | 'zstd' | 'bzip2' | 'lzma' | 'lz4' | 'lzo';

/** Largest decompressed kernel we accept (Debian's amd64 vmlinux is ~66 MiB). */
export const MAX_KERNEL_SIZE = 1024 * 1024 * 1024;

const MAGICS: readonly (readonly [KernelCodec, readonly number[]])[] = [
  ['gzip', [0x1f, 0x8b, 0x08]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lzma', [0x5d, 0x00, 0x00]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
];

/** The codec whose magic starts `data` at `off`, or undefined. Never throws. */
export function probeCodec(data: Uint8Array, off = 0): KernelCodec | undefined {
  for (const [codec, magic] of MAGICS) {
    if (off + magic.length > data.length) continue;
    let ok = true;
    for (let i = 0; i < magic.length && ok; i++) ok = data[off + i] === magic[i];
    if (ok) return codec;
  }
  return undefined;
}

/** Offsets of every occurrence of a codec's magic, at most `limit` of them. Never throws. */
export function findCodecMagics(data: Uint8Array, codec: KernelCodec, limit: number): number[] {
  const magic = MAGICS.find(([c]) => c === codec)![1];
  const out: number[] = [];
  const first = magic[0]!;
  for (let i = data.indexOf(first); i >= 0 && out.length < limit; i = data.indexOf(first, i + 1)) {
    if (probeCodec(data, i) === codec) out.push(i);
  }
  return out;
}

/**
 * End (exclusive) of the xz stream starting at `start`, found by its footer: the first "YZ"
 * whose stream flags equal the header's, whose CRC32 checks, and whose index accounts for every
 * byte from the stream header to the index (so that the footer of an .xz file stored inside the
 * stream, as an initramfs's compressed modules are, is not taken for it). Undefined if none.
 * Needed when a stream is followed by other bytes (ARM zImage, s390 image, initramfs).
 */
export function xzStreamEnd(data: Uint8Array, start: number): number | undefined {
  if (start + 24 > data.length) return undefined;
  const f0 = data[start + 6];
  const f1 = data[start + 7];
  for (let y = data.indexOf(0x59, start + 22); y >= 0 && y + 1 < data.length; y = data.indexOf(0x59, y + 1)) {
    if (data[y + 1] !== 0x5a || data[y - 2] !== f0 || data[y - 1] !== f1) continue;
    const footer = y - 10; // CRC32(4) Backward Size(4) Stream Flags(2) "YZ"
    const crc =
      (data[footer]! | (data[footer + 1]! << 8) | (data[footer + 2]! << 16) | (data[footer + 3]! << 24)) >>> 0;
    if (zlib.crc32(data.subarray(footer + 4, footer + 10)) !== crc) continue;
    const index = xzIndexTotals(data, y + 2);
    if (index && start + 12 + index.blocks === index.indexStart) return y + 2;
  }
  return undefined;
}

/**
 * End (exclusive) of the zstd frame starting at `start`, by walking its block headers
 * (RFC 8878 §3.1.1). Undefined if the frame runs past the data or is malformed.
 */
export function zstdFrameEnd(data: Uint8Array, start: number): number | undefined {
  let p = start + 4;
  if (p >= data.length) return undefined;
  const fhd = data[p]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  const dictIdSize = [0, 1, 2, 4][fhd & 3]!;
  const fcsSize = [single ? 1 : 0, 2, 4, 8][fcsFlag]!;
  p += 1 + (single ? 0 : 1) + dictIdSize + fcsSize;
  for (;;) {
    if (p + 3 > data.length) return undefined;
    const h = data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16);
    const last = h & 1;
    const type = (h >> 1) & 3;
    const size = h >>> 3;
    if (type === 3) return undefined; // reserved block type
    p += 3 + (type === 1 ? 1 : size);
    if (p > data.length) return undefined;
    if (last) break;
  }
  p += checksum ? 4 : 0;
  return p <= data.length ? p : undefined;
}

/**
 * Decompresses one stream of `codec` (the exact stream bytes, without an appended size word;
 * for gzip, trailing bytes after the member are ignored). Offsets in errors are absolute via
 * `base`. `uncompressedSize`, the size word appended after the stream, when given, is checked
 * by the lz4 decoder (the kernel's lz4 decoder decodes exactly that many bytes).
 * @returns a new array.
 * @throws FormatError E_UNSUPPORTED (bzip2, lzma, lzo), E_COMPRESS, E_TRUNCATED, E_LIMIT, E_MAGIC (lz4 without its magic)
 */
export async function decompressPayload(
  stream: Uint8Array,
  codec: KernelCodec,
  file: string,
  base: number,
  maxSize = MAX_KERNEL_SIZE,
  uncompressedSize?: number,
): Promise<Uint8Array> {
  const r = new ByteReader(stream, { file, format: codec, base });
  if (codec === 'gzip') return gunzipMember(r, maxSize);
  if (codec === 'lz4') return decodeLz4Legacy(stream, { file, base, maxSize, uncompressedSize });
  if (codec !== 'xz' && codec !== 'zstd') {
    throw r.error('E_UNSUPPORTED', 0, `${codec}-compressed kernel payload: no ${codec} decoder available`);
  }
  try {
    return (await decompressModule(stream, file, maxSize)).data;
  } catch (e) {
    if (e instanceof FormatError) throw e.rebase(file, base);
    throw e;
  }
}

/** One gzip member via raw inflate, so bytes after the member (padding, other data) are ignored. */
function gunzipMember(r: ByteReader, maxSize: number): Uint8Array {
  return gzipMember(r, 0, maxSize).out;
}

/**
 * The gzip member at `start` of `r` (RFC 1952), inflated raw, and where it ends: after its
 * deflate stream and the 8-byte CRC32/ISIZE trailer (not checked: the kernel's gunzip does not
 * check them either). Bytes after the member are not read.
 * @throws FormatError E_TRUNCATED, E_COMPRESS, E_LIMIT
 */
export function gzipMember(r: ByteReader, start: number, maxSize: number): { out: Uint8Array; end: number } {
  // RFC 1952 §2.3: ID1 ID2 CM FLG MTIME(4) XFL OS [FEXTRA] [FNAME] [FCOMMENT] [FHCRC]
  const flg = r.u8(start + 3, 'gzip FLG');
  let p = start + 10;
  if (flg & 4) p += 2 + r.u16(start + 10, 'gzip XLEN');
  if (flg & 8) p = skipCString(r, p, 'gzip FNAME');
  if (flg & 16) p = skipCString(r, p, 'gzip FCOMMENT');
  if (flg & 2) p += 2;
  r.need(p, 0, 'gzip header');
  let res: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    res = zlib.inflateRawSync(r.data.subarray(p), { maxOutputLength: maxSize, info: true }) as unknown as typeof res;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE')
      throw r.error('E_LIMIT', start, `decompressed size exceeds ${maxSize} bytes`);
    if (err.code === 'Z_BUF_ERROR') throw r.error('E_TRUNCATED', r.length, 'gzip stream ends early');
    throw r.error('E_COMPRESS', p, `corrupt gzip data: ${err.message}`);
  }
  const end = p + res.engine.bytesWritten + 8;
  r.need(end - 8, 8, 'gzip trailer');
  return { out: new Uint8Array(res.buffer.buffer, res.buffer.byteOffset, res.buffer.length), end };
}

function skipCString(r: ByteReader, p: number, what: string): number {
  while (r.u8(p, what) !== 0) p++;
  return p + 1;
}
