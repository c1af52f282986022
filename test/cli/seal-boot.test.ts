/**
 * `seal` of a whole build: a module tree, the kernel image (`.sbat` set, signed with the
 * long-term key), initramfs images (their modules re-signed with the ephemeral key, re-packed)
 * and a UKI built from them and signed, on Debian's installer kernel and initrd and on initramfs
 * images written by GNU cpio and compressed by xz, zstd and gzip. Oracles: sbverify, sbsign (under
 * faketime, byte for byte), GNU cpio -t/-i, xz --robot -l, `efi verify`, `efi sbat`, `verify`,
 * `check --kernel UKI`; the long-term key as a PEM file and in SoftHSM2.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { kernelSet, runCli } from '../helpers.js';
import { EFI_CACHE, sbsign, selfSigned, sh as shText, unsignedImage, type KeyPair } from '../efi/helpers.js';
import { tmpDir } from '../sign/helpers.js';
import { findModuleSignature } from '../../src/modsig/signature.js';
import { DEFAULT_PKCS11_MODULE } from '../../src/keys/pkcs11-signer.js';

const DI = path.join(
  EFI_CACHE,
  'amd64/debian-installer-12-netboot-amd64/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64',
);
/** One short row: with the stub's two rows it fits the room Debian 12's stub leaves for `.sbat` (docs/uki.md). */
const SBAT = 'sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\nk,1,a,b,1,u\n';
const TIME = '2024-01-02 03:04:05';
const STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';

let dir = '';
let lt: KeyPair;
let sbat = '';
let image = '';

