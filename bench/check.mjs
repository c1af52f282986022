// npm run bench (part 4): `kmodseal check` of a whole package against its kernel vs `depmod -b`
// over the same tree (each run on all cores, KMODSEAL_JOBS to change); and `kmodseal btf check` of every 6.12
// module against the 6.12 vmlinux BTF vs `bpftool btf dump` over the same (decompressed) files. Same run,
// medians of BENCH_RUNS (3; quick 1) (1 for bpftool); with --against, the other build alternately in the same loop.
// BENCH_QUICK=1: btf check over every 8th 6.12 module.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { walk, bin, quick, runs, sets, time, alternate, figure, againstText, emit } from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-bench-check-'));
const CHECK_OK = [0, 4, 5]; // problems found are not failures here
const rows = [];
const print = (f, what) =>
  console.log(
    `  ${f.id.padEnd(16)} kmodseal ${f.kmodseal.toFixed(2)}s, ${what} ${f.anchor.toFixed(2)}s: ${f.ratio.toFixed(2)}x ` +
      `(best of ${f.runs.kmodseal.length}: ${Math.min(...f.runs.kmodseal).toFixed(2)}s vs ` +
      `${Math.min(...f.runs.anchor).toFixed(2)}s)${againstText(f)}`,
  );

console.log('check of a whole package against its kernel vs depmod -b over the same tree');
for (const set of ['amd64-6.1', 'amd64-6.12']) {
  const dir = sets[set][4];
  const release = fs.readdirSync(path.join(dir, 'lib/modules'))[0];
  const ours = [],
    old = [],
    theirs = [];
  for (let i = 0; i < runs; i++) {
    alternate(i, (b) => (b.side === 'new' ? ours : old).push(time(b.bin, ['check', '--kernel', dir], CHECK_OK)));
    theirs.push(time('depmod', ['-b', dir, release]));
  }
  const kind = set === 'amd64-6.1' ? '.ko' : '.ko.xz';
  const f = figure({
    id: `tree-${set}`,
    label: `${set} tree (\`${kind}\`)`,
    ours,
    old,
    anchor: theirs,
    target: kind === '.ko' ? { max: 1, text: 'no slower' } : undefined,
  });
  rows.push(f);
  print(f, 'depmod');
}

// from the package itself: check reads the .deb (kernel and modules) in memory; the anchor
// unpacks it (dpkg-deb -x, as the package's installation does) and runs depmod on the tree
console.log('check of a linux-image .deb against itself vs dpkg-deb -x + depmod -b');
for (const set of ['amd64-6.1', 'amd64-6.12']) {
  const deb = sets[set][5];
  const release = fs.readdirSync(path.join(sets[set][4], 'lib/modules'))[0];
  const ours = [],
    old = [],
    theirs = [];
  for (let i = 0; i < runs; i++) {
    alternate(i, (b) => (b.side === 'new' ? ours : old).push(time(b.bin, ['check', '--kernel', deb, deb], CHECK_OK)));
    const unpacked = path.join(tmp, `deb-${set}-${i}`);
    theirs.push(time('sh', ['-c', `dpkg-deb -x '${deb}' '${unpacked}' && depmod -b '${unpacked}' ${release}`]));
    fs.rmSync(unpacked, { recursive: true, force: true });
  }
  const f = figure({ id: `deb-${set}`, label: `${set} \`.deb\``, ours, old, anchor: theirs });
  rows.push(f);
  print(f, 'dpkg-deb -x + depmod');
}

const k = sets['amd64-6.12'];
const vmlinux = path.join(tmp, 'vmlinux');
execFileSync(bin, ['kernel', '--extract-vmlinux', vmlinux, k[4]], { stdio: 'ignore' });
const all = walk(path.join(k[4], 'lib/modules')).sort();
const mods = quick ? all.filter((_, i) => i % 8 === 0) : all;
const plainDir = path.join(tmp, 'plain');
fs.mkdirSync(plainDir);
const plain = mods.map((f, i) => {
  const p = path.join(plainDir, `${i}.ko`);
  fs.writeFileSync(p, execFileSync('xz', ['-dc', f], { maxBuffer: 1 << 28 }));
  return p;
});
const batch = path.join(tmp, 'batch');
fs.writeFileSync(batch, plain.map((p) => `btf dump file ${p} format raw`).join('\n') + '\n');
const ours = [],
  old = [];
for (let i = 0; i < runs; i++)
  alternate(i, (b) =>
    (b.side === 'new' ? ours : old).push(time(b.bin, ['btf', 'check', '--kernel', vmlinux, plainDir], CHECK_OK)),
  );
// its exit status is not looked at (as before): some modules' BTF it cannot dump
const bpf = time('sh', ['-c', `bpftool -B ${vmlinux} batch file ${batch} > /dev/null; true`]);
const f = figure({
  id: 'btf',
  label: `\`btf check\`: the 6.12 vmlinux BTF and ${plain.length} modules`,
  ours,
  old,
  anchor: [bpf],
  target: { max: 1, text: 'no slower' },
});
rows.push(f);
console.log(
  `btf: parse the 6.12 vmlinux BTF and check ${plain.length} modules: kmodseal ${f.kmodseal.toFixed(2)}s, bpftool btf ` +
    `dump (one batch) ${bpf.toFixed(2)}s: ${f.ratio.toFixed(2)}x${againstText(f)}`,
);
fs.rmSync(tmp, { recursive: true, force: true });
emit('check', {
  title: '`check` vs `depmod -b`, and `btf check` vs `bpftool btf dump`',
  anchor: 'depmod -b / dpkg-deb -x + depmod -b / bpftool btf dump',
  stat: `median of ${runs} (bpftool: one run)`,
  btfModules: plain.length,
  rows,
});
