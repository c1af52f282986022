// npm run bench (part 5): detach + attach of a whole package tree, and diff of two package
// trees, against diffoscope on the same pair (time-limited: BENCH_DIFFOSCOPE_SECONDS, 120; quick 20)
// and a plain cmp-based shell loop. One run each; with --against, the other build's detach, attach
// and diff are timed too, alternately.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bin, quick, sets, againstName, alternate, figure, againstText, emit } from './lib.mjs';

const DIFFOSCOPE_LIMIT = Number(process.env.BENCH_DIFFOSCOPE_SECONDS ?? (quick ? 20 : 120));
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
const rows = [];

// detach + attach of the whole 6.1 tree (plain .ko): a signed build A, an unsigned build U
const a = path.join(tmp, 'a');
fs.cpSync(mods('amd64-6.1'), a, { recursive: true });
const u = path.join(tmp, 'u');
fs.cpSync(a, u, { recursive: true });
const uPristine = path.join(tmp, 'u0');
time(bin, ['detach', u, '--out', path.join(tmp, 'discard')]); // make U unsigned (not timed below)
fs.cpSync(u, uPristine, { recursive: true });
const det = { new: [], old: [] },
  att = { new: [], old: [] };
const result = {}; // per build: 'byte-identical' or the first differences

alternate(0, (b) => {
  fs.rmSync(path.join(tmp, 'bundle'), { recursive: true, force: true });
  fs.rmSync(u, { recursive: true, force: true });
  fs.cpSync(uPristine, u, { recursive: true });
  det[b.side].push(time(b.bin, ['detach', '--keep', a, '--out', path.join(tmp, 'bundle')]).s);
  att[b.side].push(time(b.bin, ['attach', path.join(tmp, 'bundle'), u]).s);
  const d = spawnSync('diff', ['-rq', a, u], { encoding: 'utf8' });
  result[b.side] =
    d.status === 0
      ? 'byte-identical'
      : `DIFFERENT: ${d.stdout.split('\n').filter(Boolean).length} file(s), e.g. ${d.stdout.split('\n')[0]}`;
});
const detF = figure({
  id: 'detach',
  label: `\`detach --keep\`, whole ${sets['amd64-6.1'][2]} tree`,
  ours: det.new,
  old: det.old,
});
const attF = figure({
  id: 'attach',
  label: `\`attach\` to the unsigned tree (result ${result.new.startsWith('byte') ? 'byte-identical' : 'DIFFERENT'})`,
  ours: att.new,
  old: att.old,
});
rows.push(detF, attF);
console.log(
  `detach + attach, whole ${sets['amd64-6.1'][2]} tree (.ko): detach ${detF.kmodseal.toFixed(2)}s + attach ${attF.kmodseal.toFixed(2)}s; ` +
    `result ${result.new}${result.old ? ` (${againstName}'s build: ${result.old})` : ''}${againstText(detF)}${againstText(attF)}`,
);

// diff of two package trees: 6.12 against the previous 6.12 build
const rel = (set) => path.join(mods(set), fs.readdirSync(mods(set))[0]);
const x = rel('amd64-6.12'),
  y = rel('amd64-6.12-prev');
const diffs = { new: [], old: [] };
alternate(0, (b) => diffs[b.side].push(time(b.bin, ['diff', x, y], [0, 4]).s));
const cmp = time('sh', [
  '-c',
  `cd ${x} && find . -type f | while read -r f; do cmp -s "$f" "${y}/$f" || echo "$f"; done > /dev/null`,
]).s;
const dscope = time('diffoscope', ['--no-progress', '--text', '/dev/null', x, y], [0, 1]);
const cmpF = figure({
  id: 'diff-cmp',
  label: 'diff of the 6.12 and 6.12-prev trees, vs a `cmp -s` loop',
  ours: diffs.new,
  old: diffs.old,
  anchor: [cmp],
});
const dsF = figure({
  id: 'diff-diffoscope',
  label: 'diff of the 6.12 and 6.12-prev trees, vs `diffoscope`',
  ours: diffs.new,
  anchor: dscope.timedOut ? [] : [dscope.s],
  anchorText: dscope.timedOut ? `> ${DIFFOSCOPE_LIMIT} s (stopped)` : undefined,
});
rows.push(cmpF, dsF);
const ours = cmpF.kmodseal;
const dscopeText = dscope.timedOut
  ? `> ${DIFFOSCOPE_LIMIT}s (stopped)`
  : `${dscope.s.toFixed(2)}s (${(ours / dscope.s).toFixed(2)}x)`;
console.log(
  `diff of the 6.12 and 6.12-prev module trees: kmodseal ${ours.toFixed(2)}s; cmp loop ${cmp.toFixed(2)}s ` +
    `(${(ours / cmp).toFixed(2)}x; it only says "differs"); diffoscope ${dscopeText}${againstText(cmpF)}`,
);
fs.rmSync(tmp, { recursive: true, force: true });
emit('repro', {
  title: 'Reproducible builds: `detach` + `attach`, and `diff` vs `cmp` and `diffoscope`',
  anchor: 'cmp -s loop / diffoscope',
  stat: 'one run',
  diffoscopeLimit: DIFFOSCOPE_LIMIT,
  attachResult: result,
  rows,
});
