// npm run bench (part 2): `kmodseal kernel --json` from a vmlinuz or a .deb, against the shell
// pipeline people use today: extract-vmlinux (+ dpkg-deb/tar for a .deb), readelf for the build
// id and sections, objcopy for .BTF, a grep for the banner, and extract-sys-certs.pl where the
// kernel has the symbols it needs. Median of BENCH_RUNS (3; quick 1) runs each, the other build
// (--against) timed alternately in the same loop.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root, cache, runs, sets, time, alternate, figure, againstText, emit } from './lib.mjs';

const anchors = path.join(cache, 'anchors');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-bench-'));
const pipeline = (image, systemMap) =>
  `set -e; ${anchors}/extract-vmlinux ${image} > ${tmp}/vmlinux; readelf -n ${tmp}/vmlinux > /dev/null; readelf -S -W ` +
  `${tmp}/vmlinux > /dev/null; ` +
  `objcopy -O binary --only-section=.BTF ${tmp}/vmlinux ${tmp}/btf; grep -a -m1 -o 'Linux version [^%]*' ${tmp}/vmlinux > /dev/null; ` +
  (systemMap
    ? `perl ${anchors}/extract-sys-certs.pl -s ${systemMap} ${tmp}/vmlinux ${tmp}/certs > /dev/null 2>&1; `
    : '');

const cases = [];
for (const [set, , , , dir, deb] of Object.values(sets)) {
  if (!['amd64-6.1', 'amd64-6.12'].includes(set)) continue;
  const img = path.join(
    dir,
    'boot',
    fs.readdirSync(path.join(dir, 'boot')).find((n) => n.startsWith('vmlinuz-')),
  );
  cases.push({ id: `${set}-vmlinuz`, name: `${set} vmlinuz`, ours: [img], theirs: pipeline(img) });
  const member = './boot/' + path.basename(img);
  cases.push({
    id: `${set}-deb`,
    name: `${set} .deb`,
    ours: [deb],
    theirs: `dpkg-deb --fsys-tarfile ${deb} | tar -xO ${member} > ${tmp}/vmlinuz; ` + pipeline(`${tmp}/vmlinuz`),
  });
}
const kit =
  process.env.KMODSEAL_TESTKERNEL ||
  path.join(process.env.KMODSEAL_CACHE ?? path.join(root, '.cache'), 'testkernel', 'kit');
if (fs.existsSync(path.join(kit, 'bzImage'))) {
  cases.push({
    id: 'testkernel-bzimage',
    name: 'testkernel bzImage (+ certs)',
    ours: [path.join(kit, 'bzImage'), '--system-map', path.join(kit, 'System.map')],
    theirs: pipeline(path.join(kit, 'bzImage'), path.join(kit, 'System.map')),
  });
}

console.log(
  `kernel --json vs extract-vmlinux + readelf + objcopy (+ extract-sys-certs.pl) (${runs} run(s) each, median)`,
);
console.log('input                          kmodseal   pipeline   ratio');
const rows = [];
for (const c of cases) {
  alternate(0, (b) => time(b.bin, ['kernel', '--json', ...c.ours]));
  const ours = [],
    old = [],
    theirs = [];
  for (let i = 0; i < runs; i++) {
    alternate(i, (b) => (b.side === 'new' ? ours : old).push(time(b.bin, ['kernel', '--json', ...c.ours])));
    theirs.push(time('sh', ['-c', c.theirs]));
  }
  const f = figure({ id: c.id, label: c.name, ours, old, anchor: theirs });
  rows.push(f);
  console.log(
    `${c.name.padEnd(30)} ${f.kmodseal.toFixed(2).padStart(7)}s ${f.anchor.toFixed(2).padStart(9)}s  ${f.ratio.toFixed(2)}x` +
      againstText(f),
  );
}
fs.rmSync(tmp, { recursive: true, force: true });
emit('kernel', {
  title: '`kernel --json` vs the shell pipeline',
  anchor: 'extract-vmlinux + readelf + objcopy (+ extract-sys-certs.pl)',
  stat: `median of ${runs}`,
  rows,
});
