// npm run bench (part 5): detach + attach of a whole package tree, and diff of two package
// trees, against diffoscope on the same pair (time-limited) and a plain cmp-based shell loop.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cache, bin } from './lib.mjs';

const DIFFOSCOPE_LIMIT = Number(process.env.BENCH_DIFFOSCOPE_SECONDS ?? 120);
const sets = Object.fromEntries(
  fs
    .readFileSync(path.join(cache, 'kernels', 'index.tsv'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
    .map((f) => [f[0], f]),
);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-bench-repro-'));
function time(cmd, args, ok = [0]) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    maxBuffer: 1 << 28,
    timeout: DIFFOSCOPE_LIMIT * 1000,
  });
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.error?.code === 'ETIMEDOUT' || r.signal) return { s, timedOut: true };
  if (!ok.includes(r.status)) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { s, timedOut: false };
}
const mods = (set) => path.join(sets[set][4], 'lib/modules');

// detach + attach of the whole 6.1 tree (plain .ko): a signed build A, an unsigned build U
const a = path.join(tmp, 'a');
fs.cpSync(mods('amd64-6.1'), a, { recursive: true });
const u = path.join(tmp, 'u');
fs.cpSync(a, u, { recursive: true });
time(bin, ['detach', u, '--out', path.join(tmp, 'discard')]); // make U unsigned (not timed below)
const detachT = time(bin, ['detach', '--keep', a, '--out', path.join(tmp, 'bundle')]).s;
const attachT = time(bin, ['attach', path.join(tmp, 'bundle'), u]).s;
const same = spawnSync('diff', ['-rq', a, u]).status === 0;
console.log(
  `detach + attach, whole ${sets['amd64-6.1'][2]} tree (.ko): detach ${detachT.toFixed(2)}s + attach ${attachT.toFixed(2)}s; ` +
    `result ${same ? 'byte-identical' : 'DIFFERENT'}`,
);

// diff of two package trees: 6.12 against the previous 6.12 build
const rel = (set) => path.join(mods(set), fs.readdirSync(mods(set))[0]);
const x = rel('amd64-6.12'),
  y = rel('amd64-6.12-prev');
const ours = time(bin, ['diff', x, y], [0, 4]).s;
const cmp = time('sh', [
  '-c',
  `cd ${x} && find . -type f | while read -r f; do cmp -s "$f" "${y}/$f" || echo "$f"; done > /dev/null`,
]).s;
const dscope = time('diffoscope', ['--no-progress', '--text', '/dev/null', x, y], [0, 1]);
const dscopeText = dscope.timedOut
  ? `> ${DIFFOSCOPE_LIMIT}s (stopped)`
  : `${dscope.s.toFixed(2)}s (${(ours / dscope.s).toFixed(2)}x)`;
console.log(
  `diff of the 6.12 and 6.12-prev module trees: kmodseal ${ours.toFixed(2)}s; cmp loop ${cmp.toFixed(2)}s ` +
    `(${(ours / cmp).toFixed(2)}x; it only says "differs"); diffoscope ${dscopeText}`,
);
fs.rmSync(tmp, { recursive: true, force: true });
