/**
 * Initramfs images against the real tools: archives written by GNU cpio (-H newc) from real
 * Debian modules, compressed by gzip, xz, zstd and lz4 -l, behind an uncompressed early-microcode
 * archive as initramfs-tools lays them out, read entry for entry as `cpio -t` lists them; Debian's
 * own installer initrd (debian-installer-12-netboot-amd64) and its kernel; and `check --initrd`
 * on that pair: every module of the installer loads into its own kernel, the same verdicts as the
 * modules unpacked by cpio into a directory, and none loads into another 6.1 build.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runCli, kernelSet } from '../helpers.js';
import { EFI_CACHE } from '../efi/helpers.js';
import { tmpDir } from '../sign/helpers.js';
import { initramfsModules, readInitramfs } from '../../src/initrd/initramfs.js';

const DI = path.join(
  EFI_CACHE,
  'amd64/debian-installer-12-netboot-amd64/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64',
);
let dir = '';

before(() => {
  dir = tmpDir('initrd');
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const sh = (cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): Buffer =>
  execFileSync(cmd, args, { maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'], ...opts });
const sha = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

/** `cpio -t` of an archive (decompressed by `decompress` first when given), names as listed. */
function cpioList(archive: Buffer): string[] {
  return sh('cpio', ['-it', '--quiet'], { input: archive }).toString('utf8').trim().split('\n');
}

test('archives by GNU cpio, compressed by gzip, xz, zstd and lz4 -l, behind early microcode: as cpio -t lists them', async () => {
  const k = kernelSet('amd64-6.12');
  assert.ok(k, 'the amd64-6.12 kernel package is not cached (scripts/fetch-kernels.sh)');
  // a small root: some real modules of the package, a symlink, an init script
  const root = path.join(dir, 'root');
  const mods = path.join(root, 'usr/lib/modules', k.release, 'kernel');
  for (const rel of ['fs/ext4/ext4.ko.xz', 'drivers/md/dm-mod.ko.xz', 'lib/crc16.ko.xz', 'fs/mbcache.ko.xz']) {
    const src = path.join(k.modulesDir, 'kernel', rel);
    if (!fs.existsSync(src)) continue;
    fs.mkdirSync(path.dirname(path.join(mods, rel)), { recursive: true });
    fs.copyFileSync(src, path.join(mods, rel));
  }
  fs.symlinkSync('usr/lib', path.join(root, 'lib'));
  fs.writeFileSync(path.join(root, 'init'), '#!/bin/sh\nexec /bin/sh\n', { mode: 0o755 });
  const early = path.join(dir, 'early');
  fs.mkdirSync(path.join(early, 'kernel/x86/microcode'), { recursive: true });
  fs.writeFileSync(path.join(early, 'kernel/x86/microcode/AuthenticAMD.bin'), crypto.randomBytes(3001));
  const archive = (cwd: string): Buffer => {
    const names = sh('find', ['.', '-print0'], { cwd });
    return sh('cpio', ['-o', '-H', 'newc', '--null', '--quiet'], { cwd, input: names });
  };
  const main = archive(root);
  const earlyCpio = archive(early);
  const files = new Map<string, string>();
  for (const f of cpioList(main)) {
    const p = path.join(root, f);
    if (fs.lstatSync(p).isFile()) files.set(f, sha(fs.readFileSync(p)));
  }
  const compressors: [string, string[]][] = [
    ['gzip', ['gzip', '-9c']],
    ['xz', ['xz', '--check=crc32', '-c']],
    ['zstd', ['zstd', '-19', '-q', '-c']],
    ['lz4', ['lz4', '-l', '-9', '-q', '-c']],
  ];
  for (const [codec, [cmd, ...args]] of compressors) {
    const z = sh(cmd!, args, { input: main });
    const img = Buffer.concat([earlyCpio, z]);
    const r = await readInitramfs(img, `initrd.${codec}`);
    assert.deepEqual(
      r.archives.map((a) => [a.compression, a.length]),
      [
        ['none', earlyCpio.length],
        [codec, z.length],
      ],
      codec,
    );
    assert.deepEqual(
      r.entries.map((e) => e.name),
      [...cpioList(earlyCpio), ...cpioList(main)],
      `${codec}: the entries, as cpio -t lists them`,
    );
    for (const e of r.entries)
      if (files.has(e.name)) assert.equal(sha(e.data), files.get(e.name), `${codec}: ${e.name}'s bytes`);
    const found = initramfsModules(r).map((m) => m.path);
    assert.deepEqual(found, [...files.keys()].filter((f) => f.endsWith('.ko.xz')).sort(), codec);
  }
});

test("Debian's installer initrd: every entry as cpio -t lists it, every module's bytes as cpio -i unpacks them", async () => {
  const initrd = path.join(DI, 'initrd.gz');
  assert.ok(fs.existsSync(initrd), `${initrd} is missing (scripts/fetch-efi.sh)`);
  const img = fs.readFileSync(initrd);
  const r = await readInitramfs(img, initrd);
  assert.deepEqual(
    r.archives.map((a) => a.compression),
    ['gzip'],
  );
  const cpio = sh('gzip', ['-dc'], { input: img });
  assert.equal(r.archives[0]!.size, cpio.length, 'the decompressed size');
  assert.deepEqual(
    r.entries.map((e) => e.name),
    cpioList(cpio),
  );
  const unpacked = path.join(dir, 'di');
  fs.mkdirSync(unpacked);
  sh('cpio', ['-id', '--quiet', '--no-absolute-filenames', 'lib/modules/*'], { cwd: unpacked, input: cpio });
  const mods = initramfsModules(r);
  assert.ok(mods.length > 500, `only ${mods.length} modules`);
  for (const m of mods) assert.equal(sha(m.entry.data), sha(fs.readFileSync(path.join(unpacked, m.path))), m.path);
});

