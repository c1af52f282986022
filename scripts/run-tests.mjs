#!/usr/bin/env node
/**
 * Runs test tiers in ONE `node --test` invocation, so the closing summary lines are node's own.
 *
 *   node scripts/run-tests.mjs TIER... [--concurrency N] [--list] [-- NODE_TEST_ARGS...]
 *
 * Tiers, by folder (docs/testing.md):
 *   unit    src/**\/*.test.ts and test/unit/**\/*.test.ts: inputs built by code, no root, no network, no .cache/
 *   e2e     test/e2e/*.test.ts: kernels booted under qemu
 *   oracle  every other test/**\/*.test.ts: agreement with modinfo, sign-file, bpftool, openssl, ...
 *   all     the three
 *
 * Node 20's test runner does not expand globs, so the file lists are built here. Test files run
 * as separate processes, N at a time (default: KMODSEAL_TEST_CONCURRENCY, else 2); every file is
 * safe to run beside any other (temporary files are per process). Longer files are started
 * first (the `SLOW` list below) so that two workers finish together.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TIERS = ['unit', 'oracle', 'e2e'];

/**
 * The longest files of a serial run on two cores (seconds, rounded), longest first: started first so that
 * they do not finish alone at the end. cli/repro's whole-package test recompresses 4,000 .ko.xz on every core.
 */
const SLOW = [
  'test/cli/repro.test.ts', // 305
  'test/e2e/debian-conformance.test.ts', // 140, qemu
  'test/oracle/modinfo.test.ts',
  'test/e2e/check-vs-kernel.test.ts', // 75, qemu
  'test/e2e/ovmf.test.ts', // 55, qemu
  'test/kernel/partial-image.test.ts', // 70
  'test/e2e/seal-vs-kernel.test.ts', // 50, qemu
  'test/cli/check.test.ts', // 30
  'test/lint.test.ts', // 30
  'test/check/parallel.test.ts', // 26
  'test/btf/relocate.test.ts', // 23
  'test/cli/kernel.test.ts', // 22
];

function usage(code) {
  const out = code === 0 ? process.stdout : process.stderr;
  out.write(
    'usage: node scripts/run-tests.mjs unit|oracle|e2e|all... [--concurrency N] [--list] [-- NODE_TEST_ARGS...]\n',
  );
  process.exit(code);
}

/** Every *.test.ts below `dir` (relative to the repository root, '/'-separated), sorted. */
function testFiles(dir) {
  const abs = path.join(ROOT, dir);
  if (!fs.existsSync(abs)) return [];
  return fs
    .readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.posix.join(dir, f.split(path.sep).join('/')))
    .sort();
}

/** The tier of a test file, by its folder. */
function tierOf(file) {
  if (file.startsWith('src/') || file.startsWith('test/unit/')) return 'unit';
  if (/^test\/e2e\/[^/]+\.test\.ts$/.test(file)) return 'e2e';
  return 'oracle';
}

const args = process.argv.slice(2);
const dashes = args.indexOf('--');
const own = dashes < 0 ? args : args.slice(0, dashes);
const passThrough = dashes < 0 ? [] : args.slice(dashes + 1);
const wanted = new Set();
let concurrency = Number(process.env.KMODSEAL_TEST_CONCURRENCY || 2);
let list = false;
for (let i = 0; i < own.length; i++) {
  const a = own[i];
  if (a === '--concurrency') concurrency = Number(own[++i]);
  else if (a === '--list') list = true;
  else if (a === '-h' || a === '--help') usage(0);
  else if (a === 'all') TIERS.forEach((t) => wanted.add(t));
  else if (TIERS.includes(a)) wanted.add(a);
  else usage(2);
}
if (wanted.size === 0 || !Number.isInteger(concurrency) || concurrency < 1) usage(2);

const all = [...testFiles('src'), ...testFiles('test')];
const chosen = all.filter((f) => wanted.has(tierOf(f)));
const rank = (f) => (SLOW.includes(f) ? SLOW.indexOf(f) : SLOW.length);
const files = chosen.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i);
if (list) {
  for (const { f } of files) process.stdout.write(`${tierOf(f)}\t${f}\n`);
  process.exit(0);
}
if (files.length === 0) {
  process.stderr.write(`run-tests: no test files in ${[...wanted].join(', ')}\n`);
  process.exit(1);
}
// a unit test is fast: one that takes a minute is a hang; oracle and e2e files walk whole packages and boot kernels
const timeout = wanted.has('oracle') || wanted.has('e2e') ? 1_200_000 : 60_000;
const r = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    `--test-timeout=${timeout}`,
    ...passThrough,
    ...files.map(({ f }) => f),
  ],
  { cwd: ROOT, stdio: 'inherit' },
);
process.exit(r.status ?? 1);
