/**
 * Kernel boot images: detect the container and unwrap it to the kernel proper.
 * Authority: Documentation/arch/x86/boot.rst and arch/x86/boot/header.S (bzImage),
 * Documentation/arch/arm64/booting.rst (arm64 Image header), scripts/extract-vmlinux.
 *
 *   x86 bzImage (also a PE/EFI executable when it starts with "MZ"; Debian signs it)
 *     0x1f1  u8   setup_sects (0 means 4)     protected-mode code at (setup_sects+1)*512
 *     0x202  "HdrS"                           0x206 u16 protocol version (payload needs >= 0x208)
 *     0x248  u32  payload_offset (from the protected-mode start)
 *     0x24c  u32  payload_length   = compressed vmlinux (+ LE u32 size unless gzip)
 *   arm64 Image  0x38 "ARM\x64"  (raw, not ELF); Debian ships it gzip-compressed ("Image.gz")
 *   vmlinux      ELF
 *   anything else (ARM zImage, s390 image, EFI zboot): like extract-vmlinux, decode the first
 *     gzip/xz/zstd stream found in the file whose output is ELF or holds a Linux banner.
 */
import { ByteReader } from '../bytes/reader.js';
import { FormatError } from '../bytes/errors.js';
import { probeElf } from '../elf/elf.js';
import {
  MAX_KERNEL_SIZE,
  decompressPayload,
  findCodecMagics,
  probeCodec,
  xzStreamEnd,
  zstdFrameEnd,
  type KernelCodec,
} from '../compress/stream.js';
import { findBanner } from './banner.js';

/** The container a kernel file was recognised as. */
export type KernelImageKind = 'vmlinux' | 'bzimage' | 'arm64-image' | 'efi-zboot' | 'gzip' | 'scanned';

/** The bzImage setup header fields we use, named as in boot.rst. */
export interface BzImageHeaderRaw {
  readonly setup_sects: number;
  readonly version: number;
  readonly payload_offset: number;
  readonly payload_length: number;
}

export interface UnwrappedKernel {
  /** The container that was found. */
  readonly kind: KernelImageKind;
  /** True when the input is also a PE/COFF (EFI stub) executable ("MZ" + "PE\0\0"). */
  readonly pe: boolean;
  /** Compression of the payload, or undefined for a plain vmlinux / raw Image. */
  readonly compression: KernelCodec | undefined;
  /** Absolute offset of the compressed payload in the input (0 when not compressed). */
  readonly payloadOffset: number;
  /** Length of the compressed stream (0 when not compressed). */
  readonly payloadLength: number;
  readonly bzImage: BzImageHeaderRaw | undefined;
  /** The decompressed kernel: the input itself for a plain vmlinux/Image, else a new array. */
  readonly data: Uint8Array;
  /** True when `data` is an ELF vmlinux; false for a raw binary Image (arm64, armhf, s390x). */
  readonly isElf: boolean;
}

export interface UnwrapOptions {
  file: string;
  /** Bound on the decompressed size (default `MAX_KERNEL_SIZE`, 1 GiB). */
  maxSize?: number;
}

const ARM64_MAGIC = [0x41, 0x52, 0x4d, 0x64]; // "ARM\x64" at 0x38
const HDRS = [0x48, 0x64, 0x72, 0x53]; // "HdrS" at 0x202
/** How many magic occurrences per codec the scan tries (extract-vmlinux tries them all). */
const MAX_SCAN_CANDIDATES = 32;
const ZIMG = [0x7a, 0x69, 0x6d, 0x67]; // "zimg"

/** The container kind of a kernel file, by magic, or undefined if none is recognised. Never throws. */
export function probeKernelImage(data: Uint8Array): Exclude<KernelImageKind, 'scanned'> | undefined {
  if (probeElf(data)) return 'vmlinux';
  if (isBzImage(data)) return 'bzimage';
  if (matches(data, 0x38, ARM64_MAGIC)) return 'arm64-image';
  if (data.length >= 32 && data[0] === 0x4d && data[1] === 0x5a && matches(data, 4, ZIMG)) return 'efi-zboot';
  if (probeCodec(data) === 'gzip') return 'gzip';
  return undefined;
}

