// Shared by the benchmark scripts: the cached corpus, module walking and timing.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
export const cache = process.env.KMODSEAL_CACHE ?? path.join(root, '.cache');
// run as a user runs it: the launcher line (env -S -u NODE_EXTRA_CA_CERTS node) included
export const bin = path.join(root, 'dist', 'bundle', 'kmodseal.mjs');

/** index.tsv rows by set name: [set, arch, package, version, dir, deb]. */
export const sets = Object.fromEntries(
  fs
    .readFileSync(path.join(cache, 'kernels', 'index.tsv'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
    .map((f) => [f[0], f]),
);

/** Module files (.ko, .ko.xz, .ko.zst, .ko.gz) below a directory. */
export function walk(d, out = []) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (/\.ko(\.xz|\.zst|\.gz)?$/.test(e.name)) out.push(p);
  }
  return out;
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Wall time of a command in seconds; exit codes other than `ok` throw. */
export function time(cmd, args, ok = [0]) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 28 });
  if (!ok.includes(r.status)) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}