interface CheckJson {
  kernel: { release: string };
  modules: { file: string; name: string; outcome: string; reasons?: { code: string }[] }[];
}

test("check --initrd: the installer's modules all load into its own kernel, as when unpacked; none into another 6.1 build", async () => {
  const linux = path.join(DI, 'linux');
  const initrd = path.join(DI, 'initrd.gz');
  const r = await runCli(['check', '--json', '--kernel', linux, '--initrd', initrd]);
  assert.equal(r.code, 5, r.stderr); // staging drivers taint C
  const j = JSON.parse(r.stdout.toString()) as CheckJson;
  const outcomes = new Map<string, number>();
  for (const m of j.modules) outcomes.set(m.outcome, (outcomes.get(m.outcome) ?? 0) + 1);
  assert.equal(outcomes.get('rejected'), undefined, JSON.stringify([...outcomes]));
  assert.ok(j.modules.length > 500);
  for (const m of j.modules) assert.match(m.file, new RegExp(`^${initrd.replace(/[.+]/g, '\\$&')}:lib/modules/`));
  // the same modules unpacked by cpio into a directory: the same verdicts
  const unpacked = path.join(dir, 'di-check');
  fs.mkdirSync(unpacked);
  sh('cpio', ['-id', '--quiet', 'lib/modules/*'], { cwd: unpacked, input: sh('gzip', ['-dc', initrd]) });
  const release = fs.readdirSync(path.join(unpacked, 'lib/modules'))[0]!;
  const d = await runCli(['check', '--json', '--kernel', linux, path.join(unpacked, 'lib/modules', release)]);
  const dj = JSON.parse(d.stdout.toString()) as CheckJson;
  const verdict = (x: CheckJson): string[] => x.modules.map((m) => `${m.name} ${m.outcome}`).sort();
  assert.deepEqual(verdict(j), verdict(dj));
  // against the 6.1 build in the package cache (another ABI, another ephemeral module key): every one rejected
  const other = kernelSet('amd64-6.1');
  assert.ok(other, 'the amd64-6.1 kernel package is not cached');
  assert.notEqual(other.release, release);
  const o = await runCli(['check', '--json', '--kernel', other.deb, '--initrd', initrd]);
  assert.equal(o.code, 4, o.stderr);
  const oj = JSON.parse(o.stdout.toString()) as CheckJson;
  assert.equal(oj.modules.length, j.modules.length);
  assert.ok(
    oj.modules.every((m) => m.outcome === 'rejected'),
    'a module of another build loads',
  );
});

test("check --kernel UKI: a UKI built from the installer's kernel and initrd is checked with the modules it carries", async () => {
  const linux = path.join(DI, 'linux');
  const initrd = path.join(DI, 'initrd.gz');
  const uki = path.join(dir, 'di.efi');
  // Debian 12's stub leaves little room for .sbat (see docs/uki.md): one short row
  const sbat = path.join(dir, 'sbat.csv');
  fs.writeFileSync(sbat, 'sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n');
  const b = await runCli(['uki', 'build', '--linux', linux, '--initrd', initrd, '--sbat', sbat, '--out', uki]);
  assert.equal(b.code, 0, b.stderr);
  const viaUki = JSON.parse((await runCli(['check', '--json', '--kernel', uki])).stdout.toString()) as CheckJson;
  const viaInitrd = JSON.parse(
    (await runCli(['check', '--json', '--kernel', linux, '--initrd', initrd])).stdout.toString(),
  ) as CheckJson;
  assert.equal(viaUki.kernel.release, viaInitrd.kernel.release);
  assert.deepEqual(
    viaUki.modules.map((m) => `${m.name} ${m.outcome}`),
    viaInitrd.modules.map((m) => `${m.name} ${m.outcome}`),
  );
  assert.ok(viaUki.modules.every((m) => m.file.startsWith(`${uki}: .initrd:lib/modules/`)));
  // kernel UKI: the embedded kernel as any kernel, the UKI's sections, and the modules in its initrd
  const k = JSON.parse((await runCli(['kernel', '--json', uki])).stdout.toString()) as {
    release: string;
    uki: { sections: { name: string; sha256: string }[]; initrd: { modules: { path: string }[] } };
  };
  assert.equal(k.release, viaInitrd.kernel.release);
  assert.deepEqual(
    k.uki.sections.slice(0, 5).map((x) => x.name),
    ['.linux', '.osrel', '.initrd', '.uname', '.sbat'],
  );
  const initrdSection = k.uki.sections.find((x) => x.name === '.initrd')!;
  assert.equal(initrdSection.sha256, sha(fs.readFileSync(initrd)));
  assert.equal(k.uki.initrd.modules.length, viaUki.modules.length);
  // a UKI without .initrd and no modules given: a usage error saying so
  const bare = path.join(dir, 'bare.efi');
  assert.equal((await runCli(['uki', 'build', '--linux', linux, '--sbat', sbat, '--out', bare])).code, 0);
  const r = await runCli(['check', '--kernel', bare]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /no \.initrd section/);
});

test('check --initrd with a file that is not an initramfs: exit 1, the file and the offset', async () => {
  const bad = path.join(dir, 'not-initrd');
  fs.writeFileSync(bad, 'this is not an initramfs image');
  const k = kernelSet('amd64-6.12')!;
  const r = await runCli(['check', '--kernel', k.deb, '--initrd', bad]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /not-initrd: 0x0: initramfs: neither a cpio archive nor a compressed one/);
});