/**
 * Reads the x86 setup header.
 * @throws FormatError E_MAGIC (no "HdrS"), E_UNSUPPORTED (boot protocol < 2.08: no payload fields), E_TRUNCATED
 */
export function parseBzImageHeader(data: Uint8Array, file: string): BzImageHeaderRaw {
  const r = new ByteReader(data, { file, format: 'bzimage' });
  r.need(0, 0x250, 'setup header');
  if (!r.startsWith(0x202, HDRS)) throw r.error('E_MAGIC', 0x202, 'no "HdrS" setup header signature');
  const version = r.u16(0x206, 'version');
  if (version < 0x208)
    throw r.error(
      'E_UNSUPPORTED',
      0x206,
      `boot protocol ${version >> 8}.${(version & 0xff).toString().padStart(2, '0')} has no payload fields (needs 2.08)`,
    );
  const sects = r.u8(0x1f1, 'setup_sects');
  return {
    setup_sects: sects === 0 ? 4 : sects,
    version,
    payload_offset: r.u32(0x248, 'payload_offset'),
    payload_length: r.u32(0x24c, 'payload_length'),
  };
}

/**
 * Unwraps a kernel file to the decompressed kernel (vmlinux ELF when the container holds one).
 * @throws FormatError E_MAGIC (nothing recognisable, no decodable stream), E_RANGE/E_TRUNCATED
 *         (payload outside the file), E_UNSUPPORTED (bzip2/lzma/lzo payload), E_COMPRESS, E_LIMIT
 */
export async function unwrapKernelImage(data: Uint8Array, options: UnwrapOptions): Promise<UnwrappedKernel> {
  const { file } = options;
  const maxSize = options.maxSize ?? MAX_KERNEL_SIZE;
  const pe = isPe(data);
  const base = { pe, bzImage: undefined, payloadOffset: 0, payloadLength: 0 };
  const kind = probeKernelImage(data);
  if (kind === 'vmlinux') return { ...base, kind, compression: undefined, data, isElf: true };
  if (kind === 'arm64-image') return { ...base, kind, compression: undefined, data, isElf: false };
  if (kind === 'bzimage') return unwrapBzImage(data, file, maxSize, pe);
  if (kind === 'efi-zboot') return unwrapZboot(data, file, maxSize, pe);
  if (kind === 'gzip') {
    const out = await decompressPayload(data, 'gzip', file, 0, maxSize);
    return { ...base, kind, compression: 'gzip', payloadLength: data.length, data: out, isElf: probeElf(out) };
  }
  return scanForPayload(data, file, maxSize, pe);
}

/**
 * EFI zboot (arm64, riscv, loongarch; drivers/firmware/efi/libstub/zboot-header.S):
 * "MZ" | u16 | "zimg" | le32 payload offset | le32 payload size | 8 reserved | compression type
 * (NUL-padded ASCII: "gzip", "zstd", "lzma", "xz", ...). The payload is a compressed Image.
 */
async function unwrapZboot(data: Uint8Array, file: string, maxSize: number, pe: boolean): Promise<UnwrappedKernel> {
  const r = new ByteReader(data, { file, format: 'efi-zboot' });
  const offset = r.u32(8, 'payload offset');
  const size = r.u32(12, 'payload size');
  const type = r.cstring(24, 'compression type', Math.min(r.length, 32));
  const payload = r.bytes(offset, size, 'payload (offset, size)');
  const codec = probeCodec(payload);
  if (!codec) throw r.error('E_UNSUPPORTED', offset, `zboot payload compressed with "${type}": no decoder for it`);
  // zboot streams carry the uncompressed size after them (Makefile.zboot *_with_size), except gzip
  const sized = codec !== 'gzip' && payload.length >= 8;
  const stream = sized ? payload.subarray(0, payload.length - 4) : payload;
  const out = await decompressPayload(
    stream,
    codec,
    file,
    offset,
    maxSize,
    sized ? r.u32(offset + payload.length - 4, 'appended uncompressed size') : undefined,
  );
  return {
    kind: 'efi-zboot',
    pe,
    compression: codec,
    payloadOffset: offset,
    payloadLength: size,
    bzImage: undefined,
    data: out,
    isElf: probeElf(out),
  };
}

