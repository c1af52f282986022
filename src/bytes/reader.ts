/**
 * The one byte reader behind every binary parser (ELF, module signature, BTF, PE, ar, ...).
 *
 * - Offset-addressed reads (`u8/u16/u32/u64(off)`) relative to this reader's window.
 * - One `DataView` per reader, created once; the byte order is fixed at construction.
 * - Every access goes through {@link ByteReader.need}: a read past the window throws a
 *   {@link FormatError} with the *absolute* offset in the original file (`base + off`).
 * - `bytes()` returns zero-copy views; `sub()` returns a child reader whose errors still
 *   report absolute offsets.
 */
import { FormatError, type ErrorCode } from './errors.js';

export interface ReaderOptions {
  /** File name used in error messages. */
  file: string;
  /** Format name used in error messages (e.g. "elf", "modsig"). */
  format: string;
  /** Absolute offset of `data[0]` in the original file. */
  base?: number;
  littleEndian?: boolean;
}

export class ByteReader {
  readonly data: Uint8Array;
  readonly file: string;
  readonly format: string;
  readonly base: number;
  readonly littleEndian: boolean;
  protected readonly view: DataView;

  constructor(data: Uint8Array, options: ReaderOptions) {
    this.data = data;
    this.file = options.file;
    this.format = options.format;
    this.base = options.base ?? 0;
    this.littleEndian = options.littleEndian ?? true;
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get length(): number {
    return this.data.length;
  }

  /** A FormatError at `off` (relative to this reader). */
  error(code: ErrorCode, off: number, detail: string): FormatError {
    return new FormatError(code, { file: this.file, offset: this.base + off, format: this.format, detail });
  }

  /** Throws E_TRUNCATED (or E_RANGE for impossible values) unless [off, off+len) lies inside the data. */
  need(off: number, len: number, what: string): void {
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < 0) {
      throw this.error(
        'E_RANGE',
        Number.isSafeInteger(off) && off >= 0 ? off : 0,
        `${what}: invalid offset ${off} or size ${len}`,
      );
    }
    if (off + len > this.data.length) {
      throw this.error(
        off > this.data.length ? 'E_RANGE' : 'E_TRUNCATED',
        Math.min(off, this.data.length),
        `${what}: needs ${len} bytes at 0x${(this.base + off).toString(16)}, only ${Math.max(0, this.data.length - off)} available`,
      );
    }
  }

  u8(off: number, what = 'u8'): number {
    this.need(off, 1, what);
    return this.data[off]!;
  }
  u16(off: number, what = 'u16'): number {
    this.need(off, 2, what);
    return this.view.getUint16(off, this.littleEndian);
  }
  u32(off: number, what = 'u32'): number {
    this.need(off, 4, what);
    return this.view.getUint32(off, this.littleEndian);
  }
  i32(off: number, what = 'i32'): number {
    this.need(off, 4, what);
    return this.view.getInt32(off, this.littleEndian);
  }
  u32be(off: number, what = 'u32be'): number {
    this.need(off, 4, what);
    return this.view.getUint32(off, false);
  }
  u64(off: number, what = 'u64'): bigint {
    this.need(off, 8, what);
    return this.view.getBigUint64(off, this.littleEndian);
  }
  /** A u64 as a number; throws E_RANGE above Number.MAX_SAFE_INTEGER. */
  u64n(off: number, what = 'u64'): number {
    this.need(off, 8, what);
    // two u32 reads: no BigInt allocation on this hot path
    const lo = this.view.getUint32(this.littleEndian ? off : off + 4, this.littleEndian);
    const hi = this.view.getUint32(this.littleEndian ? off + 4 : off, this.littleEndian);
    if (hi > 0x1fffff) throw this.error('E_RANGE', off, `${what}: value 0x${this.u64(off).toString(16)} too large`);
    return hi * 0x100000000 + lo;
  }
  /** A word of the given size (4 or 8 bytes) as a number. */
  word(off: number, size: 4 | 8, what = 'word'): number {
    return size === 8 ? this.u64n(off, what) : this.u32(off, what);
  }

