/**
 * `detach`: move every module signature of a tree into a bundle (one `<relpath>.sig` per module,
 * the bare PKCS#7 as `sign-file -d` writes it, plus manifest.json), and leave the tree unsigned
 * unless `keep`. Compressed modules are rewritten with the same codec and the kernel's
 * Makefile.modinst settings (sign/compressed.ts), so an xz tree stays byte-reproducible.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KmodsealError, isKmodsealError } from '../bytes/errors.js';
import { readFileBytes } from '../io/files.js';
import { compressModule } from '../sign/compressed.js';
import { copyBytes } from '../bytes/reader.js';
import {
  encodeManifest,
  MANIFEST_FORMAT,
  MANIFEST_NAME,
  MANIFEST_VERSION,
  SIGNATURE_SUFFIX,
  type ModuleRecord,
} from './manifest.js';
import { sha256Hex, splitModule } from './module-parts.js';
import { defaultJobs, mapLimit } from '../run/pool.js';
import { fileMode, listTreeModules, writeAllOrNothing, type PlannedWrite } from './tree-io.js';

/** Options of {@link detach}. */
export interface DetachOptions {
  /** Leave the tree's modules signed (only write the bundle). */
  readonly keep?: boolean;
  /** Concurrent modules (default: CPU count). */
  readonly jobs?: number;
}

/** What {@link detach} did: the modules whose signatures went into the bundle, and those that had none. */
export interface DetachResult {
  readonly tree: string;
  readonly bundle: string;
  /** Modules whose signature went into the bundle. */
  readonly signed: number;
  /** Modules that had no signature (recorded in the manifest with `signature: null`). */
  readonly unsigned: readonly string[];
  /** Module paths that are symbolic links (not touched, not recorded). */
  readonly symlinks: readonly string[];
  /** Modules rewritten without their signature (0 with `keep`). */
  readonly rewritten: number;
  readonly records: readonly ModuleRecord[];
}

/**
 * Detaches the signatures of every module below `tree` into `bundleDir` (created; must be absent or empty).
 * Nothing is written until every module has been read and split; the tree rewrite is all-or-nothing.
 * @throws KmodsealError E_USAGE (bundle not empty), E_IO; FormatError from a module (E_SIG, E_COMPRESS, ...)
 *         named by path.
 */
export async function detach(tree: string, bundleDir: string, options: DetachOptions = {}): Promise<DetachResult> {
  if (fs.existsSync(bundleDir) && (!fs.statSync(bundleDir).isDirectory() || fs.readdirSync(bundleDir).length > 0)) {
    throw new KmodsealError('E_USAGE', `${bundleDir}: the bundle directory must be absent or empty`);
  }
  const { modules, symlinks } = listTreeModules(tree);
  const keep = options.keep ?? false;
  const planned = await mapLimit(modules, options.jobs ?? defaultJobs(), async (m) => {
    const original = readFileBytes(m.file);
    let parts;
    try {
      parts = await splitModule(original, m.file);
    } catch (e) {
      if (isKmodsealError(e)) throw new KmodsealError(e.code, `${m.relPath}: ${e.message}`, { cause: e });
      throw e;
    }
    const record: ModuleRecord = {
      path: m.relPath,
      signature: parts.pkcs7 ? m.relPath + SIGNATURE_SUFFIX : null,
      sha256: sha256Hex(parts.content),
      size: parts.content.length,
      compression: parts.compression,
      keyIdType: parts.signer?.keyIdType ?? null,
      keyId: parts.signer?.keyId ?? null,
      issuer: parts.signer?.issuer ?? null,
      hashAlgorithm: parts.signer?.hashAlgorithm ?? null,
    };
    let rewrite: PlannedWrite | undefined;
    if (!keep && parts.pkcs7) {
      // compressModule('none') returns its input: copy so the write does not alias the read buffer
      const data =
        parts.compression === 'none'
          ? copyBytes(parts.content)
          : await compressModule(parts.content, parts.compression);
      rewrite = { file: m.file, data, original, mode: fileMode(m.file) };
    }
    return { record, pkcs7: parts.pkcs7, rewrite };
  });

  const bundleWrites: PlannedWrite[] = [];
  for (const p of planned) {
    if (p.pkcs7 && p.record.signature)
      bundleWrites.push({
        file: path.join(bundleDir, ...p.record.signature.split('/')),
        data: p.pkcs7,
        original: undefined,
        mode: 0o644,
      });
  }
  const records = planned.map((p) => p.record);
  bundleWrites.push({
    file: path.join(bundleDir, MANIFEST_NAME),
    data: encodeManifest({ format: MANIFEST_FORMAT, version: MANIFEST_VERSION, modules: records }),
    original: undefined,
    mode: 0o644,
  });
  writeAllOrNothing(bundleWrites);
  const treeWrites = planned.flatMap((p) => (p.rewrite ? [p.rewrite] : []));
  try {
    writeAllOrNothing(treeWrites);
  } catch (e) {
    // the tree is as it was; do not leave a bundle that claims otherwise
    for (const w of bundleWrites) fs.rmSync(w.file, { force: true });
    throw e;
  }
  return {
    tree,
    bundle: bundleDir,
    signed: records.filter((r) => r.signature !== null).length,
    unsigned: records.filter((r) => r.signature === null).map((r) => r.path),
    symlinks,
    rewritten: treeWrites.length,
    records,
  };
}