async function unwrapBzImage(data: Uint8Array, file: string, maxSize: number, pe: boolean): Promise<UnwrappedKernel> {
  const h = parseBzImageHeader(data, file);
  const r = new ByteReader(data, { file, format: 'bzimage' });
  const start = (h.setup_sects + 1) * 512 + h.payload_offset;
  const payload = r.bytes(start, h.payload_length, 'payload (payload_offset, payload_length)');
  const codec = probeCodec(payload);
  if (!codec) throw r.error('E_MAGIC', start, 'payload has no known compression magic');
  let stream = payload;
  let declared: number | undefined;
  if (codec !== 'gzip') {
    // scripts/Makefile.lib *_with_size: the uncompressed size follows the stream (LE u32).
    if (payload.length < 8) throw r.error('E_TRUNCATED', start, `payload of ${payload.length} bytes is too short`);
    const size = r.u32(start + payload.length - 4, 'appended uncompressed size');
    if (size > maxSize)
      throw r.error(
        'E_LIMIT',
        start + payload.length - 4,
        `payload declares ${size} uncompressed bytes, more than the ${maxSize}-byte limit`,
      );
    stream = payload.subarray(0, payload.length - 4);
    declared = size;
  }
  const out = await decompressPayload(stream, codec, file, start, maxSize, declared);
  return {
    kind: 'bzimage',
    pe,
    compression: codec,
    payloadOffset: start,
    payloadLength: h.payload_length,
    bzImage: h,
    data: out,
    isElf: probeElf(out),
  };
}

/**
 * extract-vmlinux's brute force, bounded: the first gzip/xz/zstd stream whose output is an ELF
 * or holds a "Linux version " banner.
 */
async function scanForPayload(data: Uint8Array, file: string, maxSize: number, pe: boolean): Promise<UnwrappedKernel> {
  let limitError: FormatError | undefined;
  for (const codec of ['gzip', 'xz', 'zstd'] as const) {
    for (const at of findCodecMagics(data, codec, MAX_SCAN_CANDIDATES)) {
      const end = codec === 'xz' ? xzStreamEnd(data, at) : codec === 'zstd' ? zstdFrameEnd(data, at) : data.length;
      if (end === undefined) continue;
      let out: Uint8Array;
      try {
        out = await decompressPayload(data.subarray(at, end), codec, file, at, maxSize);
      } catch (e) {
        if (e instanceof FormatError && e.code === 'E_LIMIT') limitError ??= e;
        if (e instanceof FormatError) continue; // a false magic match: try the next one
        throw e;
      }
      const isElf = probeElf(out);
      if (isElf || findBanner(out) !== undefined) {
        return {
          kind: 'scanned',
          pe,
          compression: codec,
          payloadOffset: at,
          payloadLength: end - at,
          bzImage: undefined,
          data: out,
          isElf,
        };
      }
    }
  }
  if (limitError) throw limitError;
  throw new FormatError('E_MAGIC', {
    file,
    offset: 0,
    format: 'kernel',
    detail: 'not a kernel image: no ELF header, bzImage header or decodable gzip/xz/zstd kernel payload',
  });
}

function isBzImage(data: Uint8Array): boolean {
  return matches(data, 0x202, HDRS) && data.length >= 0x250;
}

function isPe(data: Uint8Array): boolean {
  if (data.length < 0x40 || data[0] !== 0x4d || data[1] !== 0x5a) return false;
  const lfanew = (data[0x3c]! | (data[0x3d]! << 8) | (data[0x3e]! << 16) | (data[0x3f]! << 24)) >>> 0;
  return matches(data, lfanew, [0x50, 0x45, 0, 0]);
}

function matches(data: Uint8Array, off: number, magic: readonly number[]): boolean {
  if (off + magic.length > data.length) return false;
  for (let i = 0; i < magic.length; i++) if (data[off + i] !== magic[i]) return false;
  return true;
}
