/**
 * `kmodseal kernel` on the cached Debian packages (tree and .deb), the test kernel and the
 * running system, checked against openssl, Module.symvers, bpftool and the modules' signers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { TESTKERNEL, cachedPackageDir, corpus, have, runBin } from '../helpers.js';
import type { KernelJson } from '../../src/report/kernel.js';

const sets = corpus();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-kernel-'));

function kernelJson(args: string[]): KernelJson {
  const r = runBin(['kernel', '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.toString('utf8')) as KernelJson;
}

const jsonBySet = new Map<string, KernelJson>();
function forSet(set: string): KernelJson {
  let j = jsonBySet.get(set);
  if (!j) jsonBySet.set(set, (j = kernelJson([sets.find((s) => s.set === set)!.dir])));
  return j;
}

test('the corpus has an arm64 package and amd64 6.1 headers', () => {
  assert.ok(sets.some((s) => s.set === 'arm64-6.1'));
  assert.ok(cachedPackageDir('amd64-6.1-headers'));
});

for (const k of sets) {
  test(`${k.set}: release, banner and every certificate agree with the package and openssl`, () => {
    const j = forSet(k.set);
    assert.equal(j.release, k.release);
    assert.match(j.banner!, new RegExp(`^Linux version ${k.release.replace(/[+.]/g, '\\$&')} `));
    assert.ok(j.certificates.length >= 1, 'at least the build key');
    for (const c of j.certificates) {
      const der = Buffer.from(c.der, 'base64');
      const file = path.join(tmp, `${k.set}-${c.sha256}.der`);
      fs.writeFileSync(file, der);
      const out = execFileSync('openssl', [
        'x509',
        '-inform',
        'DER',
        '-in',
        file,
        '-noout',
        '-subject',
        '-fingerprint',
        '-sha256',
        '-serial',
        '-nameopt',
        'RFC2253',
      ]).toString();
      assert.match(out, new RegExp(`sha256 Fingerprint=${c.sha256.toUpperCase().match(/../g)!.join(':')}`));
      assert.match(out, new RegExp(`serial=0*${c.serial.toUpperCase()}\\n`));
      assert.ok(out.includes(`subject=${c.subject}`), `${out} vs ${c.subject}`);
    }
  });

  test(`${k.set}: every module is signed by a key the same package's image embeds, none by another build's`, () => {
    const own = new Set(forSet(k.set).certificates.map((c) => c.serial));
    // one build signs all flavours of an upload (amd64 and cloud-amd64 6.1.0-N share their key):
    // another build is another architecture or version
    const others = new Set(
      sets
        .filter((s) => s.arch !== k.arch || s.version !== k.version)
        .flatMap((s) => forSet(s.set).certificates.map((c) => c.serial)),
    );
    const r = runBin(['inspect', '--json', k.modulesDir]);
    assert.equal(r.code, 0, r.stderr);
    const mods = JSON.parse(r.stdout.toString('utf8')) as { filename: string; signature: { keyId: string } | null }[];
    assert.ok(mods.length > 1000);
    for (const m of mods) {
      assert.ok(m.signature, `${m.filename}: unsigned`);
      assert.ok(own.has(m.signature.keyId), `${m.filename}: signed by ${m.signature.keyId}, not embedded in ${k.set}`);
      assert.ok(!others.has(m.signature.keyId), `${m.filename}: signed by another build's key`);
    }
  });
}

test('a .deb gives the same facts as its unpacked tree', () => {
  for (const set of ['amd64-6.1', 'amd64-6.12']) {
    const k = sets.find((s) => s.set === set)!;
    const fromDeb = kernelJson([k.deb]);
    assert.deepEqual({ ...fromDeb, source: '' }, { ...forSet(set), source: '' });
  }
});

test('amd64 6.1 --symvers has exactly the vmlinux lines of the matching linux-headers Module.symvers', () => {
  const k = sets.find((s) => s.set === 'amd64-6.1')!;
  const headers = cachedPackageDir('amd64-6.1-headers')!;
  const symvers = fs.readFileSync(
    path.join(headers, 'usr/src', fs.readdirSync(path.join(headers, 'usr/src'))[0]!, 'Module.symvers'),
    'latin1',
  );
  const theirs = symvers.split('\n').filter((l) => l.split('\t')[2] === 'vmlinux');
  const r = runBin(['kernel', '--symvers', k.dir]);
  assert.equal(r.code, 0, r.stderr);
  const ours = r.stdout.toString('latin1').replace(/\n$/, '').split('\n');
  assert.equal(ours.length, theirs.length);
  // Module.symvers lists symbols in vmlinux.o link order, which the image does not keep; the
  // image's own order (by name within __ksymtab, then __ksymtab_gpl) is what we print.
  assert.deepEqual([...ours].sort(), [...theirs].sort());
});

test(
  'the BTF summary agrees with bpftool on the extracted vmlinux',
  { skip: !have('bpftool') && 'bpftool missing' },
  () => {
    const k = sets.find((s) => s.set === 'amd64-6.12')!;
    const out = path.join(tmp, 'vmlinux-6.12');
    const r = runBin(['kernel', '--json', '--extract-vmlinux', out, k.dir]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout.toString('utf8')) as KernelJson;
    const dump = execFileSync('bpftool', ['btf', 'dump', 'file', out, 'format', 'raw'], {
      maxBuffer: 1 << 30,
    }).toString();
    const last = dump
      .split('\n')
      .filter((l) => l.startsWith('['))
      .pop()!;
    assert.equal(Number(/^\[(\d+)\]/.exec(last)![1]), j.btf!.types);
    const section = path.join(tmp, 'btf.bin');
    execFileSync('objcopy', ['-O', 'binary', '--only-section=.BTF', out, section]);
    assert.equal(fs.statSync(section).size, j.btf!.size);
  },
);

test('test kernel: the four compiled-in certificates by name, the reserved extra area, --extract-certs', () => {
  const trust = JSON.parse(fs.readFileSync(path.join(TESTKERNEL, 'keys/trust.json'), 'utf8')) as unknown;
  const compiledIn = (Array.isArray(trust) ? trust : Object.values(trust as object)) as Record<string, unknown>[];
  const j = kernelJson([path.join(TESTKERNEL, 'vmlinux')]);
  const names = (compiledIn as { name: string; kernel_cert_name: string }[]).filter((c) =>
    ['build', 'ca', 'direct', 'ecdirect'].includes(c.name),
  );
  assert.deepEqual(
    j.certificates.map((c) => c.kernelName),
    names.map((c) => c.kernel_cert_name),
  );
  assert.equal(names.length, 4);
  assert.equal(j.certificateList!.method, 'symbols');
  assert.ok(j.certificateList!.extra && j.certificateList!.extra.size >= 4096 && j.certificateList!.extra.used === 0);
  assert.equal(j.config!.MODULE_SIG, true);
  assert.equal(j.config!.MODULE_ALLOW_BTF_MISMATCH, false);
  const dir = path.join(tmp, 'certs');
  assert.equal(runBin(['kernel', '--extract-certs', dir, path.join(TESTKERNEL, 'vmlinux')]).code, 0);
  const files = fs.readdirSync(dir).sort();
  assert.equal(files.length, 4);
  const subject = execFileSync('openssl', [
    'x509',
    '-inform',
    'DER',
    '-in',
    path.join(dir, 'cert-1.der'),
    '-noout',
    '-subject',
  ]).toString();
  assert.match(subject, /kmodseal test root CA/);
});

test('--running reads /proc and /sys', () => {
  const r = runBin(['kernel', '--running', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout.toString('utf8')) as KernelJson;
  assert.equal(j.release, os.release());
  if (fs.existsSync('/sys/kernel/btf/vmlinux'))
    assert.equal(j.btf!.size, fs.statSync('/sys/kernel/btf/vmlinux').size || j.btf!.size);
});

test('bad kernels: one error line with offset and exit 1; usage errors exit 2', () => {
  const k = sets.find((s) => s.set === 'amd64-6.1')!;
  const image = fs.readdirSync(path.join(k.dir, 'boot')).find((n) => n.startsWith('vmlinuz-'))!;
  const cut = path.join(tmp, 'cut.bzImage');
  fs.writeFileSync(cut, fs.readFileSync(path.join(k.dir, 'boot', image)).subarray(0, 3_000_000));
  const r = runBin(['kernel', cut]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /cut\.bzImage.*0x[0-9a-f]+/);
  const garbage = path.join(tmp, 'garbage.img');
  fs.writeFileSync(garbage, Buffer.alloc(100000, 0x5a));
  assert.equal(runBin(['kernel', garbage]).code, 1);
  assert.equal(runBin(['kernel']).code, 2);
  assert.equal(runBin(['kernel', '--running', garbage]).code, 2);
  assert.equal(runBin(['kernel', path.join(tmp, 'missing')]).code, 3);
});

test('a build tree without an image: release, config and exports from Module.symvers, --symvers line for line', () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'symvers-'));
  for (const f of ['Module.symvers', 'System.map', 'kernel.release', 'config'])
    fs.copyFileSync(path.join(TESTKERNEL, f), path.join(dir, f));
  const j = kernelJson([dir]);
  assert.equal(j.release, fs.readFileSync(path.join(TESTKERNEL, 'kernel.release'), 'utf8').trim());
  assert.equal(j.config!.MODULE_SIG, true);
  const vmlinuxLines = fs
    .readFileSync(path.join(TESTKERNEL, 'Module.symvers'), 'latin1')
    .split('\n')
    .filter((l) => l.split('\t')[2] === 'vmlinux');
  assert.equal(j.exports!.count, vmlinuxLines.length);
  const r = runBin(['kernel', '--symvers', dir]);
  assert.equal(r.stdout.toString('latin1'), vmlinuxLines.join('\n') + '\n');
  // Debian's linux-headers tree: the same exports the image has
  const headers = cachedPackageDir('amd64-6.1-headers')!;
  const src = path.join(
    headers,
    'usr/src',
    fs.readdirSync(path.join(headers, 'usr/src')).find((n) => n.endsWith('-amd64'))!,
  );
  assert.equal(kernelJson([src]).exports!.count, forSet('amd64-6.1').exports!.count);
});