  /**
   * Unchecked reads, for hot loops only: the caller has checked the whole range once with
   * {@link need} (or holds a reader whose window it walks inside). Out of range they return
   * garbage (or throw a RangeError from the DataView), never a FormatError.
   */
  u16Unchecked(off: number): number {
    return this.view.getUint16(off, this.littleEndian);
  }
  u32Unchecked(off: number): number {
    return this.view.getUint32(off, this.littleEndian);
  }
  /** A word of `size` bytes, unchecked; a 64-bit value of 2^53 or more is Infinity. */
  wordUnchecked(off: number, size: 4 | 8): number {
    if (size === 4) return this.view.getUint32(off, this.littleEndian);
    const lo = this.view.getUint32(this.littleEndian ? off : off + 4, this.littleEndian);
    const hi = this.view.getUint32(this.littleEndian ? off + 4 : off, this.littleEndian);
    const v = hi * 0x100000000 + lo;
    return v >= 2 ** 53 ? Infinity : v;
  }

  /** Zero-copy view of [off, off+len). */
  bytes(off: number, len: number, what = 'bytes'): Uint8Array {
    this.need(off, len, what);
    return this.data.subarray(off, off + len);
  }

  /** A child reader over [off, off+len) whose errors keep absolute offsets. */
  sub(off: number, len: number, what = 'region', format = this.format): ByteReader {
    const data = this.bytes(off, len, what);
    return new ByteReader(data, { file: this.file, format, base: this.base + off, littleEndian: this.littleEndian });
  }

  /** The same bytes read with another byte order (decided once by an identify step). */
  withEndian(littleEndian: boolean): ByteReader {
    return new ByteReader(this.data, { file: this.file, format: this.format, base: this.base, littleEndian });
  }

  /** A NUL-terminated string starting at `off`, ending at the NUL or at `end` (exclusive, default: data end). */
  cstring(off: number, what = 'string', end = this.data.length): string {
    this.need(off, 0, what);
    if (off >= end) throw this.error('E_RANGE', off, `${what}: offset past end of string table`);
    let i = off;
    while (i < end && this.data[i] !== 0) i++;
    return latin1(this.data, off, i);
  }

  /** True when `bytes` appear at `off`. Never throws. */
  startsWith(off: number, bytes: Uint8Array | readonly number[]): boolean {
    if (off < 0 || off + bytes.length > this.data.length) return false;
    for (let i = 0; i < bytes.length; i++) if (this.data[off + i] !== bytes[i]) return false;
    return true;
  }
}

/**
 * A {@link ByteReader} that also writes, for the few places that patch bytes in place (the
 * module signature info block, the kernel's extra-certificate area, relocated BTF): every
 * write is bounds-checked like a read.
 */
export class ByteWriter extends ByteReader {
  setU32(off: number, value: number, what = 'u32'): void {
    this.need(off, 4, what);
    this.view.setUint32(off, value, this.littleEndian);
  }
  setI32(off: number, value: number, what = 'i32'): void {
    this.need(off, 4, what);
    this.view.setInt32(off, value, this.littleEndian);
  }
  setU64(off: number, value: bigint, what = 'u64'): void {
    this.need(off, 8, what);
    this.view.setBigUint64(off, value, this.littleEndian);
  }
  /** A u32 inside a range the caller has checked once (hot loops). */
  setU32Unchecked(off: number, value: number): void {
    this.view.setUint32(off, value, this.littleEndian);
  }
}

/**
 * Bytes as a string, one char per byte (C-string semantics: what printf("%s") writes).
 * Output code re-encodes with `Buffer.from(s, 'latin1')` so arbitrary bytes round-trip.
 */
export function latin1(data: Uint8Array, start: number, end: number): string {
  if (end - start < 64) {
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(data[i]!);
    return s;
  }
  return Buffer.from(data.buffer, data.byteOffset + start, end - start).toString('latin1');
}

/** Hex of bytes, lowercase, no separators. */
export function toHex(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex');
}

/** Safe addition for sizes read from files: throws via the reader when the sum is not a safe integer. */
export function addSafe(r: ByteReader, off: number, a: number, b: number, what: string): number {
  const s = a + b;
  if (!Number.isSafeInteger(s)) throw r.error('E_RANGE', off, `${what}: ${a} + ${b} overflows`);
  return s;
}

/**
 * A detached copy of [start, end). Use this, not `.slice()`: on a Node Buffer `.slice()` is a
 * view, and views into a reused read buffer change under their holders.
 */
export function copyBytes(data: Uint8Array, start = 0, end = data.length): Uint8Array {
  return Uint8Array.prototype.slice.call(data, start, end);
}
