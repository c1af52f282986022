// Shared by the benchmark scripts: the cached corpus, module walking, timing, the builds being
// timed (the checkout's and, with `npm run bench -- --against REV`, REV's), quick mode, and the
// structured result each script leaves for bench/report.mjs.
//
// Environment (scripts/bench.sh sets most of it):
//   BENCH_KMODSEAL      the kmodseal bundle to time (default: this checkout's dist/bundle/kmodseal.mjs)
//   BENCH_KMODSEAL_OLD  a second bundle (REV's) timed alternately with the first, for new/old ratios
//   BENCH_AGAINST       the name of that revision, as given (for the output)
//   BENCH_QUICK=1       fewer runs and smaller samples, for trying the benchmarks out in a few minutes
//   BENCH_RUNS          runs of each command (default 3, quick 1)
//   BENCH_OUT           directory where each script writes <bench>.json (nothing written without it)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
export const cache = process.env.KMODSEAL_CACHE ?? path.join(root, '.cache');
export const quick = /^(1|true|yes)$/i.test(process.env.BENCH_QUICK ?? '');
// run as a user runs it: the launcher line (env -S -u NODE_EXTRA_CA_CERTS node) included
export const bin = path.resolve(process.env.BENCH_KMODSEAL || path.join(root, 'dist', 'bundle', 'kmodseal.mjs'));
export const binOld = process.env.BENCH_KMODSEAL_OLD ? path.resolve(process.env.BENCH_KMODSEAL_OLD) : null;
export const againstName = binOld ? process.env.BENCH_AGAINST || binOld : null;
export const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? (quick ? 1 : 3)));

/** The builds timed for each kmodseal figure: `new` (the checkout) and, with --against, `old`. */
export const builds = [{ side: 'new', bin }, ...(binOld ? [{ side: 'old', bin: binOld }] : [])];
/** Runs fn once per build, in alternating order from one iteration to the next (new old, old new, ...). */
export function alternate(i, fn) {
  for (const b of i % 2 ? [...builds].reverse() : builds) fn(b);
}

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
export const best = (xs) => Math.min(...xs);

/** Wall time of a command in seconds; exit codes other than `ok` throw. */
export function time(cmd, args, ok = [0], opts = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 28, ...opts });
  if (!ok.includes(r.status)) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

// A new/old ratio is called a regression (or an improvement) only beyond the noise: the larger of
// NOISE_FLOOR (BENCH_NOISE: 10%, 25% in quick mode, where one run gives no spread) and the relative
// spread (max/min - 1) of either build's runs.
export const NOISE_FLOOR = Number(process.env.BENCH_NOISE ?? (quick ? 0.25 : 0.1));

/**
 * One figure: kmodseal's times (per build) beside its anchor's, reduced with `stat` (median or
 * best). Returns what is printed and what goes into the JSON: kmodseal, anchor, ratio
 * (kmodseal/anchor) and, with --against, against = { old, ratio (new/old), noise, verdict }.
 */
export function figure({ ours, old, anchor, stat = 'median', ...rest }) {
  const reduce = stat === 'best' ? best : median;
  const k = reduce(ours);
  const a = anchor?.length ? reduce(anchor) : null;
  const f = {
    ...rest,
    stat,
    runs: { kmodseal: ours, anchor: anchor ?? [] },
    kmodseal: k,
    anchor: a,
    ratio: a ? k / a : null,
  };
  if (old?.length) {
    const o = reduce(old);
    const spread = (xs) => (xs.length > 1 ? Math.max(...xs) / Math.min(...xs) - 1 : 0);
    const noise = Math.max(NOISE_FLOOR, spread(ours), spread(old));
    const ratio = k / o;
    const verdict = ratio > 1 + noise ? 'regression' : ratio < 1 / (1 + noise) ? 'faster' : 'within noise';
    f.runs.old = old;
    f.against = { rev: againstName, old: o, ratio, noise, verdict };
  }
  return f;
}

/** The against-REV part of a printed line ('' without --against). */
export const againstText = (f) =>
  f.against
    ? `  [vs ${f.against.rev}: ${f.against.old.toFixed(3)}s, new/old ${f.against.ratio.toFixed(2)}x, ${f.against.verdict}]`
    : '';

/** Writes a script's structured result to $BENCH_OUT/<bench>.json (temp file + rename). */
export function emit(bench, result) {
  const dir = process.env.BENCH_OUT;
  const e = process.env;
  const run = {
    started: e.BENCH_STARTED,
    head: e.BENCH_HEAD,
    dirty: e.BENCH_DIRTY,
    againstCommit: e.BENCH_AGAINST_COMMIT,
  };
  const data = { bench, quick, runs, against: againstName, bin, binOld, noiseFloor: NOISE_FLOOR, run, ...result };
  if (!dir) return data;
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${bench}.json`);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(data, null, 2) + '\n');
  fs.renameSync(`${file}.tmp`, file);
  return data;
}
