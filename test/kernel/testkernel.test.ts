/**
 * The test kernel kit (testkernel/build.sh): a 6.12 vmlinux with .symtab, its bzImage,
 * System.map, Module.symvers, config and test PKI. Expected values come from the kit's files,
 * its keys/ and the binutils/openssl tools, never from the code under test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Elf } from '../../src/elf/elf.js';
import { FormatError } from '../../src/bytes/errors.js';
import { unwrapKernelImage } from '../../src/kernel/image.js';
import { inspectVmlinux, findBuildId } from '../../src/kernel/vmlinux.js';
import { inspectKernelImage } from '../../src/kernel/inspect.js';
import { loadKernelImage } from '../../src/kernel/load.js';
import { parseKernelConfig } from '../../src/kernel/config.js';
import { formatSymvers, readExports } from '../../src/kernel/ksymtab.js';
import { parseSystemMap } from '../../src/kernel/system-map.js';
import { scanCertificateList } from '../../src/kernel/certs.js';
import { ROOT, kitFacts, needTestKernel, opensslCert, opensslPemFingerprint } from './helpers.js';

const kit = kitFacts();
// the four certificates compiled in, as the kernel names them (keys/trust.json)
const README_CERT_NAMES = ['build', 'ca', 'direct', 'ecdirect'].map((n) => kit.certName(n));
// where insert-sys-cert writes, from nm and readelf (never from the code under test)
const LIST_OFF = kit.offset('system_certificate_list');
const EXTRA_OFF = kit.offset('system_extra_cert');
const USED_OFF = kit.offset('system_extra_cert_used');
const SIZE_OFF = kit.offset('system_certificate_list_size');

let strippedCache: Uint8Array | undefined;
/** The stripped vmlinux inside bzImage (no .symtab). */
async function stripped(dir: string): Promise<Uint8Array> {
  strippedCache ??= (await unwrapKernelImage(readFileSync(join(dir, 'bzImage')), { file: 'bzImage' })).data;
  return strippedCache;
}

/** insert-sys-cert's edit (README): copy the DER, set used, add to the list size. */
function insertSysCert(image: Uint8Array, listOff: number, ders: Uint8Array[]): Uint8Array {
  const out = Uint8Array.from(image);
  const view = new DataView(out.buffer);
  const der = Buffer.concat(ders);
  out.set(der, EXTRA_OFF - LIST_OFF + listOff);
  view.setInt32(USED_OFF - LIST_OFF + listOff, der.length, true);
  view.setBigUint64(
    SIZE_OFF - LIST_OFF + listOff,
    view.getBigUint64(SIZE_OFF - LIST_OFF + listOff, true) + BigInt(der.length),
    true,
  );
  return out;
}

function pemToDer(path: string): Uint8Array {
  return execFileSync('openssl', ['x509', '-in', path, '-outform', 'DER']);
}

