/** Shared test helpers: the cached Debian corpus, running the CLI in-process and as a process. */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { run } from '../src/cli/main.js';
import type { Io } from '../src/cli/io.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CACHE = process.env.KMODSEAL_CACHE
  ? path.join(process.env.KMODSEAL_CACHE, 'kernels')
  : path.join(ROOT, '.cache', 'kernels');
/**
 * The test kernel kit: KMODSEAL_TESTKERNEL when set, else the one testkernel/build.sh builds
 * into the cache (npm test builds it first).
 */
export const TESTKERNEL =
  process.env.KMODSEAL_TESTKERNEL ||
  path.join(process.env.KMODSEAL_CACHE ?? path.join(ROOT, '.cache'), 'testkernel', 'kit');

/** The CLI users run: the bundle `npm run build` writes (package.json "bin"). */
export const BIN = path.join(ROOT, 'dist', 'bundle', 'kmodseal.mjs');

export interface KernelSet {
  set: string;
  arch: string;
  pkg: string;
  version: string;
  dir: string;
  deb: string;
  release: string;
  modulesDir: string;
}

/** The cached packages (scripts/fetch-kernels.sh writes index.tsv). */
export function corpus(): KernelSet[] {
  const index = path.join(CACHE, 'index.tsv');
  if (!fs.existsSync(index)) return [];
  return (
    fs
      .readFileSync(index, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split('\t'))
      // image packages only (a headers package has no lib/modules)
      .filter(
        ([, , , , dir]) =>
          fs.existsSync(path.join(dir!, 'lib/modules')) &&
          fs
            .readdirSync(path.join(dir!, 'lib/modules'))
            .some((r) => fs.existsSync(path.join(dir!, 'lib/modules', r, 'kernel'))),
      )
      .map(([set, arch, pkg, version, dir, deb]) => {
        const release = fs.readdirSync(path.join(dir!, 'lib/modules'))[0]!;
        return {
          set: set!,
          arch: arch!,
          pkg: pkg!,
          version: version!,
          dir: dir!,
          deb: deb!,
          release,
          modulesDir: path.join(dir!, 'lib/modules', release),
        };
      })
  );
}

/** The unpacked tree of a cached non-image package (e.g. "amd64-6.1-headers"). */
export function cachedPackageDir(name: string): string | undefined {
  const index = path.join(CACHE, 'index.tsv');
  if (!fs.existsSync(index)) return undefined;
  return fs
    .readFileSync(index, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
    .find((f) => f[0] === name)?.[4];
}

export function kernelSet(name: string): KernelSet | undefined {
  return corpus().find((k) => k.set === name);
}

/** Runs the CLI in-process; stdout as a latin1 Buffer. */
export async function runCli(argv: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const out: Buffer[] = [];
  let err = '';
  const io: Io = {
    isTTY: false,
    stdout: (c) => out.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : Buffer.from(c)),
    stderr: (c) => (err += c),
  };
  const code = await run(argv, io);
  return { code, stdout: Buffer.concat(out), stderr: err };
}

/** Runs the built CLI as a process, as a user would. */
export function runBin(
  argv: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): { code: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...argv], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    maxBuffer: 1 << 30,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Runs kmod's modinfo on many files (xargs-style batches); stdout bytes. */
export function modinfo(args: string[], files: string[], cwd = ROOT): Buffer {
  const chunks: Buffer[] = [];
  for (let i = 0; i < files.length; i += 500) {
    const r = spawnSync('modinfo', [...args, ...files.slice(i, i + 500)], { cwd, maxBuffer: 1 << 30 });
    chunks.push(r.stdout);
  }
  return Buffer.concat(chunks);
}

export function have(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** All module files below a directory, sorted bytewise (what `inspect DIR` walks). */
export function modulesBelow(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) visit(p);
      else if (/\.ko(\.xz|\.zst|\.gz)?$/.test(e.name)) out.push(p);
    }
  };
  visit(dir);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** First differing "filename:" record between two modinfo outputs, for readable failures. */
export function firstDifference(a: Buffer, b: Buffer): string {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  const start = a.lastIndexOf('filename:', i);
  const ours = a.subarray(start, i + 200).toString('latin1');
  const theirs = b.subarray(start, i + 200).toString('latin1');
  return `first difference at byte ${i}:\n--- kmodseal\n${ours}\n--- modinfo\n${theirs}`;
}
