// npm run bench (part 2): `kmodseal kernel --json` from a vmlinuz or a .deb, against the shell
// pipeline people use today: extract-vmlinux (+ dpkg-deb/tar for a .deb), readelf for the build
// id and sections, objcopy for .BTF, a grep for the banner, and extract-sys-certs.pl where the
// kernel has the symbols it needs. Median of 3 runs each.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, root, cache, bin } from './lib.mjs';

const anchors = path.join(cache, 'anchors');
const runs = Number(process.env.BENCH_RUNS ?? 3);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-bench-'));
const sets = fs
  .readFileSync(path.join(cache, 'kernels', 'index.tsv'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => l.split('\t'));

function time(cmd, args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}
const pipeline = (image, systemMap) =>
  `set -e; ${anchors}/extract-vmlinux ${image} > ${tmp}/vmlinux; readelf -n ${tmp}/vmlinux > /dev/null; readelf -S -W ` +
  `${tmp}/vmlinux > /dev/null; ` +
  `objcopy -O binary --only-section=.BTF ${tmp}/vmlinux ${tmp}/btf; grep -a -m1 -o 'Linux version [^%]*' ${tmp}/vmlinux > /dev/null; ` +
  (systemMap
    ? `perl ${anchors}/extract-sys-certs.pl -s ${systemMap} ${tmp}/vmlinux ${tmp}/certs > /dev/null 2>&1; `
    : '');

const cases = [];
for (const [set, , , , dir, deb] of sets) {
  if (!['amd64-6.1', 'amd64-6.12'].includes(set)) continue;
  const img = path.join(
    dir,
    'boot',
    fs.readdirSync(path.join(dir, 'boot')).find((n) => n.startsWith('vmlinuz-')),
  );
  cases.push({ name: `${set} vmlinuz`, ours: [img], theirs: pipeline(img) });
  const member = './boot/' + path.basename(img);
  cases.push({
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
    name: 'testkernel bzImage (+ certs)',
    ours: [path.join(kit, 'bzImage'), '--system-map', path.join(kit, 'System.map')],
    theirs: pipeline(path.join(kit, 'bzImage'), path.join(kit, 'System.map')),
  });
}

console.log(
  `kernel --json vs extract-vmlinux + readelf + objcopy (+ extract-sys-certs.pl) (${runs} runs each, median)`,
);
console.log('input                          kmodseal   pipeline   ratio');
for (const c of cases) {
  time(bin, ['kernel', '--json', ...c.ours]);
  const a = [],
    b = [];
  for (let i = 0; i < runs; i++) {
    a.push(time(bin, ['kernel', '--json', ...c.ours]));
    b.push(time('sh', ['-c', c.theirs]));
  }
  const x = median(a),
    y = median(b);
  console.log(`${c.name.padEnd(30)} ${x.toFixed(2).padStart(7)}s ${y.toFixed(2).padStart(9)}s  ${(x / y).toFixed(2)}x`);
}
fs.rmSync(tmp, { recursive: true, force: true });