test('vmlinux: release, banner, build id, BTF, config', async (t) => {
  const dir = needTestKernel(t);
  if (!dir) return;
  const data = readFileSync(join(dir, 'vmlinux'));
  const info = await inspectVmlinux(data, { file: 'vmlinux' });
  assert.equal(info.isElf, true);
  assert.equal(info.release, readFileSync(join(dir, 'kernel.release'), 'utf8').trim());
  const strings = execFileSync('strings', ['-a', join(dir, 'vmlinux')], { maxBuffer: 1 << 28 })
    .toString()
    .split('\n');
  assert.ok(strings.includes(info.banner!), 'banner is one of the image strings');
  assert.match(info.banner!, /\(kmodseal@testkernel\)/, 'the builder build.sh names');
  const readelf = execFileSync('readelf', ['-n', join(dir, 'vmlinux')]).toString();
  assert.equal(info.buildId, /Build ID: ([0-9a-f]+)/.exec(readelf)![1]);

  const tmp = mkdtempSync(join(tmpdir(), 'kmodseal-btf-'));
  try {
    execFileSync('objcopy', ['-O', 'binary', '--only-section=.BTF', join(dir, 'vmlinux'), join(tmp, 'btf')]);
    assert.ok(
      Buffer.from(info.btf!).equals(readFileSync(join(tmp, 'btf'))),
      '.BTF bytes equal objcopy --only-section=.BTF',
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  const fileConfig = parseKernelConfig(readFileSync(join(dir, 'config'), 'latin1'));
  assert.deepEqual([...info.config!.values], [...fileConfig.values]);
  assert.equal(info.config!.values.get('CONFIG_SYSTEM_EXTRA_CERTIFICATE_SIZE'), '4096');
  assert.equal(info.config!.values.get('CONFIG_MODULE_SIG_HASH'), 'sha256');
  assert.equal(info.config!.values.has('CONFIG_MODULE_SIG_FORCE'), false);
  // README "Kernel policy"
  assert.deepEqual(info.config!.policy, {
    moduleSig: true,
    moduleSigForce: false,
    modversions: true,
    moduleAllowBtfMismatch: false,
    securityLockdownLsm: true,
    moduleCompress: 'none',
    moduleDecompress: false,
  });
});

test('vmlinux: built-in certificates via .symtab match README, keys/ and openssl', async (t) => {
  const dir = needTestKernel(t);
  if (!dir) return;
  const data = readFileSync(join(dir, 'vmlinux'));
  const info = await inspectVmlinux(data, { file: 'vmlinux' });
  const list = info.certificates!;
  assert.equal(list.method, 'symbols');
  assert.equal(list.offset, LIST_OFF);
  assert.equal(list.listSizeOffset, SIZE_OFF);
  assert.deepEqual(list.extra, { offset: EXTRA_OFF, size: 4096, used: 0, usedOffset: USED_OFF });
  assert.equal(list.listSize, EXTRA_OFF - LIST_OFF, 'the extra area directly follows the compiled-in list');
  assert.equal(list.unreachable, 0);
  assert.deepEqual(list.unparsed, []);
  assert.deepEqual(
    list.certificates.map((c) => c.kernelName),
    README_CERT_NAMES,
  );
  assert.equal(list.moduleCertSize, Buffer.from(list.certificates[0]!.der, 'base64').length);
  const keys = ['build', 'ca', 'direct', 'ecdirect'].map((k) => opensslPemFingerprint(join(dir, 'keys', `${k}.crt`)));
  assert.deepEqual(
    list.certificates.map((c) => c.sha256),
    keys,
  );
  const trust = JSON.parse(readFileSync(join(dir, 'keys/trust.json'), 'utf8')) as { name: string; skid: string }[];
  for (const [i, k] of ['build', 'ca', 'direct', 'ecdirect'].entries()) {
    assert.equal(list.certificates[i]!.subjectKeyId, trust.find((x) => x.name === k)!.skid);
  }
  for (const c of list.certificates) {
    const der = Buffer.from(c.der, 'base64');
    const o = opensslCert(der);
    assert.equal(c.subject, o.subject);
    assert.equal(c.serial, o.serial);
    assert.equal(c.sha256, o.sha256);
    assert.ok(data.subarray(c.offset, c.offset + der.length).equals(der), 'offset points at the DER');
  }
});

test('bzImage: unwraps to the stripped vmlinux; scan and System.map find the same list', async (t) => {
  const dir = needTestKernel(t);
  if (!dir) return;
  const bz = readFileSync(join(dir, 'bzImage'));
  const u = await unwrapKernelImage(bz, { file: 'bzImage' });
  assert.equal(u.kind, 'bzimage');
  assert.equal(u.compression, 'xz');
  assert.equal(u.pe, true); // the kit's bzImage is an EFI stub (kit.config, for test/e2e/ovmf.test.ts)
  assert.equal(u.isElf, true);
  // The x86 payload is `objcopy -R .comment -S vmlinux` (arch/x86/boot/compressed/Makefile).
  assert.equal(Elf.parse(u.data, 'x').symbols(), undefined);
  const full = await inspectVmlinux(readFileSync(join(dir, 'vmlinux')), { file: 'vmlinux' });
  const scanned = await inspectVmlinux(u.data, { file: 'bzImage' });
  assert.equal(scanned.certificates!.method, 'scan');
  assert.deepEqual(
    scanned.certificates!.certificates.map((c) => c.sha256),
    full.certificates!.certificates.map((c) => c.sha256),
  );
  assert.equal(scanned.certificates!.listSize, full.certificates!.listSize);
  assert.equal(scanned.release, full.release);
  assert.equal(scanned.buildId, full.buildId);
  assert.deepEqual(scanned.exports, full.exports);

  const map = parseSystemMap(readFileSync(join(dir, 'System.map'), 'latin1'));
  const viaMap = await inspectVmlinux(u.data, { file: 'bzImage', systemMap: map });
  assert.equal(viaMap.certificates!.method, 'symbols');
  // without .symtab insert-sys-cert sizes the area as the distance to the next symbol (4096 and padding)
  assert.equal(viaMap.certificates!.extra!.size, USED_OFF - EXTRA_OFF);
  assert.deepEqual(viaMap.certificates!.certificates, scanned.certificates!.certificates);

  // The same through the one-call API and the fs edge.
  const all = await inspectKernelImage(bz, { file: 'bzImage' });
  assert.equal(all.image.kind, 'bzimage');
  assert.equal(all.image.payloadOffset, (bz[0x1f1]! + 1) * 512 + bz.readUInt32LE(0x248));
  assert.equal(all.image.kernelSize, u.data.length);
  const loaded = await loadKernelImage(join(dir, 'bzImage'), { systemMapPath: join(dir, 'System.map') });
  assert.equal(loaded.certificates!.method, 'symbols');
  await assert.rejects(loadKernelImage(join(dir, 'no-such-file')), (e: Error & { code?: string }) => e.code === 'E_IO');
});

test('System.map of another build is refused', async (t) => {
  const dir = needTestKernel(t);
  if (!dir) return;
  const text = readFileSync(join(dir, 'System.map'), 'latin1').replace(
    /^([0-9a-f]+) (\S) linux_banner$/m,
    (_m, a: string, ty: string) => `${(BigInt(`0x${a}`) + 0x40n).toString(16)} ${ty} linux_banner`,
  );
  await assert.rejects(
    inspectVmlinux(await stripped(dir), { file: 'x', systemMap: parseSystemMap(text) }),
    (e) => e instanceof FormatError && e.code === 'E_FORMAT',
  );
});

test('certificates written into the extra area (insert-sys-cert) are found by symbols and by scan', async (t) => {
  const dir = needTestKernel(t);
  if (!dir) return;
  const extraca = pemToDer(join(dir, 'keys/extraca.crt'));
  const untrusted = pemToDer(join(dir, 'keys/untrusted.crt'));
  const patched = insertSysCert(readFileSync(join(dir, 'vmlinux')), LIST_OFF, [extraca]);
  const list = (await inspectVmlinux(patched, { file: 'patched' })).certificates!;
  assert.equal(list.method, 'symbols');
  assert.equal(list.extra!.used, extraca.length);
  assert.equal(list.certificates.length, 5);
  assert.equal(list.certificates[4]!.kernelName, kit.certName('extraca'));
  assert.equal(list.certificates[4]!.offset, EXTRA_OFF);

  const s = await stripped(dir);
  const listOff = scanCertificateList(s, 's', [{ wordSize: 8, littleEndian: true }])!.offset;
  for (const ders of [[extraca], [extraca, untrusted]]) {
    const scanned = scanCertificateList(insertSysCert(s, listOff, ders), 's', [{ wordSize: 8, littleEndian: true }])!;
    assert.equal(scanned.certificates.length, 4 + ders.length);
    assert.deepEqual(
      scanned.certificates.slice(4).map((c) => c.sha256),
      ders.map((d) => opensslCert(d).sha256),
    );
    assert.equal(scanned.listSize, EXTRA_OFF - LIST_OFF + ders.reduce((n, d) => n + d.length, 0));
  }
});

test('exports equal the vmlinux lines of Module.symvers', async (t) => {
  const dir = needTestKernel(t);
  if (!dir) return;
  const elf = Elf.parse(readFileSync(join(dir, 'vmlinux')), 'vmlinux');
  const exports = readExports(elf)!;
  const mine = formatSymvers(exports).split('\n').filter(Boolean);
  const theirs = readFileSync(join(dir, 'Module.symvers'), 'latin1')
    .split('\n')
    .filter((l) => l.split('\t')[2] === 'vmlinux');
  // Module.symvers lists vmlinux.o's exports in link order, which the image does not keep:
  // compare as sorted line sets.
  assert.deepEqual([...mine].sort(), [...theirs].sort());
  assert.ok(
    exports.some((e) => e.namespace !== ''),
    'namespaced exports are present',
  );
  // The kernel's order: __ksymtab then __ksymtab_gpl, each sorted by name (bsearch in find_symbol()).
  const gplStart = exports.findIndex((e) => e.gpl);
  assert.ok(exports.slice(gplStart).every((e) => e.gpl));
  for (const part of [exports.slice(0, gplStart), exports.slice(gplStart)]) {
    for (let i = 1; i < part.length; i++)
      assert.ok(Buffer.compare(Buffer.from(part[i - 1]!.name), Buffer.from(part[i]!.name)) < 0);
  }
  assert.equal(findBuildId(elf)?.length, 40);
});

test('a damaged list: the kernel parser stops, undecodable certs are reported, bad sizes are FormatErrors', async (t) => {
  const dir = needTestKernel(t);
  if (!dir) return;
  const vmlinux = readFileSync(join(dir, 'vmlinux'));
  const first = ((vmlinux[LIST_OFF + 2]! << 8) | vmlinux[LIST_OFF + 3]!) + 4;
  // Not "30 82" where the second cert starts: x509_loader.c stops there.
  const stop = Buffer.from(vmlinux);
  stop[LIST_OFF + first] = 0x31;
  const l1 = (await inspectVmlinux(stop, { file: 'x' })).certificates!;
  assert.equal(l1.certificates.length, 1);
  assert.equal(l1.unreachable, EXTRA_OFF - LIST_OFF - first);
  // A cert whose inner DER is broken (its tbsCertificate tag) is skipped and reported, like the kernel's "Problem loading".
  const broken = Buffer.from(vmlinux);
  broken[LIST_OFF + first + 4] = 0x04;
  const l2 = (await inspectVmlinux(broken, { file: 'x' })).certificates!;
  assert.equal(l2.certificates.length, 3);
  assert.equal(l2.unparsed.length, 1);
  assert.equal(l2.unparsed[0]!.offset, LIST_OFF + first);
  // A list size past the end of the file: the certificates are unreadable, the rest is read.
  const huge = Buffer.from(vmlinux);
  huge.writeBigUInt64LE(1n << 40n, SIZE_OFF);
  const h = await inspectVmlinux(huge, { file: 'x' });
  assert.equal(h.certificates, undefined);
  assert.deepEqual(
    h.warnings.map((w) => [w.part, w.code]),
    [['certificates', 'E_TRUNCATED']],
  );
  assert.ok(h.release && h.btf && h.exports, 'release, BTF and exports still read');
  // system_extra_cert_used larger than the area.
  const used = Buffer.from(vmlinux);
  used.writeInt32LE(5000, USED_OFF);
  const u = await inspectVmlinux(used, { file: 'x' });
  assert.deepEqual(
    u.warnings.map((w) => [w.part, w.code, w.offset]),
    [['certificates', 'E_RANGE', USED_OFF]],
  );
});

test('the kit as testkernel/build.sh made it: kit.config survived, INPUTS, a second run rebuilds nothing', (t) => {
  const dir = needTestKernel(t);
  const config = readFileSync(join(dir, 'config'), 'latin1');
  for (const line of readFileSync(join(ROOT, 'testkernel/kit.config'), 'latin1').split('\n')) {
    if (line.startsWith('CONFIG_')) assert.ok(config.split('\n').includes(line), `${line} in the kit's config`);
    const off = /^# (CONFIG_\w+) is not set$/.exec(line);
    if (off) assert.doesNotMatch(config, new RegExp(`^${off[1]}=[ym]$`, 'm'));
  }
  const inputs = readFileSync(join(dir, 'INPUTS'), 'latin1');
  assert.match(inputs, /^linux-source-6\.12 6\.12\.\d+-/);
  assert.equal(
    readFileSync(join(dir, 'kernel.release'), 'latin1').trim(),
    `${/^linux-source-6\.12 (6\.12\.\d+)-/.exec(inputs)![1]}-kmodseal`,
  );
  if (process.env.KMODSEAL_TESTKERNEL) return; // a kit from elsewhere: nothing to rebuild
  const before = statSync(join(dir, 'vmlinux')).mtimeMs;
  const again = spawnSync('bash', [join(ROOT, 'testkernel/build.sh')], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.stdout.trim(), dir);
  assert.equal(again.stderr, '', 'nothing built');
  assert.equal(statSync(join(dir, 'vmlinux')).mtimeMs, before);
});

test('boot-and-load.mjs: usage errors exit 2 before anything boots', () => {
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'testkernel/boot-and-load.mjs'), join(ROOT, 'no-such-kernel'), ''],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^boot-and-load: no such kernel file: .*no-such-kernel\n$/);
  const u = spawnSync(process.execPath, [join(ROOT, 'testkernel/boot-and-load.mjs'), '--bogus', '1', 'x', ''], {
    encoding: 'utf8',
  });
  assert.equal(u.status, 2);
  assert.match(u.stderr, /unknown option --bogus/);
});
