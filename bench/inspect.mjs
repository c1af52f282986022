// npm run bench: `kmodseal inspect` over every module of each cached Debian package against
// kmod's `modinfo` over the same files, in the same run. Median of 3 warm runs each.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { walk, median, root, bin } from './lib.mjs';

const index = path.join(process.env.KMODSEAL_CACHE ?? path.join(root, '.cache'), 'kernels', 'index.tsv');
const sets = fs
  .readFileSync(index, 'utf8')
  .trim()
  .split('\n')
  .map((l) => l.split('\t'));
const runs = Number(process.env.BENCH_RUNS ?? 3);

function time(cmd, args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.status}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

console.log(
  `inspect vs modinfo (${runs} runs each, median; ${fs.readFileSync('/proc/cpuinfo', 'utf8').match(/processor/g).length} cores)`,
);
console.log('set          modules  kind    kmodseal   modinfo   ratio');
for (const [set, , , , dir] of sets) {
  if (
    !fs.existsSync(path.join(dir, 'lib/modules')) ||
    !fs
      .readdirSync(path.join(dir, 'lib/modules'))
      .some((r) => fs.existsSync(path.join(dir, 'lib/modules', r, 'kernel')))
  )
    continue;
  const release = fs.readdirSync(path.join(dir, 'lib/modules'))[0];
  const mdir = path.join(dir, 'lib/modules', release);
  const files = walk(mdir).sort();
  const kind = files[0].replace(/^.*?\.ko/, '.ko');
  // modinfo gets the same list through xargs, as people run it
  const list = path.join('/tmp', `kmodseal-bench-${set}.list`);
  fs.writeFileSync(list, files.join('\n') + '\n');
  time(bin, ['inspect', mdir]); // warm the page cache
  const ours = [],
    theirs = [];
  for (let i = 0; i < runs; i++) {
    ours.push(time(bin, ['inspect', mdir]));
    theirs.push(time('sh', ['-c', `xargs -a ${list} modinfo > /dev/null`]));
  }
  const a = median(ours),
    b = median(theirs);
  console.log(
    `${set.padEnd(12)} ${String(files.length).padStart(7)}  ${kind.padEnd(6)} ${a.toFixed(3).padStart(8)}s ` +
      `${b.toFixed(3).padStart(8)}s  ${(a / b).toFixed(2)}x`,
  );
}
