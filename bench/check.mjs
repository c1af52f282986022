// npm run bench (part 4): `kmodseal check` of a whole package against its kernel vs `depmod -b`
// over the same tree (each run on all cores, KMODSEAL_JOBS to change); and `kmodseal btf check` of every 6.12
// module against the 6.12 vmlinux BTF vs `bpftool btf dump` over the same (decompressed) files. Same run, medians of 3 (1 for bpftool).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { walk, median, cache, bin } from './lib.mjs';

const runs = Number(process.env.BENCH_RUNS ?? 3);
const sets = Object.fromEntries(
  fs
    .readFileSync(path.join(cache, 'kernels', 'index.tsv'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
    .map((f) => [f[0], f]),
);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-bench-check-'));
function time(cmd, args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 28 });
  if (r.status !== 0 && r.status !== 4 && r.status !== 5) throw new Error(`${cmd} failed (${r.status}): ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

console.log('check of a whole package against its kernel vs depmod -b over the same tree');
for (const set of ['amd64-6.1', 'amd64-6.12']) {
  const dir = sets[set][4];
  const release = fs.readdirSync(path.join(dir, 'lib/modules'))[0];
  const a = [],
    b = [];
  for (let i = 0; i < runs; i++) {
    a.push(time(bin, ['check', '--kernel', dir]));
    b.push(time('depmod', ['-b', dir, release]));
  }
  const best = (xs) => Math.min(...xs);
  console.log(
    `  ${set.padEnd(11)} kmodseal check ${median(a).toFixed(2)}s, depmod ${median(b).toFixed(2)}s: ` +
      `${(median(a) / median(b)).toFixed(2)}x ` +
      `(best of ${runs}: ${best(a).toFixed(2)}s vs ${best(b).toFixed(2)}s, ${(best(a) / best(b)).toFixed(2)}x)`,
  );
}

// from the package itself: check reads the .deb (kernel and modules) in memory; the anchor
// unpacks it (dpkg-deb -x, as the package's installation does) and runs depmod on the tree
console.log('check of a linux-image .deb against itself vs dpkg-deb -x + depmod -b');
for (const set of ['amd64-6.1', 'amd64-6.12']) {
  const deb = sets[set][5];
  const release = fs.readdirSync(path.join(sets[set][4], 'lib/modules'))[0];
  const a = [],
    b = [];
  for (let i = 0; i < runs; i++) {
    a.push(time(bin, ['check', '--kernel', deb, deb]));
    const unpacked = path.join(tmp, `deb-${set}-${i}`);
    b.push(time('sh', ['-c', `dpkg-deb -x '${deb}' '${unpacked}' && depmod -b '${unpacked}' ${release}`]));
    fs.rmSync(unpacked, { recursive: true, force: true });
  }
  console.log(
    `  ${set.padEnd(11)} kmodseal check ${median(a).toFixed(2)}s, dpkg-deb -x + depmod ${median(b).toFixed(2)}s: ` +
      `${(median(a) / median(b)).toFixed(2)}x`,
  );
}

const k = sets['amd64-6.12'];
const vmlinux = path.join(tmp, 'vmlinux');
execFileSync(bin, ['kernel', '--extract-vmlinux', vmlinux, k[4]], { stdio: 'ignore' });
const mods = walk(path.join(k[4], 'lib/modules'));
const plainDir = path.join(tmp, 'plain');
fs.mkdirSync(plainDir);
const plain = mods.map((f, i) => {
  const p = path.join(plainDir, `${i}.ko`);
  fs.writeFileSync(p, execFileSync('xz', ['-dc', f], { maxBuffer: 1 << 28 }));
  return p;
});
const batch = path.join(tmp, 'batch');
fs.writeFileSync(batch, plain.map((p) => `btf dump file ${p} format raw`).join('\n') + '\n');
const a = [];
for (let i = 0; i < runs; i++) a.push(time(bin, ['btf', 'check', '--kernel', vmlinux, plainDir]));
const t = process.hrtime.bigint();
spawnSync('sh', ['-c', `bpftool -B ${vmlinux} batch file ${batch} > /dev/null`]);
const bpf = Number(process.hrtime.bigint() - t) / 1e9;
console.log(
  `btf: parse the 6.12 vmlinux BTF and check all ${plain.length} modules: kmodseal ${median(a).toFixed(2)}s, bpftool btf ` +
    `dump (one batch) ${bpf.toFixed(2)}s: ${(median(a) / bpf).toFixed(2)}x`,
);
fs.rmSync(tmp, { recursive: true, force: true });
