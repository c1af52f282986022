/** Helpers for the repro tests: corpus subsets copied into temp trees, "unsigned build" copies, re-sealing. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { walkModules } from '../../src/io/files.js';
import { decompressModule } from '../../src/compress/index.js';
import { compressModule } from '../../src/sign/compressed.js';
import { appendModuleSignature, signModuleContent, stripModuleSignature } from '../../src/sign/cms.js';
import type { Signer } from '../../src/keys/signer.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = process.env.KMODSEAL_CACHE
  ? path.join(process.env.KMODSEAL_CACHE, 'kernels')
  : path.join(ROOT, '.cache', 'kernels');

export interface CachedSet {
  readonly dir: string;
  readonly deb: string;
  /** lib/modules/<release> */
  readonly modulesDir: string;
  readonly release: string;
}

/** A cached kernel set from index.tsv (set, arch, package, version, unpacked dir, deb), or undefined. */
export function cachedSet(set: string): CachedSet | undefined {
  const index = path.join(CACHE, 'index.tsv');
  if (!fs.existsSync(index)) return undefined;
  const row = fs
    .readFileSync(index, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
    .find((f) => f[0] === set);
  const dir = row?.[4];
  if (!row || !dir || !fs.existsSync(path.join(dir, 'lib/modules'))) return undefined;
  const release = fs
    .readdirSync(path.join(dir, 'lib/modules'))
    .find((r) => fs.existsSync(path.join(dir, 'lib/modules', r, 'kernel')));
  return release ? { dir, deb: row[5]!, modulesDir: path.join(dir, 'lib/modules', release), release } : undefined;
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `kmodseal-repro-${prefix}-`));
}

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Every n-th element so that `count` are picked, deterministic. */
export function sample<T>(items: readonly T[], count: number): T[] {
  if (items.length <= count) return [...items];
  const step = items.length / count;
  return Array.from({ length: count }, (_, i) => items[Math.floor(i * step)]!);
}

/** Module paths (relative to `root`) of the given size bound, sampled. */
export function pickModules(root: string, count: number, maxSize = Infinity): string[] {
  const all = walkModules(root).filter((f) => fs.statSync(f).size <= maxSize);
  return sample(all, count).map((f) => path.relative(root, f));
}

/** Copies `rels` from `from` into `to` (keeping relative paths and modes). */
export function copySubset(from: string, to: string, rels: readonly string[]): void {
  for (const rel of rels) {
    fs.mkdirSync(path.dirname(path.join(to, rel)), { recursive: true });
    fs.copyFileSync(path.join(from, rel), path.join(to, rel));
  }
}

/** Copies a whole directory tree. */
export function copyTree(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true });
}

/** Rewrites every module below `root` through `fn` on its decompressed bytes, recompressing like the kernel. */
export async function rewriteModules(
  root: string,
  fn: (elf: Uint8Array, file: string) => Promise<Uint8Array> | Uint8Array,
): Promise<void> {
  for (const file of walkModules(root)) {
    const { data, compression } = await decompressModule(new Uint8Array(fs.readFileSync(file)), file);
    fs.writeFileSync(file, await compressModule(await fn(data, file), compression));
  }
}

/** The "unsigned build": every module stripped of its signature (independent of src/repro). */
export function stripTree(root: string): Promise<void> {
  return rewriteModules(root, (elf, file) => Uint8Array.prototype.slice.call(stripModuleSignature(elf, file)));
}

/** Re-seals a tree with another key: strip, sign with `signer` (sign-file's PKCS#7), recompress. */
export function resealTree(root: string, signer: Signer): Promise<void> {
  return rewriteModules(root, async (elf, file) => {
    const content = stripModuleSignature(elf, file);
    return appendModuleSignature(content, await signModuleContent(content, signer));
  });
}

/** cmp -s */
export function cmp(a: string, b: string): boolean {
  return fs.readFileSync(a).equals(fs.readFileSync(b));
}
