// npm run bench: `kmodseal inspect` over every module of each cached Debian package against
// kmod's `modinfo` over the same files, in the same run. Median of BENCH_RUNS (3; quick 1) warm runs
// each; with --against, the other build's inspect is timed in the same loop, alternating.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { walk, runs, sets, time, alternate, figure, againstText, emit } from './lib.mjs';

console.log(`inspect vs modinfo (${runs} run(s) each, median; ${os.availableParallelism()} cores)`);
console.log('set               modules  kind    kmodseal   modinfo   ratio');
const rows = [];
for (const [set, , pkg, , dir] of Object.values(sets)) {
  const lm = path.join(dir, 'lib/modules');
  if (!fs.existsSync(lm) || !fs.readdirSync(lm).some((r) => fs.existsSync(path.join(lm, r, 'kernel')))) continue;
  const mdir = path.join(lm, fs.readdirSync(lm)[0]);
  const files = walk(mdir).sort();
  const kind = files[0].replace(/^.*?\.ko/, '.ko');
  // modinfo gets the same list through xargs, as people run it
  const list = path.join(os.tmpdir(), `kmodseal-bench-${set}.list`);
  fs.writeFileSync(list, files.join('\n') + '\n');
  alternate(0, (b) => time(b.bin, ['inspect', mdir])); // warm the page cache
  const ours = [],
    old = [],
    theirs = [];
  for (let i = 0; i < runs; i++) {
    alternate(i, (b) => (b.side === 'new' ? ours : old).push(time(b.bin, ['inspect', mdir])));
    theirs.push(time('sh', ['-c', `xargs -a ${list} modinfo > /dev/null`]));
  }
  fs.rmSync(list, { force: true });
  const f = figure({
    id: set,
    label: `${set} (\`${kind}\`)`,
    pkg,
    modules: files.length,
    ours,
    old,
    anchor: theirs,
    target: kind === '.ko' ? { max: 1, text: 'no slower' } : { max: 0.5, text: '≤ 0.5x' },
  });
  rows.push(f);
  console.log(
    `${set.padEnd(17)} ${String(files.length).padStart(7)}  ${kind.padEnd(6)} ${f.kmodseal.toFixed(3).padStart(8)}s ` +
      `${f.anchor.toFixed(3).padStart(8)}s  ${f.ratio.toFixed(2)}x${againstText(f)}`,
  );
}
emit('inspect', {
  title: '`inspect` vs `xargs modinfo`',
  anchor: 'modinfo',
  stat: `median of ${runs}`,
  rows,
});
