/**
 * The cached Debian kernel packages (.cache/kernels, `npm run fetch-kernels`): amd64 6.1 (xz
 * bzImage/PE), amd64 6.12 (zstd bzImage/PE, .ko.xz modules), armhf 6.1 (ARM zImage) and s390x
 * 6.1 (s390 image). Cross-checked against xz/zstd, openssl and the packages' own modules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Elf } from '../../src/elf/elf.js';
import { decompressModule } from '../../src/compress/index.js';
import { findModuleSignature } from '../../src/modsig/signature.js';
import { inspectKernelImage, type KernelInspection } from '../../src/kernel/inspect.js';
import { parseKernelConfig } from '../../src/kernel/config.js';
import { needKernel, opensslCert, sample, type CachedKernel } from './helpers.js';

const inspected = new Map<string, Promise<KernelInspection>>();
function inspect(k: CachedKernel): Promise<KernelInspection> {
  let p = inspected.get(k.set);
  if (!p) inspected.set(k.set, (p = inspectKernelImage(readFileSync(k.vmlinuz), { file: k.vmlinuz })));
  return p;
}

function modulesOf(k: CachedKernel): string[] {
  const root = join(k.dir, 'lib/modules', k.release, 'kernel');
  return (readdirSync(root, { recursive: true }) as string[])
    .filter((f) => /\.ko(\.xz|\.zst|\.gz)?$/.test(f))
    .sort()
    .map((f) => join(root, f));
}

const EXPECT: Record<string, { kind: string; compression: string; isElf: boolean; pe: boolean }> = {
  'amd64-6.1': { kind: 'bzimage', compression: 'xz', isElf: true, pe: true },
  'amd64-6.12': { kind: 'bzimage', compression: 'zstd', isElf: true, pe: true },
  'armhf-6.1': { kind: 'scanned', compression: 'xz', isElf: false, pe: true },
  's390x-6.1': { kind: 'scanned', compression: 'xz', isElf: false, pe: false },
};

for (const set of Object.keys(EXPECT)) {
  test(`${set}: image, release, certificates (openssl), config file policy`, async (t) => {
    const k = needKernel(t, set);
    if (!k) return;
    const info = await inspect(k);
    const want = EXPECT[set]!;
    assert.deepEqual(
      { kind: info.image.kind, compression: info.image.compression, isElf: info.isElf, pe: info.image.pe },
      want,
    );
    assert.equal(info.release, k.release, 'release is the lib/modules directory name');
    assert.ok(info.banner!.includes(`Debian ${k.version} `), 'banner names the package version');
    const list = info.certificates!;
    assert.ok(list.certificates.length >= 1);
    assert.equal(list.unreachable, 0);
    for (const c of list.certificates) {
      const o = opensslCert(Buffer.from(c.der, 'base64'));
      assert.deepEqual({ subject: c.subject, serial: c.serial, sha256: c.sha256 }, o);
    }
    // Debian builds no IKCONFIG; the config ships as boot/config-RELEASE.
    assert.equal(info.config, undefined);
    const policy = parseKernelConfig(readFileSync(join(k.dir, 'boot', `config-${k.release}`), 'latin1')).policy;
    assert.equal(policy.moduleSig, true);
    assert.equal(policy.modversions, true);
    assert.equal(policy.moduleCompress, set === 'amd64-6.12' ? 'xz' : 'none');
  });
}

test("amd64: decompressed payload equals the xz/zstd command-line tools' output", async (t) => {
  for (const set of ['amd64-6.1', 'amd64-6.12']) {
    const k = needKernel(t, set);
    if (!k) return;
    const info = await inspect(k);
    const tool = info.image.compression === 'xz' ? 'xz -dc' : 'zstd -dc';
    // The payload minus the 4-byte size that scripts/Makefile.lib appends.
    const cmd = `tail -c +${info.image.payloadOffset + 1} '${k.vmlinuz}' | head -c ${info.image.payloadLength - 4} | ${tool} | sha256sum`;
    const theirs = execSync(cmd, { shell: '/bin/bash' }).toString().split(' ')[0];
    assert.equal(createHash('sha256').update(info.kernel).digest('hex'), theirs, set);
  }
});

test('amd64-6.1: every sampled signed module is signed by a certificate embedded in vmlinuz', async (t) => {
  const k = needKernel(t, 'amd64-6.1');
  if (!k) return;
  const certs = (await inspect(k)).certificates!.certificates;
  const keys = new Set(certs.map((c) => `${c.issuer}|${c.serial}`));
  let signed = 0;
  for (const path of sample(modulesOf(k), 50)) {
    const { data } = await decompressModule(readFileSync(path), path);
    const sig = findModuleSignature(data, path);
    if (!sig) continue;
    signed++;
    const p7 = sig.pkcs7!;
    assert.ok(
      keys.has(`${p7.issuer}|${Buffer.from(p7.serial!).toString('hex')}`),
      `${path}: signer ${p7.issuer} ${Buffer.from(p7.serial!).toString('hex')} is embedded`,
    );
  }
  assert.ok(signed >= 45, `${signed} of 50 sampled modules are signed`);
});

for (const set of ['amd64-6.12', 'armhf-6.1', 's390x-6.1']) {
  test(`${set}: sampled modules are signed by an embedded certificate`, async (t) => {
    const k = needKernel(t, set);
    if (!k) return;
    const certs = (await inspect(k)).certificates!.certificates;
    const keys = new Set(certs.map((c) => `${c.issuer}|${c.serial}`));
    for (const path of sample(modulesOf(k), 8)) {
      const { data } = await decompressModule(readFileSync(path), path);
      const p7 = findModuleSignature(data, path)!.pkcs7!;
      assert.ok(keys.has(`${p7.issuer}|${Buffer.from(p7.serial!).toString('hex')}`), path);
    }
  });
}

/** __versions of a 64-bit module: struct modversion_info { unsigned long crc; char name[56]; }. */
function moduleVersions(data: Uint8Array, file: string): Map<string, number> {
  const elf = Elf.parse(data, file);
  const s = elf.findSection('__versions');
  const out = new Map<string, number>();
  if (!s) return out;
  const d = Buffer.from(elf.sectionData(s));
  for (let o = 0; o + 64 <= d.length; o += 64)
    out.set(d.toString('latin1', o + 8, d.indexOf(0, o + 8)), Number(d.readBigUInt64LE(o)));
  return out;
}