const sh = (cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): Buffer =>
  execFileSync(cmd, args, { maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'], ...opts });
const sha = (f: string): string => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const cpioList = (archive: Buffer): string[] =>
  sh('cpio', ['-it', '--quiet'], { input: archive }).toString().split('\n');

before(() => {
  dir = tmpDir('seal-boot');
  lt = selfSigned(dir, 'db', 2048);
  sbat = path.join(dir, 'sbat.csv');
  fs.writeFileSync(sbat, SBAT);
  image = unsignedImage(path.join(DI, 'linux'), dir, 'vmlinuz.unsigned');
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A copy of some modules of the 6.1 package with their signatures removed. */
function unsignedTree(name: string, n: number): string {
  const k = kernelSet('amd64-6.1');
  assert.ok(k, 'the amd64-6.1 kernel package is not cached (scripts/fetch-kernels.sh)');
  const out = path.join(dir, name);
  const files = sh('find', [path.join(k.modulesDir, 'kernel/lib'), '-name', '*.ko'])
    .toString()
    .trim()
    .split('\n');
  for (const f of files.slice(0, n)) {
    const dest = path.join(out, path.relative(k.modulesDir, f));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const data = fs.readFileSync(f);
    fs.writeFileSync(dest, data.subarray(0, findModuleSignature(data, f)!.moduleLength));
  }
  return out;
}

/** A newc archive by GNU cpio of a small root: compressed modules of the 6.12 package, a symlink, an init. */
function cpioRoot(name: string): Buffer {
  const k = kernelSet('amd64-6.12');
  assert.ok(k, 'the amd64-6.12 kernel package is not cached (scripts/fetch-kernels.sh)');
  const root = path.join(dir, name);
  const mods = path.join(root, 'usr/lib/modules', k.release, 'kernel');
  for (const rel of ['lib/crc16.ko.xz', 'fs/mbcache.ko.xz', 'lib/libcrc32c.ko.xz']) {
    const src = path.join(k.modulesDir, 'kernel', rel);
    assert.ok(fs.existsSync(src), src);
    fs.mkdirSync(path.dirname(path.join(mods, rel)), { recursive: true });
    fs.copyFileSync(src, path.join(mods, rel));
  }
  fs.symlinkSync('usr/lib', path.join(root, 'lib'));
  fs.writeFileSync(path.join(root, 'init'), '#!/bin/sh\nexec /bin/sh\n', { mode: 0o755 });
  const names = sh('find', ['.', '-print0'], { cwd: root });
  return sh('cpio', ['-o', '-H', 'newc', '--null', '--quiet'], { cwd: root, input: names });
}

/** Every module below `root` verified against the ephemeral certificate by `kmodseal verify`; their number. */
async function verifyAll(root: string, cert: string): Promise<number> {
  const v = await runCli(['verify', '--json', '--cert', cert, root]);
  assert.equal(v.code, 0, v.stdout.toString() + v.stderr);
  const out = JSON.parse(v.stdout.toString()) as { status: string }[];
  assert.ok(out.every((m) => m.status === 'ok'));
  return out.length;
}

interface Manifest {
  modules: { path: string; error: string | null }[];
  artefacts: { path: string; kind: string; sha256: string; key: string; signer: string; container?: string }[];
  longTermSignatures: number;
}

test('seal with a file key: tree, installer kernel + initrd, xz/zstd initrds behind early microcode, a UKI', async () => {
  assert.ok(fs.existsSync(STUB), `${STUB} is missing (systemd-boot-efi)`);
  const tree = unsignedTree('tree', 6);
  const di = path.join(dir, 'initrd.gz');
  fs.copyFileSync(path.join(DI, 'initrd.gz'), di);
  // early microcode archive (plain) + the main archive, compressed as initramfs-tools does
  const earlyRoot = path.join(dir, 'early');
  fs.mkdirSync(path.join(earlyRoot, 'kernel/x86/microcode'), { recursive: true });
  fs.writeFileSync(path.join(earlyRoot, 'kernel/x86/microcode/GenuineIntel.bin'), crypto.randomBytes(2049));
  const early = sh('cpio', ['-o', '-H', 'newc', '--null', '--quiet'], {
    cwd: earlyRoot,
    input: sh('find', ['.', '-print0'], { cwd: earlyRoot }),
  });
  const main = cpioRoot('root');
  const xzImg = path.join(dir, 'initrd.xz');
  fs.writeFileSync(xzImg, Buffer.concat([early, sh('xz', ['--check=crc32', '-c'], { input: main })]));
  const zstdImg = path.join(dir, 'initrd.zst');
  fs.writeFileSync(zstdImg, sh('zstd', ['-q', '-c'], { input: main }));
  const before = new Map([di, xzImg, zstdImg].map((f) => [f, fs.readFileSync(f)]));

  const out = path.join(dir, 'vmlinuz.signed');
  const uki = path.join(dir, 'linux.efi');
  const eph = path.join(dir, 'eph.pem');
  const manifest = path.join(dir, 'manifest.json');
  const args = ['seal', '--type', 'rsa2048', tree, '--cert-out', eph, '--manifest', manifest];
  const r = await runCli([
    ...args,
    ...['--image', image, '--image-out', out, '--sbat', sbat],
    ...['--initrd', di, '--initrd', xzImg, '--initrd', zstdImg],
    ...['--uki-out', uki, '--cmdline', 'console=ttyS0  quiet', '--stub', STUB],
    ...['--sb-key', lt.key, '--sb-cert', lt.cert, '--signing-time', TIME.replace(' ', 'T') + 'Z'],
  ]);
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout.toString();
  assert.match(text, /^sealed with rsa2048 key CN=Build time autogenerated kernel key/);
  assert.match(text, new RegExp(`image ${out}: .sbat set, signed with the long-term key CN=kmodseal efi db`));
  assert.match(text, /initrd .*initrd\.xz: 3 modules re-signed with the ephemeral key, re-packed \(xz\)/);
  assert.match(text, /long-term key signatures: 2\n$/);
  assert.match(r.stderr, /sealed 6 of 6 modules/);

  // the manifest: every artefact; the long-term count equals the PE artefacts, however many modules
  const m = JSON.parse(fs.readFileSync(manifest, 'utf8')) as Manifest;
  const kinds = (k: string): Manifest['artefacts'] => m.artefacts.filter((a) => a.kind === k);
  assert.equal(m.longTermSignatures, kinds('pe').length + kinds('uki').length);
  assert.equal(m.longTermSignatures, 2);
  assert.equal(kinds('initrd').length, 3);
  assert.ok(kinds('module').length > 600, `${kinds('module').length} modules`);
  for (const a of m.artefacts) {
    assert.equal(a.key, a.kind === 'pe' || a.kind === 'uki' ? 'long-term' : 'ephemeral');
    assert.equal(a.signer, a.key === 'long-term' ? 'CN=kmodseal efi db' : 'CN=Build time autogenerated kernel key');
    if (a.kind !== 'module' || a.container === undefined) assert.equal(a.sha256, sha(a.path), a.path);
  }
  // without the new options, the manifest is what it was
  const plain = ['seal', '--type', 'rsa2048', unsignedTree('tree-json', 2), '--cert-out', path.join(dir, 'j.pem')];
  const j = await runCli([...plain, '--json']);
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(Object.keys(JSON.parse(j.stdout.toString()) as object), ['certificate', 'hash', 'modules']);

  // the image and the UKI: sbverify, efi verify, efi sbat; the image equals sbsign's of the same bytes
  for (const f of [out, uki]) {
    shText('sbverify', ['--cert', lt.cert, f]);
    const v = await runCli(['efi', 'verify', '--cert', lt.cert, f]);
    assert.equal(v.code, 0, v.stdout.toString());
    const s = await runCli(['efi', 'sbat', f]);
    assert.match(s.stdout.toString(), /^ {2}k,1,a,b,1,u$/m);
  }
  const bare = path.join(dir, 'vmlinuz.sbat');
  fs.copyFileSync(out, bare);
  shText('sbattach', ['--remove', bare]);
  const theirs = path.join(dir, 'vmlinuz.sbsign');
  sbsign(['--key', lt.key, '--cert', lt.cert, '--output', theirs, bare], TIME);
  assert.ok(fs.readFileSync(theirs).equals(fs.readFileSync(out)), 'the signed image differs from sbsign');

  // each initrd: the same entries in the same order (cpio -t), its modules verify with the ephemeral certificate
  const decompress: Record<string, string[]> = { gz: ['gzip', '-dc'], xz: ['xz', '-dc'], zst: ['zstd', '-dc'] };
  for (const f of [di, xzImg, zstdImg]) {
    const was = before.get(f)!;
    const now = fs.readFileSync(f);
    assert.ok(!was.equals(now), `${f} unchanged`);
    const skip = f === xzImg ? early.length : 0;
    assert.ok(now.subarray(0, skip).equals(was.subarray(0, skip)), 'the early archive is copied');
    const [cmd, ...flags] = decompress[path.extname(f).slice(1)]!;
    const cpio = (b: Buffer): Buffer => sh(cmd!, flags, { input: b.subarray(skip) });
    assert.deepEqual(cpioList(cpio(now)), cpioList(cpio(was)), f);
    const unpacked = path.join(dir, `unpacked-${path.basename(f)}`);
    fs.mkdirSync(unpacked);
    sh('cpio', ['-id', '--quiet'], { cwd: unpacked, input: cpio(now) });
    const n = await verifyAll(
      fs.existsSync(path.join(unpacked, 'usr/lib/modules'))
        ? path.join(unpacked, 'usr/lib/modules')
        : path.join(unpacked, 'lib/modules'),
      eph,
    );
    assert.equal(n, m.artefacts.filter((a) => a.kind === 'module' && a.container === f).length);
  }
  // the xz archive keeps the CRC32 check the kernel's xz decoder needs
  const xzTail = path.join(dir, 'main.cpio.xz');
  fs.writeFileSync(xzTail, fs.readFileSync(xzImg).subarray(early.length));
  assert.match(sh('xz', ['--robot', '-lv', xzTail]).toString(), /\tCRC32\t/);
  // the tree's modules too
  assert.equal(await verifyAll(tree, eph), 6);

  // check --kernel UKI reads the UKI's (re-sealed) initrd
  const c = await runCli(['check', '--json', '--kernel', uki]);
  const cj = JSON.parse(c.stdout.toString()) as { modules: { file: string }[] };
  // the initrds are joined: the xz and zstd images carry the same paths, the last one wins as when unpacked
  const inUki = new Set(m.artefacts.filter((a) => a.kind === 'module' && a.container !== undefined).map((a) => a.path))
    .size;
  assert.equal(cj.modules.length, inUki, c.stderr);
});

test('seal with the long-term key in SoftHSM2 (pkcs11: URI): the image and a UKI, two long-term signatures', async () => {
  assert.ok(fs.existsSync(DEFAULT_PKCS11_MODULE), `${DEFAULT_PKCS11_MODULE} is missing (scripts/setup.sh --tests)`);
  const hsm = path.join(dir, 'hsm');
  fs.mkdirSync(path.join(hsm, 'tokens'), { recursive: true });
  const conf = path.join(hsm, 'softhsm2.conf');
  fs.writeFileSync(
    conf,
    `directories.tokendir = ${hsm}/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
  );
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  const previous = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = conf;
  try {
    shText('softhsm2-util', ['--init-token', '--free', '--label', 'sb', '--so-pin', '5678', '--pin', '1234'], env);
    const p8 = path.join(hsm, 'key.p8');
    shText('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', lt.key, '-out', p8]);
    shText('softhsm2-util', ['--import', p8, '--token', 'sb', '--label', 'db', '--id', '01', '--pin', '1234'], env);
    const tree = unsignedTree('tree-hsm', 3);
    const img = path.join(dir, 'vmlinuz.hsm');
    fs.copyFileSync(image, img);
    const uki = path.join(dir, 'hsm.efi');
    const r = await runCli([
      ...['seal', '--type', 'p256', tree, '--cert-out', path.join(dir, 'eph-hsm.pem'), '--json'],
      ...['--image', img, '--sbat', sbat, '--uki-out', uki, '--stub', STUB, '--cmdline', 'quiet'],
      ...['--sb-key', 'pkcs11:token=sb;object=db;pin-value=1234', '--sb-cert', lt.cert],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout.toString()) as Manifest;
    assert.equal(m.longTermSignatures, 2);
    assert.deepEqual(
      m.artefacts.filter((a) => a.key === 'long-term').map((a) => [a.path, a.kind]),
      [
        [img, 'pe'],
        [uki, 'uki'],
      ],
    );
    for (const f of [img, uki]) shText('sbverify', ['--cert', lt.cert, f]);
  } finally {
    if (previous === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = previous;
  }
});

test('refusals write nothing: a bad SBAT, an image that is no PE, a signed image, a missing key, an lz4 initrd', async () => {
  const tree = unsignedTree('tree-refused', 2);
  const treeBefore = sh('sha256sum', sh('find', [tree, '-type', 'f']).toString().trim().split('\n')).toString();
  const initrd = path.join(dir, 'refused.xz');
  fs.writeFileSync(initrd, sh('xz', ['--check=crc32', '-c'], { input: cpioRoot('root-refused') }));
  const initrdSha = sha(initrd);
  const imageSha = sha(image);
  const badSbat = path.join(dir, 'bad.csv');
  fs.writeFileSync(badSbat, 'sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\nk,1,a\n');
  const lz4 = path.join(dir, 'refused.lz4');
  fs.writeFileSync(lz4, sh('lz4', ['-l', '-c'], { input: cpioRoot('root-lz4') }));
  const lz4Sha = sha(lz4);
  const notPe = path.join(dir, 'not-a-pe');
  fs.writeFileSync(notPe, 'MZ but nothing more\n');
  const signed = path.join(DI, 'linux');
  const cert = path.join(dir, 'refused.pem');
  const uki = path.join(dir, 'refused.efi');
  const out = path.join(dir, 'refused.signed');
  const base = ['seal', '--type', 'rsa2048', tree, '--cert-out', cert, '--initrd', initrd];
  const key = ['--sb-key', lt.key, '--sb-cert', lt.cert];
  const cases: [string, string[], number, RegExp][] = [
    ['bad SBAT', ['--image', image, '--image-out', out, '--sbat', badSbat, ...key], 1, /sbat: .*3 fields/],
    ['no PE', ['--image', notPe, '--image-out', out, ...key], 1, /not-a-pe/],
    ['signed image', ['--image', signed, '--image-out', out, ...key], 1, /already signed/],
    ['no key', ['--image', image, '--image-out', out, '--uki-out', uki, '--stub', STUB], 2, /--sb-key/],
    [
      'key file missing',
      ['--image', image, '--image-out', out, '--sb-key', path.join(dir, 'nope.key'), '--sb-cert', lt.cert],
      1,
      /nope\.key/,
    ],
    [
      'key not the certificate',
      ['--image', image, '--image-out', out, '--sb-key', lt.key, '--sb-cert', selfSigned(dir, 'other', 2048).cert],
      1,
      /does not belong/,
    ],
    ['lz4 initrd', ['--initrd', lz4], 1, /lz4-compressed archive at 0x0 .*gzip, xz and zstd/],
  ];
  for (const [what, extra, code, message] of cases) {
    const r = await runCli([...base, ...extra]);
    assert.equal(r.code, code, `${what}: ${r.stderr}`);
    assert.match(r.stderr, message, what);
    for (const f of [cert, uki, out]) assert.ok(!fs.existsSync(f), `${what}: ${f} written`);
    assert.equal(sha(initrd), initrdSha, what);
    assert.equal(sha(image), imageSha, what);
    assert.equal(sha(lz4), lz4Sha, what);
    assert.equal(
      sh('sha256sum', sh('find', [tree, '-type', 'f']).toString().trim().split('\n')).toString(),
      treeBefore,
      what,
    );
  }
});

test('the kernel itself unpacks a re-packed initramfs: xz behind early microcode, booted under qemu', async () => {
  const busybox = '/bin/busybox';
  assert.ok(fs.existsSync(busybox), 'busybox-static is missing (scripts/setup.sh --tests)');
  const root = path.join(dir, 'boot-root');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.copyFileSync(busybox, path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  const k = kernelSet('amd64-6.12')!;
  const mod = path.join(root, 'usr/lib/modules', k.release, 'kernel/lib/crc16.ko.xz');
  fs.mkdirSync(path.dirname(mod), { recursive: true });
  fs.copyFileSync(path.join(k.modulesDir, 'kernel/lib/crc16.ko.xz'), mod);
  fs.writeFileSync(
    path.join(root, 'init'),
    '#!/bin/busybox sh\n/bin/busybox echo UNPACKED\n/bin/busybox sha256sum /usr/lib/modules/*/kernel/lib/*\n' +
      '/bin/busybox poweroff -f\n',
    { mode: 0o755 },
  );
  const earlyRoot = path.join(dir, 'boot-early');
  fs.mkdirSync(path.join(earlyRoot, 'kernel/x86/microcode'), { recursive: true });
  fs.writeFileSync(path.join(earlyRoot, 'kernel/x86/microcode/GenuineIntel.bin'), crypto.randomBytes(3001));
  const cpio = (cwd: string): Buffer =>
    sh('cpio', ['-o', '-H', 'newc', '--null', '--quiet'], { cwd, input: sh('find', ['.', '-print0'], { cwd }) });
  const initrd = path.join(dir, 'boot.img');
  fs.writeFileSync(initrd, Buffer.concat([cpio(earlyRoot), sh('xz', ['--check=crc32', '-c'], { input: cpio(root) })]));
  const r = await runCli([
    ...['seal', '--type', 'rsa2048', unsignedTree('tree-boot', 1), '--cert-out', path.join(dir, 'boot.pem')],
    ...['--initrd', initrd, '--json'],
  ]);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout.toString()) as Manifest;
  const sealed = m.artefacts.find((a) => a.container === initrd)!;
  assert.equal(sealed.path, path.relative(root, mod));
  const log = sh('timeout', [
    ...['--kill-after=10', '300', 'qemu-system-x86_64', '-accel', 'tcg', '-cpu', 'max', '-m', '512', '-smp', '1'],
    ...['-nographic', '-nodefaults', '-no-reboot', '-serial', 'stdio', '-monitor', 'none'],
    ...['-kernel', image, '-initrd', initrd, '-append', 'console=ttyS0 panic=-1 rdinit=/init'],
  ]).toString('latin1');
  assert.doesNotMatch(log, /Initramfs unpacking failed/);
  assert.match(log, /UNPACKED/);
  // the module the kernel unpacked is the one seal signed
  assert.match(log, new RegExp(`${sealed.sha256} {2}/usr/lib/modules/`));
});
