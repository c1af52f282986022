/**
 * `attach`: put a bundle's detached signatures back onto the modules of an independent build
 * (Documentation/kbuild/reproducible-builds.rst step 4, what `sign-file -s <sig>` does per module).
 *
 * Modules pair with manifest records by path; a record left over pairs with the one module left
 * over that differs only in its compression suffix (`a/b.ko.xz` and `a/b.ko`). A pair is accepted
 * only when the module's unsigned, decompressed bytes hash to the manifest's SHA-256. Everything
 * is checked before anything is written; the writes are all-or-nothing (rolled back from
 * in-memory originals).
 */
import fs from 'node:fs';
import path from 'node:path';
import { KmodsealError, isKmodsealError } from '../bytes/errors.js';
import { parsePkcs7 } from '../modsig/signature.js';
import { readFileBytes } from '../io/files.js';
import { appendModuleSignature } from '../sign/cms.js';
import { compressModule } from '../sign/compressed.js';
import { decompressModule } from '../compress/index.js';
import { stripModuleSignature } from '../sign/cms.js';
import { MANIFEST_NAME, SIGNATURE_SUFFIX, parseManifest, type ModuleRecord } from './manifest.js';
import { bytesEqual, moduleKey, sha256Hex, signerId } from './module-parts.js';
import { count } from '../report/counts.js';
import { defaultJobs, mapLimit } from '../run/pool.js';
import { fileMode, listTreeModules, writeAllOrNothing, type PlannedWrite, type TreeModule } from './tree-io.js';

/** Why a module or signature cannot be attached. */
export type AttachProblemReason =
  /** The module's unsigned content does not hash to the manifest's value. */
  | 'content-mismatch'
  /** A module of the tree has no record in the manifest. */
  | 'module-without-signature'
  /** A manifest record has no module in the tree. */
  | 'signature-without-module'
  /** A record's `.sig` file is missing from the bundle. */
  | 'signature-file-missing'
  /** A `.sig` file of the bundle is not named by the manifest. */
  | 'signature-file-unlisted'
  /** The `.sig` file is not a PKCS#7 or names another signer than the manifest. */
  | 'bad-signature'
  /** Tree files and records pair only across compressions, and not one to one (a.ko and a.ko.gz for the one record a.ko.xz). */
  | 'duplicate-module'
  /** The module file cannot be read or decompressed. */
  | 'unreadable-module';

/** One reason {@link attach} refused: the module or signature and what is wrong with it. */
export interface AttachProblem {
  /** Tree-relative module path, or bundle-relative signature path. */
  readonly path: string;
  readonly reason: AttachProblemReason;
  readonly detail: string;
}

/** Attach refused: nothing was written. `problems` names every offending module or signature. */
export class AttachRefusedError extends KmodsealError {
  readonly problems: readonly AttachProblem[];
  constructor(problems: readonly AttachProblem[]) {
    const shown = problems.slice(0, 20).map((p) => `  ${p.path}: ${p.reason}: ${p.detail}`);
    if (problems.length > 20) shown.push(`  ... and ${problems.length - 20} more`);
    super('E_SIG', `attach refused, nothing written (${count(problems.length, 'problem')}):\n${shown.join('\n')}`);
    this.name = 'AttachRefusedError';
    this.problems = problems;
  }
}

/** Options of {@link attach}. */
export interface AttachOptions {
  readonly jobs?: number;
  /** Test hook: called before each file write (throw to simulate a failing disk). @internal */
  readonly beforeWrite?: (file: string, index: number) => void;
}

/** What {@link attach} did: modules signed, left unchanged, and the bundle and tree used. */
export interface AttachResult {
  readonly bundle: string;
  readonly tree: string;
  /** Modules that received a signature. */
  readonly attached: number;
  /** Modules left unchanged (already carrying exactly these bytes, or recorded unsigned). */
  readonly unchanged: number;
  readonly written: readonly string[];
}

interface Pair {
  readonly file: string;
  readonly relPath: string;
  readonly record: ModuleRecord;
}

function listSigFiles(bundleDir: string): string[] {
  const out: string[] = [];
  const visit = (d: string, rel: string): void => {
    for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      if (ent.isDirectory()) visit(path.join(d, ent.name), r);
      else if (ent.name.endsWith(SIGNATURE_SUFFIX)) out.push(r);
    }
  };
  visit(bundleDir, '');
  return out.sort();
}

/**
 * Pairs tree modules with manifest records by path, as module trees are keyed (`x.ko` and
 * `x.ko.xz` side by side are two modules; depmod picks one). What is left pairs across a change
 * of compression (`x.ko.xz` recorded, `x.ko` built) when exactly one file and one record share
 * the name without suffix; more than one on either side is refused as ambiguous.
 */
