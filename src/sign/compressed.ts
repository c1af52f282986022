/**
 * Signing compressed modules: decompress, sign the ELF, recompress the way `make
 * modules_install` does (the signature lives *inside* the compressed stream: install → strip
 * → sign → compress, kernel-load-checks §1.7 and §5).
 *
 * Authority: scripts/Makefile.modinst (6.1 and 6.12 identical):
 *   cmd_xz   = $(XZ) --check=crc32 --lzma2=dict=1MiB -f      → reproduced byte for byte (liblzma preset-6
 *              LZMA2 options with a 1 MiB dictionary, CRC32 check, single-threaded stream encoder)
 *   cmd_zstd = $(ZSTD) -T0 --rm -f -q                          → default level 3 with checksum and content
 *              size (the zstd CLI defaults); bytes equal the CLI's only for the same zstd version
 *   cmd_gzip = $(KGZIP) -n -f                                  → level 6, no name, mtime 0; node's zlib
 *              deflate is not GNU gzip's, so the bytes differ while the content is identical
 */
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { KmodsealError } from '../bytes/errors.js';
import { decompressModule, nativeXzEncodeAsync, type Compression } from '../compress/index.js';
import { signModuleBytes, signModuleParts, type Pkcs7Options } from './cms.js';
import type { Signer } from '../keys/signer.js';

const require = createRequire(import.meta.url);

/** Compression settings {@link signModuleFile} uses to recompress a signed module (the kernel's `make modules_install` defaults). */
export interface RecompressOptions {
  /** xz LZMA2 dictionary size in bytes. Default 1 MiB (Makefile.modinst `--lzma2=dict=1MiB`). */
  readonly xzDictSize?: number;
  /** zstd level. Default 3 (the zstd CLI default; Makefile.modinst passes none). */
  readonly zstdLevel?: number;
  /** gzip level. Default 6 (gzip's default; Makefile.modinst passes none). */
  readonly gzipLevel?: number;
}

interface LzmaNative {
  CHECK_CRC32: number;
  FILTER_LZMA2: unknown;
  MODE_NORMAL: number;
  MF_BT4: number;
  createStream(coder: 'streamEncoder', options: object): NodeJS.ReadWriteStream;
}

/** `xz --check=crc32 --lzma2=dict=<dictSize>` (preset 6 LZMA2 parameters, one thread). */
export async function xzCompress(data: Uint8Array, dictSize = 1 << 20): Promise<Uint8Array> {
  const fast = nativeXzEncodeAsync(data, dictSize);
  if (fast) return fast.then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  const lzma = require('lzma-native') as LzmaNative;
  // lzma-native reads `dictSize` (its README's `dict_size` is ignored) and a `preset` field
  // would overwrite the explicit values, so every preset-6 parameter is spelled out.
  const stream = lzma.createStream('streamEncoder', {
    check: lzma.CHECK_CRC32,
    filters: [
      {
        id: lzma.FILTER_LZMA2,
        options: { dictSize, lc: 3, lp: 0, pb: 2, mode: lzma.MODE_NORMAL, niceLen: 64, mf: lzma.MF_BT4, depth: 0 },
      },
    ],
  });
  const chunks: Buffer[] = [];
  return new Promise<Uint8Array>((resolve, reject) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('error', (e: Error) =>
      reject(new KmodsealError('E_COMPRESS', `xz compression failed: ${e.message}`, { cause: e })),
    );
    stream.once('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    stream.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
}

let zstdMod: typeof import('zstd-napi') | undefined;

/** `zstd -q` defaults: level 3, XXH64 checksum, content size in the frame header. */
export function zstdCompress(data: Uint8Array, level = 3): Uint8Array {
  zstdMod ??= require('zstd-napi') as typeof import('zstd-napi');
  const c = new zstdMod.Compressor();
  c.setParameters({ compressionLevel: level, checksumFlag: true, contentSizeFlag: true });
  return new Uint8Array(c.compress(Buffer.from(data.buffer, data.byteOffset, data.byteLength)));
}

/** `gzip -n`: no file name, mtime 0 (node's zlib header does both). */
export function gzipCompress(data: Uint8Array, level = 6): Uint8Array {
  return new Uint8Array(zlib.gzipSync(data, { level }));
}

/** Compresses module bytes in the given format with the kernel's install settings. */
export async function compressModule(
  data: Uint8Array,
  compression: Compression,
  options: RecompressOptions = {},
): Promise<Uint8Array> {
  switch (compression) {
    case 'none':
      return data;
    case 'xz':
      return xzCompress(data, options.xzDictSize);
    case 'zstd':
      return zstdCompress(data, options.zstdLevel);
    case 'gzip':
      return gzipCompress(data, options.gzipLevel);
  }
}

/** What {@link signModuleFile} returns: the file bytes to write (compressed like the input) and the signed ELF inside. */
export interface SignedModuleFile {
  /** The bytes to write: compressed like the input. */
  readonly data: Uint8Array;
  readonly compression: Compression;
  /** The signed, uncompressed ELF. */
  readonly signed: Uint8Array;
}

/**
 * Signs a module file's bytes whatever its compression (by magic, like kmod), replacing any
 * existing signature, and recompresses in the same format.
 * @throws FormatError E_COMPRESS / E_TRUNCATED / E_LIMIT (input stream), E_SIG (existing trailer)
 */
export async function signModuleFile(
  data: Uint8Array,
  signer: Signer,
  options: Pkcs7Options & RecompressOptions & { file?: string } = {},
): Promise<SignedModuleFile> {
  const { data: elf, compression } = await decompressModule(data, options.file ?? '<module>');
  const signed = await signModuleBytes(elf, signer, options);
  return { data: await compressModule(signed, compression, options), compression, signed };
}

/**
 * {@link signModuleFile} for writing: the output file is the concatenation of `parts`. An
 * uncompressed module comes back as [unsigned ELF (a view into `data`), signature tail], so
 * nothing is copied; `data` must stay unchanged until the parts are written. A compressed one
 * is [recompressed bytes].
 */
export async function signModuleFileParts(
  data: Uint8Array,
  signer: Signer,
  options: Pkcs7Options & RecompressOptions & { file?: string } = {},
): Promise<{ parts: Uint8Array[]; compression: Compression }> {
  const { data: elf, compression } = await decompressModule(data, options.file ?? '<module>');
  if (compression === 'none') {
    const { content, tail } = await signModuleParts(elf, signer, options);
    return { parts: [content, tail], compression };
  }
  const signed = await signModuleBytes(elf, signer, options);
  return { parts: [await compressModule(signed, compression, options)], compression };
}
