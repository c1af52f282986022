/**
 * LZ4 legacy frame (`lz4 -l`), as the kernel's decompressor reads a kernel payload.
 * Authority: lib/decompress_unlz4.c (the container loop; the boot decompressor is its PREBOOT
 * build), scripts/Makefile.lib (cmd_lz4_with_size: `lz4 -l -9`, then the 4-byte LE uncompressed
 * size), lz4's doc/lz4_Block_format.md (the block format) and doc/lz4_Frame_format.md (legacy frame).
 *
 *   stream := 02 21 4C 18 { le32 size, size bytes of one LZ4 block }...
 *
 * The container is read as unlz4() reads it from memory: fewer than 4 bytes left or a size word
 * of 0 ends the stream (those bytes are ignored); a repeated magic (concatenated frames) is
 * skipped; a block whose size runs past the data is truncated.
 *
 * The boot decompressor does not bound its decoding by the block sizes: it decodes exactly
 * min(8 MiB, size left by the appended size word) bytes per block with LZ4_decompress_fast.
 * So only streams on which that and a bounds-checked decoder agree are accepted: every block
 * decodes to at most 8 MiB, every block but the last to exactly 8 MiB, every block consumes
 * exactly its size, and (when the appended size is given) the total is that size. Blocks are
 * independent (no match reaches before its block's output), a 0 match offset is corrupt, and a
 * block keeps the format's end-of-block rules (last sequence literals only; the last match ends
 * 5 bytes and starts 12 bytes before the block's end), which `lz4` always does.
 *
 * The block decoder is hand-written, as no npm package fits: lz4js's decompressBlock checks
 * no bounds and reports no errors (a read past the input yields undefined, a match before the
 * output copies zeros); `lz4` needs a native build or pulls four dependencies for its JS path;
 * the others are native or wasm. Here every read and write is checked, errors are
 * FormatErrors with absolute offsets, and output is allocated as it is produced, never past
 * `maxSize` (nor 8 MiB per block).
 */
import { ByteReader } from '../bytes/reader.js';

/** The legacy frame's magic number, read as a LE u32 (bytes 02 21 4C 18). */
export const LZ4_LEGACY_MAGIC = 0x184c2102;
/** What one legacy block decodes to at most (LZ4_DEFAULT_UNCOMPRESSED_CHUNK_SIZE). */
export const LZ4_LEGACY_BLOCK_SIZE = 8 << 20;

const MIN_MATCH = 4;
const LAST_LITERALS = 5; // the last 5 bytes of a block are literals
const MF_LIMIT = 12; // the last match starts at least 12 bytes before the block's end

export interface Lz4LegacyOptions {
  file: string;
  /** Absolute offset of `data[0]` (errors report absolute offsets). */
  base?: number;
  /** Largest output accepted: more is E_LIMIT. */
  maxSize: number;
  /** The uncompressed size appended after the stream (size_append), when known: the total must equal it. */
  uncompressedSize?: number;
}

/**
 * Decodes one LZ4 legacy stream (without the appended size word).
 * @returns the decoded bytes (a view of a buffer of its own).
 * @throws FormatError E_MAGIC (no legacy magic), E_TRUNCATED (a block runs past the data),
 *         E_COMPRESS (corrupt block, or a stream the kernel would decode differently),
 *         E_LIMIT (output past `maxSize`, or an appended size above it)
 */
export function decodeLz4Legacy(data: Uint8Array, options: Lz4LegacyOptions): Uint8Array {
  const r = new ByteReader(data, { file: options.file, format: 'lz4', base: options.base ?? 0 });
  const { maxSize, uncompressedSize: expected } = options;
  if (r.length < 4 || r.u32(0) !== LZ4_LEGACY_MAGIC)
    throw r.error('E_MAGIC', 0, 'no lz4 legacy frame magic 02 21 4c 18');
  if (expected !== undefined && expected > maxSize) {
    throw r.error(
      'E_LIMIT',
      r.length,
      `appended size declares ${expected} uncompressed bytes, more than the ${maxSize}-byte limit`,
    );
  }
  const limit = Math.min(maxSize, expected ?? Infinity);
  let out = new Uint8Array(0);
  let total = 0;
  let shortBlock = -1; // offset of a block that decoded to less than 8 MiB: it must be the last
  let p = 4;
  for (;;) {
    if (r.length - p < 4) break; // unlz4: "empty or end-of-file"
    const size = r.u32(p, 'lz4 block size');
    if (size === LZ4_LEGACY_MAGIC) {
      p += 4;
      continue;
    }
    if (size === 0) break;
    if (size > r.length - p - 4) {
      throw r.error('E_TRUNCATED', p, `lz4 block declares ${size} bytes, only ${r.length - p - 4} follow`);
    }
    if (shortBlock >= 0) {
      const at = (r.base + shortBlock).toString(16);
      throw r.error('E_COMPRESS', p, `a block follows the block at 0x${at}, which decodes to less than 8 MiB`);
    }
    const need = Math.min(total + LZ4_LEGACY_BLOCK_SIZE, limit);
    if (out.length < need) {
      const grown = new Uint8Array(Math.min(Math.max(need, out.length * 2), limit));
      grown.set(out.subarray(0, total));
      out = grown;
    }
    const end = decodeBlock(r, p + 4, p + 4 + size, out, total, maxSize, expected);
    if (end - total < LZ4_LEGACY_BLOCK_SIZE) shortBlock = p;
    total = end;
    p += 4 + size;
  }
  if (expected !== undefined && total !== expected) {
    throw r.error('E_COMPRESS', r.length, `stream decodes to ${total} bytes, the appended size says ${expected}`);
  }
  return out.subarray(0, total);
}