function pairModules(
  modules: readonly TreeModule[],
  records: readonly ModuleRecord[],
): { pairs: Pair[]; problems: AttachProblem[] } {
  const byPath = new Map(records.map((r) => [r.path, r]));
  const pairs: Pair[] = [];
  const problems: AttachProblem[] = [];
  const loose = new Map<string, { modules: TreeModule[]; records: ModuleRecord[] }>();
  const group = (key: string): { modules: TreeModule[]; records: ModuleRecord[] } => {
    let g = loose.get(key);
    if (!g) loose.set(key, (g = { modules: [], records: [] }));
    return g;
  };
  const paired = new Set<string>();
  for (const m of modules) {
    const record = byPath.get(m.relPath);
    if (record) {
      pairs.push({ file: m.file, relPath: m.relPath, record });
      paired.add(record.path);
    } else group(moduleKey(m.relPath)).modules.push(m);
  }
  for (const r of records) if (!paired.has(r.path)) group(moduleKey(r.path)).records.push(r);
  for (const g of loose.values()) {
    const [m, r] = [g.modules[0], g.records[0]];
    if (g.modules.length === 1 && g.records.length === 1)
      pairs.push({ file: m!.file, relPath: m!.relPath, record: r! });
    else if (m && r) {
      const detail =
        `ambiguous: ${g.modules.map((x) => x.relPath).join(', ')} against the bundle's ` +
        g.records.map((x) => x.path).join(', ');
      for (const x of g.modules) problems.push({ path: x.relPath, reason: 'duplicate-module', detail });
    } else {
      const none = 'no record in the bundle manifest';
      for (const x of g.modules) problems.push({ path: x.relPath, reason: 'module-without-signature', detail: none });
      for (const x of g.records)
        problems.push({ path: x.path, reason: 'signature-without-module', detail: 'no such module in the tree' });
    }
  }
  return { pairs, problems };
}

/**
 * Attaches the signatures in `bundleDir` to the modules below `tree`.
 * @throws AttachRefusedError (code E_SIG) listing every problem, with the tree untouched;
 *         FormatError E_FORMAT (bad manifest); KmodsealError E_IO (read or write failure; writes are rolled back)
 */
export async function attach(bundleDir: string, tree: string, options: AttachOptions = {}): Promise<AttachResult> {
  const manifestFile = path.join(bundleDir, MANIFEST_NAME);
  const manifest = parseManifest(Buffer.from(readFileBytes(manifestFile)).toString('utf8'), manifestFile);
  const problems: AttachProblem[] = [];

  const listed = new Set(manifest.modules.flatMap((r) => (r.signature ? [r.signature] : [])));
  for (const s of listSigFiles(bundleDir)) {
    if (!listed.has(s))
      problems.push({
        path: s,
        reason: 'signature-file-unlisted',
        detail: 'this .sig file is not named by manifest.json',
      });
  }

  const { modules } = listTreeModules(tree);
  const { pairs, problems: pairing } = pairModules(modules, manifest.modules);
  problems.push(...pairing);

  const jobs = options.jobs ?? defaultJobs();
  const planned = await mapLimit(pairs, jobs, async (p): Promise<PlannedWrite | undefined> => {
    const { record } = p;
    let original: Uint8Array;
    let content: Uint8Array;
    let compression;
    let decompressed: Uint8Array;
    try {
      original = readFileBytes(p.file);
      ({ data: decompressed, compression } = await decompressModule(original, p.file));
      content = stripModuleSignature(decompressed, p.file);
    } catch (e) {
      if (!isKmodsealError(e)) throw e;
      problems.push({ path: p.relPath, reason: 'unreadable-module', detail: e.message });
      return undefined;
    }
    const hash = sha256Hex(content);
    if (hash !== record.sha256 || content.length !== record.size) {
      problems.push({
        path: p.relPath,
        reason: 'content-mismatch',
        detail:
          `unsigned content has sha256 ${hash} (${content.length} bytes), the bundle's signature covers ` +
          `${record.sha256} (${record.size} bytes)`,
      });
      return undefined;
    }
    let signed: Uint8Array;
    if (record.signature === null) signed = content;
    else {
      const sigFile = path.join(bundleDir, ...record.signature.split('/'));
      if (!fs.existsSync(sigFile)) {
        problems.push({
          path: record.signature,
          reason: 'signature-file-missing',
          detail: `named by manifest.json for ${record.path}`,
        });
        return undefined;
      }
      const pkcs7 = readFileBytes(sigFile);
      try {
        const id = signerId(parsePkcs7(pkcs7, sigFile, 0));
        if (record.keyId !== null && (id.keyId !== record.keyId || id.keyIdType !== record.keyIdType)) {
          problems.push({
            path: record.signature,
            reason: 'bad-signature',
            detail: `signer ${id.keyIdType} ${id.keyId} is not the manifest's ${record.keyIdType ?? '?'} ${record.keyId}`,
          });
          return undefined;
        }
      } catch (e) {
        if (!isKmodsealError(e)) throw e;
        problems.push({ path: record.signature, reason: 'bad-signature', detail: e.message });
        return undefined;
      }
      signed = appendModuleSignature(content, pkcs7);
    }
    if (bytesEqual(signed, decompressed)) return undefined; // already exactly this: do not recompress or rewrite
    const data = await compressModule(signed, compression);
    return { file: p.file, data, original, mode: fileMode(p.file) };
  });

  if (problems.length > 0) {
    problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    throw new AttachRefusedError(problems);
  }
  const writes = planned.filter((w): w is PlannedWrite => w !== undefined);
  writeAllOrNothing(writes, options.beforeWrite ? { beforeWrite: (w, i) => options.beforeWrite!(w.file, i) } : {});
  return {
    bundle: bundleDir,
    tree,
    attached: writes.length,
    unchanged: pairs.length - writes.length,
    written: writes.map((w) => w.file),
  };
}
