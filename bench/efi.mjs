// npm run bench (part 6): Secure Boot images. `efi sign` against `sbsign` on an unsigned Debian
// kernel image (EFI stub), on a UKI (systemd-stub + that kernel + an initrd, built by
// `kmodseal uki build`) and on every PE image of the EFI corpus
// (scripts/fetch-efi.sh: kernels of four architectures, shim, GRUB, systemd-boot) one process
// per image; `efi verify` against `sbverify`; `efi detach --remove` + `efi attach` against
// `sbattach --detach --remove` + `sbattach --attach`; `seal` of a whole build (module tree, image,
// initrd, UKI) against sign-file + sbsign doing the same signing, and its count of long-term-key
// uses. Each command is one process, as a user
// (or a packaging script) runs it: node's start-up is part of kmodseal's figure. Every figure
// is the median of BENCH_RUNS runs (3; quick: 1), kmodseal and the anchor interleaved.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bin, cache, runs, sets, alternate, figure, againstText, emit, time } from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'kmodseal-bench-efi-'));
const sh = (cmd, args) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
const key = path.join(tmp, 'db.key');
const cert = path.join(tmp, 'db.crt');
sh('openssl', [
  'req',
  '-x509',
  '-newkey',
  'rsa:2048',
  '-nodes',
  '-sha256',
  '-days',
  '3650',
  '-subj',
  '/CN=kmodseal bench db',
  '-keyout',
  key,
  '-out',
  cert,
]);

/** A copy of `src` without its signatures (sbattach --remove until none is left). */
function unsigned(src, name) {
  const f = path.join(tmp, name);
  fs.copyFileSync(src, f);
  for (let i = 0; i < 8; i++) {
    const r = spawnSync('sbattach', ['--remove', f], { stdio: 'ignore' });
    if (r.status !== 0) break;
  }
  return f;
}

const kernelSet = sets['amd64-6.12'];
const kernelSrc = path.join(
  kernelSet[4],
  'boot',
  fs.readdirSync(path.join(kernelSet[4], 'boot')).find((f) => f.startsWith('vmlinuz-')),
);
const kernel = unsigned(kernelSrc, 'vmlinuz');
const rows = [];
const cmp = (a, b) => Buffer.compare(fs.readFileSync(a), fs.readFileSync(b)) === 0;

/** One figure: kmodseal `args` against `anchor` (each a [cmd, args] or a function), interleaved. */
function bench(id, label, ours, anchor) {
  const t = { new: [], old: [], anchor: [] };
  for (let i = 0; i < runs; i++) {
    alternate(i, (b) => t[b.side].push(ours(b.bin)));
    t.anchor.push(anchor());
  }
  const f = figure({ id, label, ours: t.new, old: t.old, anchor: t.anchor });
  rows.push(f);
  console.log(
    `${label}: kmodseal ${f.kmodseal.toFixed(3)}s, anchor ${f.anchor.toFixed(3)}s (${f.ratio.toFixed(2)}x)${againstText(f)}`,
  );
  return f;
}

// 1. efi sign of a kernel image
const kOut = path.join(tmp, 'vmlinuz.kmodseal');
const kSb = path.join(tmp, 'vmlinuz.sbsign');
bench(
  'efi-sign-kernel',
  `\`efi sign\` of ${path.basename(kernelSrc)} (${(fs.statSync(kernel).size / 2 ** 20).toFixed(1)} MiB)`,
  (b) => time(b, ['efi', 'sign', '--key', key, '--cert', cert, '--output', kOut, kernel]),
  () => time('sbsign', ['--key', key, '--cert', cert, '--output', kSb, kernel]),
);