/**
 * One LZ4 block, data[start, end), decoded into out[op...]: its output is at most 8 MiB and
 * `out` has room for min(that, the limit). Returns the new output position.
 */
function decodeBlock(
  r: ByteReader,
  start: number,
  end: number,
  out: Uint8Array,
  op: number,
  maxSize: number,
  expected: number | undefined,
): number {
  const src = r.data;
  const first = op;
  const blockEnd = op + LZ4_LEGACY_BLOCK_SIZE;
  const cap = Math.min(blockEnd, out.length); // out.length never exceeds the limit
  let ip = start;
  let lastMatchStart = -1;
  let lastMatchEnd = -1;
  let lastMatchAt = start;

  /** Throws unless `len` more bytes fit at `op` (the sequence's token at `at`). */
  const room = (len: number, at: number): void => {
    const to = op + len;
    if (to <= cap) return;
    if (to > blockEnd) throw r.error('E_COMPRESS', at, 'block decodes to more than 8 MiB');
    if (to > maxSize) throw r.error('E_LIMIT', at, `decompressed size exceeds ${maxSize} bytes`);
    throw r.error('E_COMPRESS', at, `stream decodes past the appended size ${expected ?? 0}`);
  };
  /** A length's extension bytes (255 means another byte follows), from `ip`. */
  const extend = (len: number, what: string): number => {
    let s: number;
    do {
      if (ip >= end) throw r.error('E_COMPRESS', ip, `${what} runs past the end of the block`);
      s = src[ip++]!;
      len += s;
    } while (s === 255);
    return len;
  };

  for (;;) {
    const at = ip;
    if (ip >= end) throw r.error('E_COMPRESS', ip, 'block ends after a match, without its last literals');
    const token = src[ip++]!;
    let lit = token >>> 4;
    if (lit === 15) lit = extend(lit, 'literal length');
    if (lit > end - ip) throw r.error('E_COMPRESS', ip, `${lit} literals run past the end of the block`);
    room(lit, at);
    if (lit < 32) {
      for (let i = 0; i < lit; i++) out[op + i] = src[ip + i]!;
    } else {
      out.set(src.subarray(ip, ip + lit), op);
    }
    ip += lit;
    op += lit;
    if (ip === end) break; // the last sequence: literals only
    if (end - ip < 2) throw r.error('E_COMPRESS', ip, 'match offset runs past the end of the block');
    const offset = src[ip]! | (src[ip + 1]! << 8);
    if (offset === 0) throw r.error('E_COMPRESS', ip, 'match offset 0');
    if (offset > op - first) {
      const before = offset - (op - first);
      throw r.error(
        'E_COMPRESS',
        ip,
        `match offset ${offset} reaches ${before} bytes before the start of the block's output`,
      );
    }
    ip += 2;
    let len = token & 15;
    if (len === 15) len = extend(len, 'match length');
    len += MIN_MATCH;
    room(len, at);
    lastMatchStart = op;
    lastMatchAt = at;
    let from = op - offset;
    if (offset >= len && len >= 32) {
      out.copyWithin(op, from, from + len);
      op += len;
    } else {
      for (const stop = op + len; op < stop;) out[op++] = out[from++]!;
    }
    lastMatchEnd = op;
  }
  if (lastMatchEnd >= 0 && (lastMatchEnd > op - LAST_LITERALS || lastMatchStart > op - MF_LIMIT)) {
    throw r.error(
      'E_COMPRESS',
      lastMatchAt,
      'the last match ends within 5 bytes or starts within 12 bytes of the end of the block',
    );
  }
  return op;
}