test('amd64: CRCs in vmlinux equal what sampled modules recorded in __versions', async (t) => {
  for (const set of ['amd64-6.1', 'amd64-6.12']) {
    const k = needKernel(t, set);
    if (!k) return;
    const info = await inspect(k);
    assert.equal(info.ksymtabLayout, 'prel32');
    const crc = new Map(info.exports!.map((e) => [e.name, e.crc]));
    assert.ok(info.exports!.every((e) => e.crc !== undefined));
    let checked = 0;
    for (const path of sample(modulesOf(k), 25)) {
      const { data } = await decompressModule(readFileSync(path), path);
      for (const [name, c] of moduleVersions(data, path)) {
        if (!crc.has(name)) continue; // exported by another module
        assert.equal(crc.get(name), c, `${set} ${path}: ${name}`);
        checked++;
      }
    }
    assert.ok(checked > 100, `${set}: ${checked} CRCs compared`);
  }
});

test('amd64-6.1: export counts agree with the section sizes', async (t) => {
  const k = needKernel(t, 'amd64-6.1');
  if (!k) return;
  const info = await inspect(k);
  const elf = Elf.parse(info.kernel, 'vmlinux');
  const n = (name: string): number => elf.findSection(name)!.sh_size;
  assert.equal(info.exports!.filter((e) => !e.gpl).length, n('__kcrctab') / 4);
  assert.equal(info.exports!.filter((e) => e.gpl).length, n('__kcrctab_gpl') / 4);
  assert.equal(info.exports!.length * 12, n('__ksymtab') + n('__ksymtab_gpl'));
});