// 2. efi sign of a UKI built by `uki build`; Debian 12's stub has room for a short .sbat only
const sbat = path.join(tmp, 'sbat.csv');
fs.writeFileSync(sbat, 'sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n');
const stub = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';
const uki = path.join(tmp, 'uki.efi');
const initrd = path.join(tmp, 'initrd');
fs.writeFileSync(initrd, fs.readFileSync(kernelSrc).subarray(0, 8 << 20)); // 8 MiB of payload, as an initramfs might be
const built = spawnSync(
  bin,
  [
    'uki',
    'build',
    '--linux',
    kernel,
    '--initrd',
    initrd,
    '--cmdline',
    'console=ttyS0',
    '--stub',
    stub,
    '--sbat',
    sbat,
  ].concat(['--out', uki]),
  {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  },
);
if (built.status !== 0) throw new Error(`uki build failed (${built.status}): ${built.stderr}`);
{
  const uOut = path.join(tmp, 'uki.kmodseal');
  const uSb = path.join(tmp, 'uki.sbsign');
  bench(
    'efi-sign-uki',
    `\`efi sign\` of a UKI (stub + that kernel + 8 MiB initrd, ${(fs.statSync(uki).size / 2 ** 20).toFixed(1)} MiB)`,
    (b) => time(b, ['efi', 'sign', '--key', key, '--cert', cert, '--output', uOut, uki]),
    () => time('sbsign', ['--key', key, '--cert', cert, '--output', uSb, uki]),
  );
}

// 3. every image of the corpus, one process each
const corpus = [];
const walkEfi = (d) => {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walkEfi(p);
    else if (/\.(efi|efi\.signed|efi\.stub)$/.test(e.name)) corpus.push(p);
  }
};
const efiCache = path.join(cache, 'efi');
for (const arch of fs.existsSync(efiCache) ? fs.readdirSync(efiCache) : [])
  if (!arch.startsWith('.') && fs.statSync(path.join(efiCache, arch)).isDirectory()) walkEfi(path.join(efiCache, arch));
const images = corpus.sort().map((f, i) => unsigned(f, `c${i}.efi`));
images.unshift(kernel);
const loop = (sign) => {
  const t = process.hrtime.bigint();
  images.forEach((img, i) => sign(img, path.join(tmp, `c${i}.out`)));
  return Number(process.hrtime.bigint() - t) / 1e9;
};
bench(
  'efi-sign-corpus',
  `\`efi sign\` of ${images.length} PE images (kernel, shim, GRUB, systemd-boot; amd64, i386, arm64), one process each`,
  (b) => loop((img, out) => time(b, ['efi', 'sign', '--key', key, '--cert', cert, '--output', out, img])),
  () => loop((img, out) => time('sbsign', ['--key', key, '--cert', cert, '--output', out, img])),
);

// 4. efi verify of the signed kernel
bench(
  'efi-verify-kernel',
  '`efi verify --cert` of the signed kernel, vs `sbverify --cert`',
  (b) => time(b, ['efi', 'verify', '--cert', cert, kOut]),
  () => time('sbverify', ['--cert', cert, kSb]),
);

// 5. detach --remove + attach of Debian's signed kernel
const dk = path.join(tmp, 'dk.efi');
const dkSig = path.join(tmp, 'dk.sig');
const sameAfter = { new: true, old: true, anchor: true };
bench(
  'efi-detach-attach',
  `\`efi detach --remove\` + \`efi attach\` of Debian's signed ${path.basename(kernelSrc)}, vs \`sbattach\``,
  (b) => {
    fs.copyFileSync(kernelSrc, dk);
    const s =
      time(b, ['efi', 'detach', '--output', dkSig, '--remove', dk]) +
      time(b, ['efi', 'attach', '--signature', dkSig, dk]);
    sameAfter[b === bin ? 'new' : 'old'] &&= cmp(dk, kernelSrc);
    return s;
  },
  () => {
    fs.copyFileSync(kernelSrc, dk);
    const s = time('sbattach', ['--detach', dkSig, '--remove', dk]) + time('sbattach', ['--attach', dkSig, dk]);
    sameAfter.anchor &&= cmp(dk, kernelSrc);
    return s;
  },
);
console.log(`detach + attach gave the package's bytes back: kmodseal ${sameAfter.new}, sbattach ${sameAfter.anchor}`);

// 6. seal of a whole build: the 6.1 package's module tree, its kernel image (signature removed),
// the installer's initrd (its modules re-signed and the image re-packed) and a UKI of both, with
// an RSA-4096 ephemeral key and the RSA-2048 long-term key; the anchor is the same signing done
// the Debian way, without the initrd (nothing re-packs one): sign-file over the tree two at a time
// with a key made beforehand, sbsign of the image and of a UKI already built.
const set61 = sets['amd64-6.1'];
const tree0 = path.join(set61[4], 'lib/modules');
const di = path.join(
  cache,
  'efi/amd64/debian-installer-12-netboot-amd64/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64/initrd.gz',
);
const image61 = unsigned(
  path.join(
    set61[4],
    'boot',
    fs.readdirSync(path.join(set61[4], 'boot')).find((f) => f.startsWith('vmlinuz-')),
  ),
  'vmlinuz-6.1',
);
const modCount = (d) =>
  fs.readdirSync(d, { withFileTypes: true, recursive: true }).filter((e) => e.isFile() && /\.ko$/.test(e.name)).length;
