/**
 * The manifest of a detached-signature bundle (`manifest.json` at the bundle root).
 *
 *   bundle/
 *     manifest.json                         { format, version, modules: [ModuleRecord...] }
 *     <relpath of module>.sig               raw PKCS#7 DER, exactly what `sign-file -d` writes
 *
 * Documentation/kbuild/reproducible-builds.rst ("Module signing"): sign once, publish the
 * detached signatures, attach them to an independent rebuild (kernel-load-checks §7.1).
 */
import { FormatError } from '../bytes/errors.js';
import type { Compression } from '../compress/index.js';

export const MANIFEST_NAME = 'manifest.json';
export const MANIFEST_FORMAT = 'kmodseal-signature-bundle';
export const MANIFEST_VERSION = 1;
export const SIGNATURE_SUFFIX = '.sig';
/** More module records than any kernel ships (Debian amd64 6.12: 4230). */
export const MAX_MANIFEST_MODULES = 200_000;

/** One module in a detached-signature bundle's manifest. */
export interface ModuleRecord {
  /** Module path relative to the tree root, '/'-separated (with its compression suffix). */
  readonly path: string;
  /** Bundle-relative path of the `.sig` file, or null for a module that was unsigned. */
  readonly signature: string | null;
  /** SHA-256 of the unsigned, decompressed module (the bytes the signature covers), hex. */
  readonly sha256: string;
  /** Length of those bytes. */
  readonly size: number;
  readonly compression: Compression;
  /** Signer identification; null when unsigned. */
  readonly keyIdType: 'issuer-serial' | 'skid' | null;
  readonly keyId: string | null;
  readonly issuer: string | null;
  readonly hashAlgorithm: string | null;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: typeof MANIFEST_VERSION;
  readonly modules: readonly ModuleRecord[];
}

/** Manifest → JSON text (stable: records in path order, two-space indent, final newline). */
export function encodeManifest(m: Manifest): string {
  const modules = [...m.modules].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return `${JSON.stringify({ format: m.format, version: m.version, modules }, null, 2)}\n`;
}

const COMPRESSIONS = new Set(['none', 'xz', 'zstd', 'gzip']);

/** A relative '/'-path that cannot leave its root. */
export function isSafeRelativePath(p: string): boolean {
  return (
    p.length > 0 &&
    !p.startsWith('/') &&
    !p.includes('\\') &&
    !p.includes('\0') &&
    p.split('/').every((s) => s !== '' && s !== '.' && s !== '..')
  );
}

/**
 * Parses and validates manifest.json.
 * @throws FormatError E_FORMAT (not JSON, wrong format/version, bad or unsafe field, duplicate path), E_LIMIT
 */
export function parseManifest(text: string, file: string): Manifest {
  const bad = (detail: string): FormatError =>
    new FormatError('E_FORMAT', { file, offset: 0, format: 'manifest', detail });
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new FormatError('E_FORMAT', {
      file,
      offset: 0,
      format: 'manifest',
      detail: `not JSON: ${(e as Error).message}`,
      cause: e,
    });
  }
  const o = j as Record<string, unknown> | null;
  if (!o || typeof o !== 'object') throw bad('not a JSON object');
  if (o.format !== MANIFEST_FORMAT) throw bad(`"format" is not "${MANIFEST_FORMAT}"`);
  if (o.version !== MANIFEST_VERSION) throw bad(`unsupported version ${String(o.version)}`);
  if (!Array.isArray(o.modules)) throw bad('"modules" is not an array');
  if (o.modules.length > MAX_MANIFEST_MODULES)
    throw new FormatError('E_LIMIT', {
      file,
      offset: 0,
      format: 'manifest',
      detail: `more than ${MAX_MANIFEST_MODULES} modules`,
    });
  const seen = new Set<string>();
  const modules = o.modules.map((x: unknown, i: number): ModuleRecord => {
    const r = x as Record<string, unknown> | null;
    const where = `modules[${i}]`;
    if (!r || typeof r !== 'object') throw bad(`${where} is not an object`);
    const str = (k: string): string => {
      const v = r[k];
      if (typeof v !== 'string') throw bad(`${where}.${k} is not a string`);
      return v;
    };
    const strOrNull = (k: string): string | null => (r[k] === null || r[k] === undefined ? null : str(k));
    const path = str('path');
    if (!isSafeRelativePath(path)) throw bad(`${where}.path "${path}" is not a safe relative path`);
    if (seen.has(path)) throw bad(`${where}.path "${path}" is listed twice`);
    seen.add(path);
    const signature = strOrNull('signature');
    if (signature !== null && !isSafeRelativePath(signature))
      throw bad(`${where}.signature "${signature}" is not a safe relative path`);
    const sha256 = str('sha256');
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw bad(`${where}.sha256 is not 64 lowercase hex digits`);
    const size = r.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
      throw bad(`${where}.size is not a byte count`);
    const compression = str('compression');
    if (!COMPRESSIONS.has(compression)) throw bad(`${where}.compression "${compression}" is unknown`);
    const keyIdType = strOrNull('keyIdType');
    if (keyIdType !== null && keyIdType !== 'issuer-serial' && keyIdType !== 'skid')
      throw bad(`${where}.keyIdType "${keyIdType}" is unknown`);
    return {
      path,
      signature,
      sha256,
      size,
      compression: compression as Compression,
      keyIdType,
      keyId: strOrNull('keyId'),
      issuer: strOrNull('issuer'),
      hashAlgorithm: strOrNull('hashAlgorithm'),
    };
  });
  return { format: MANIFEST_FORMAT, version: MANIFEST_VERSION, modules };
}
