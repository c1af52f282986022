/**
 * Debian binary packages (.deb): list and extract members of data.tar.{xz,zst,gz}.
 * Authority: deb(5): an ar archive holding, in order, "debian-binary" ("2.0\n"),
 * "control.tar[.gz|.xz|.zst]" and "data.tar[.gz|.xz|.zst|.bz2|.lzma]".
 *
 * The tar is read with tar-stream; only the selected members are kept. A data.tar.xz read to
 * its end is first decoded in one buffer on all cores (xzDecodeWhole: within 2 GiB and 16x its
 * compressed size, else streamed); other compressions, and reads that may stop early (`until`),
 * stream through a decompressor and never hold the tar whole. Output is bounded: the whole tar
 * by `maxTarSize`, each kept member by `maxEntrySize` (E_LIMIT).
 */
import os from 'node:os';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { FormatError } from '../bytes/errors.js';
import { xzDecodeWhole } from '../compress/index.js';
import { parseAr, type ArMember } from './ar.js';

export type TarCompression = 'none' | 'gzip' | 'xz' | 'zstd';

export interface DebPackage {
  /** Contents of debian-binary without the newline ("2.0"). */
  readonly formatVersion: string;
  readonly control: ArMember;
  readonly data: ArMember;
  readonly controlCompression: TarCompression;
  readonly dataCompression: TarCompression;
}

export interface DebEntry {
  /** Path without the leading "./" (e.g. "boot/vmlinuz-6.1.0-56-amd64"; the root is "."; directories end with "/"). */
  readonly path: string;
  readonly type: string;
  readonly size: number;
  readonly mode: number;
  /** Target of a symlink or hard link. */
  readonly linkname: string | undefined;
}

export interface TarReadOptions {
  /** Which regular files to keep (all entries are listed). Default: none. */
  select?: (entry: DebEntry) => boolean;
  /** Largest kept member (default 1 GiB). */
  maxEntrySize?: number;
  /** Largest decompressed tar (default 8 GiB). */
  maxTarSize?: number;
  /**
   * Stop reading at the first entry for which this returns true (that entry is not listed):
   * decompression stops there too, so finding `boot/` early in a 100 MiB data.tar.xz is cheap.
   */
  until?: (entry: DebEntry) => boolean;
}

export interface TarContents {
  readonly entries: readonly DebEntry[];
  /** Kept regular files by path. */
  readonly files: ReadonlyMap<string, Uint8Array>;
}

const DEFAULT_MAX_ENTRY = 1024 * 1024 * 1024;
const DEFAULT_MAX_TAR = 8 * 1024 * 1024 * 1024;

/**
 * Splits a .deb into its members.
 * @throws FormatError E_MAGIC (not ar), E_FORMAT (members missing or out of order, unknown
 *         format version), E_UNSUPPORTED (bzip2/lzma data.tar), E_TRUNCATED
 */
export function parseDeb(data: Uint8Array, file: string): DebPackage {
  const members = parseAr(data, file);
  const fail = (code: 'E_FORMAT' | 'E_UNSUPPORTED', offset: number, detail: string): FormatError =>
    new FormatError(code, { file, offset, format: 'deb', detail });
  const [bin, control, payload] = members;
  if (!bin || bin.name !== 'debian-binary') throw fail('E_FORMAT', 8, 'first member is not "debian-binary"');
  const formatVersion = Buffer.from(bin.data).toString('latin1').trim();
  if (!/^2\.\d+$/.test(formatVersion))
    throw fail('E_FORMAT', bin.offset, `unsupported .deb format version "${formatVersion}"`);
  if (!control || !/^control\.tar(\.|$)/.test(control.name))
    throw fail('E_FORMAT', bin.offset + bin.data.length, 'second member is not control.tar*');
  const dataMember = members.find((m) => /^data\.tar(\.|$)/.test(m.name));
  if (!dataMember || !payload) throw fail('E_FORMAT', control.offset + control.data.length, 'no data.tar* member');
  return {
    formatVersion,
    control,
    data: dataMember,
    controlCompression: tarCompression(control, fail),
    dataCompression: tarCompression(dataMember, fail),
  };
}

function tarCompression(
  m: ArMember,
  fail: (code: 'E_FORMAT' | 'E_UNSUPPORTED', offset: number, detail: string) => FormatError,
): TarCompression {
  const ext = m.name.replace(/^(control|data)\.tar/, '');
  switch (ext) {
    case '':
      return 'none';
    case '.gz':
      return 'gzip';
    case '.xz':
      return 'xz';
    case '.zst':
      return 'zstd';
    default:
      throw fail('E_UNSUPPORTED', m.offset, `${m.name}: ${ext.slice(1)} compression is not supported`);
  }
}

/**
 * Lists the data.tar of a .deb and keeps the selected regular files.
 * @throws FormatError E_COMPRESS (corrupt stream), E_FORMAT (corrupt tar), E_LIMIT
 */
export function readDebData(deb: DebPackage, file: string, options: TarReadOptions = {}): Promise<TarContents> {
  return readTar(deb.data, deb.dataCompression, file, options);
}

/**
 * The `control` file of a .deb as ordered fields (deb-control(5); continuation lines joined with "\n").
 * @throws FormatError as {@link readDebData}, and E_FORMAT when control.tar has no ./control
 */