const sealRuns = { new: [], old: [] };
let longTerm = null;
let sealedModules = 0;
const ephemeralKey = path.join(tmp, 'eph.key');
const ephemeralCert = path.join(tmp, 'eph.pem');
sh('openssl', [
  'req',
  '-x509',
  '-newkey',
  'rsa:4096',
  '-nodes',
  '-sha256',
  '-days',
  '1',
  '-subj',
  '/CN=bench eph',
  '-keyout',
  ephemeralKey,
  '-out',
  ephemeralCert,
]);
const anchorSeal = [];
const SIGN_FILE = '/usr/lib/linux-kbuild-6.1/scripts/sign-file';
for (let i = 0; i < runs; i++) {
  alternate(i, (b) => {
    const tree = path.join(tmp, 'seal-tree');
    fs.rmSync(tree, { recursive: true, force: true });
    fs.cpSync(tree0, tree, { recursive: true });
    const initrd = path.join(tmp, 'seal-initrd.gz');
    fs.copyFileSync(di, initrd);
    const img = path.join(tmp, 'seal-image');
    fs.copyFileSync(image61, img);
    const t0 = process.hrtime.bigint();
    const r = spawnSync(
      b.bin,
      [
        'seal',
        '--json',
        '--kernel-tree',
        tree,
        '--cert-out',
        path.join(tmp, 'seal-eph.pem'),
        '--image',
        img,
        '--sbat',
        sbat,
        '--initrd',
        initrd,
        '--uki-out',
        path.join(tmp, 'seal-uki.efi'),
        '--cmdline',
        'quiet',
        '--sb-key',
        key,
        '--sb-cert',
        cert,
      ],
      { encoding: 'utf8', maxBuffer: 1 << 28 },
    );
    sealRuns[b.side].push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (r.status !== 0) throw new Error(`seal failed (${r.status}): ${r.stderr}`);
    if (b.side === 'new') {
      const j = JSON.parse(r.stdout);
      longTerm = j.longTermSignatures ?? null;
      sealedModules = (j.modules ?? []).length;
    }
  });
  // the anchor: sign-file over a fresh copy of the tree, two at a time; sbsign of the image and of the UKI
  const tree = path.join(tmp, 'anchor-tree');
  fs.rmSync(tree, { recursive: true, force: true });
  fs.cpSync(tree0, tree, { recursive: true });
  const t0 = process.hrtime.bigint();
  execFileSync('sh', [
    '-c',
    `find "${tree}" -name '*.ko' -print0 | xargs -0 -P2 -n1 ${SIGN_FILE} sha256 "${ephemeralKey}" "${ephemeralCert}"`,
  ]);
  time('sbsign', ['--key', key, '--cert', cert, '--output', path.join(tmp, 'anchor-image'), image61]);
  time('sbsign', ['--key', key, '--cert', cert, '--output', path.join(tmp, 'anchor-uki'), uki]);
  anchorSeal.push(Number(process.hrtime.bigint() - t0) / 1e9);
}
{
  const f = figure({
    id: 'seal-build',
    label:
      `\`seal\` of ${set61[2]} (${modCount(tree0)} modules) + its image + the installer's initrd + a UKI ` +
      `(long-term key signatures: ${longTerm})`,
    ours: sealRuns.new,
    old: sealRuns.old,
    anchor: anchorSeal,
  });
  f.longTermSignatures = longTerm;
  f.modules = sealedModules;
  rows.push(f);
  console.log(`${f.label}: kmodseal ${f.kmodseal.toFixed(2)}s, anchor ${f.anchor?.toFixed(2)}s${againstText(f)}`);
}

fs.rmSync(tmp, { recursive: true, force: true });
emit('efi', {
  title: 'Secure Boot images: `efi sign`, `efi verify`, `efi detach`/`attach`',
  anchor: 'sbsign / sbverify / sbattach',
  stat: 'median',
  kernel: path.basename(kernelSrc),
  images: images.length,
  roundTrip: sameAfter,
  sealLongTermSignatures: longTerm,
  rows,
});