export async function readDebControl(deb: DebPackage, file: string): Promise<Map<string, string>> {
  const { files } = await readTar(deb.control, deb.controlCompression, file, {
    select: (e) => e.path === 'control',
    maxEntrySize: 16 * 1024 * 1024,
  });
  const text = files.get('control');
  if (!text)
    throw new FormatError('E_FORMAT', {
      file,
      offset: deb.control.offset,
      format: 'deb',
      detail: 'control.tar has no ./control file',
    });
  const fields = new Map<string, string>();
  let last: string | undefined;
  for (const line of Buffer.from(text).toString('utf8').split('\n')) {
    if (/^[ \t]/.test(line) && last !== undefined) fields.set(last, `${fields.get(last)!}\n${line.slice(1)}`);
    else {
      const m = /^([^:\s]+):\s*(.*)$/.exec(line);
      if (m) fields.set((last = m[1]!), m[2]!);
    }
  }
  return fields;
}

const require = createRequire(import.meta.url);

function decompressor(c: TarCompression): NodeJS.ReadWriteStream {
  switch (c) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return zlib.createGunzip();
    case 'xz':
      return (require('lzma-native') as { createDecompressor(): NodeJS.ReadWriteStream }).createDecompressor();
    case 'zstd':
      return new (require('zstd-napi') as typeof import('zstd-napi')).DecompressStream();
  }
}

class LimitError extends Error {}

/** The input in 1 MiB pieces: backpressure then stops decompression soon after the reader stops. */
function* slices(data: Uint8Array): Generator<Buffer> {
  const step = 1 << 20;
  for (let i = 0; i < data.length; i += step)
    yield Buffer.from(data.buffer, data.byteOffset + i, Math.min(step, data.length - i));
}

/** Counts bytes through; fails once more than `max` have passed. */
function byteLimit(max: number): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      total += chunk.length;
      if (total > max) cb(new LimitError(`decompressed tar exceeds ${max} bytes`));
      else cb(null, chunk);
    },
  });
}

async function readTar(
  member: ArMember,
  compression: TarCompression,
  file: string,
  options: TarReadOptions,
): Promise<TarContents> {
  const name = `${file}:${member.name}`;
  if (compression === 'xz' && !options.until) {
    // A whole data.tar.xz is decoded in one piece, its blocks on all cores (dpkg-deb writes
    // several); a read that may stop early streams instead.
    const maxTar = options.maxTarSize ?? DEFAULT_MAX_TAR;
    let whole: Uint8Array | undefined;
    try {
      whole = xzDecodeWhole(member.data, name, maxTar, Math.max(1, Math.min(8, os.availableParallelism())));
    } catch (e) {
      throw e instanceof FormatError ? e.rebase(name, member.offset) : e;
    }
    if (whole) return readTar({ ...member, data: whole }, 'none', file, options);
  }
  const maxEntry = options.maxEntrySize ?? DEFAULT_MAX_ENTRY;
  const select = options.select ?? (() => false);
  const entries: DebEntry[] = [];
  const files = new Map<string, Uint8Array>();
  const extract = tar.extract();
  let stopped = false;
  let failure: FormatError | undefined;
  const fail = (code: 'E_LIMIT' | 'E_FORMAT' | 'E_COMPRESS', detail: string, cause?: unknown): FormatError =>
    (failure ??= new FormatError(code, {
      file: name,
      offset: member.offset,
      format: compression === 'none' ? 'tar' : compression,
      detail,
      cause,
    }));
  const decoder = decompressor(compression);
  // pipeline() destroys every stream with the first error: the first emitter is the culprit.
  let firstFailure: 'decoder' | 'tar' | undefined;
  decoder.once('error', () => (firstFailure ??= 'decoder'));
  extract.once('error', () => (firstFailure ??= 'tar'));
  const done = pipeline(
    Readable.from(slices(member.data)),
    decoder,
    byteLimit(options.maxTarSize ?? DEFAULT_MAX_TAR),
    extract,
  ).catch((e: Error) => {
    if (e instanceof LimitError) throw fail('E_LIMIT', e.message, e);
    if (failure) throw failure;
    throw fail(firstFailure === 'decoder' ? 'E_COMPRESS' : 'E_FORMAT', `${member.name}: ${e.message}`, e);
  });
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const e: DebEntry = {
        path: h.name.replace(/^\.\//, '').replace(/^\/+/, '') || '.',
        type: h.type ?? 'file',
        size: h.size ?? 0,
        mode: h.mode ?? 0,
        linkname: h.linkname ?? undefined,
      };
      if (options.until?.(e)) {
        stopped = true;
        entry.resume();
        break;
      }
      entries.push(e);
      if (e.type === 'file' && select(e)) {
        if (e.size > maxEntry)
          throw fail('E_LIMIT', `${e.path}: ${e.size} bytes, more than the ${maxEntry}-byte limit`);
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        files.set(e.path, Buffer.concat(chunks));
      } else {
        entry.resume();
      }
    }
  } catch (e) {
    extract.destroy();
    await done.catch(() => undefined);
    if (e instanceof FormatError) throw e;
    throw failure ?? fail('E_FORMAT', `${member.name}: ${(e as Error).message}`, e);
  }
  if (stopped) {
    // leaving the for-await loop destroyed the extractor; the pipeline's error is ours, not the input's
    await done.catch(() => undefined);
    return { entries, files };
  }
  await done;
  return { entries, files };
}
