/**
 * `kmodseal efi sign` against sbsign (sbsigntools, run under faketime with the same signing
 * time): byte-identical images and detached signatures for every cached kernel image and every
 * shim, GRUB and systemd-boot binary of scripts/fetch-efi.sh, RSA-2048, RSA-3072 and RSA-4096,
 * an already signed image, an --addcert chain and a SoftHSM2 key; the output passes sbverify
 * and osslsigncode verify.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers.js';
import { chain, peImages, run, sbsign, selfSigned, sh, tmpDir, unsignedImage, type KeyPair } from './helpers.js';
import { parsePe } from '../../src/pe/pe.js';
import { DEFAULT_PKCS11_MODULE } from '../../src/keys/pkcs11-signer.js';
import { signingTime } from '../../src/cli/commands/efi.js';

const TIME = '2024-01-02 03:04:05';
const RFC3339 = '2024-01-02T03:04:05Z';
let dir = '';
let keys: Record<'rsa2048' | 'rsa3072' | 'rsa4096', KeyPair>;
let images: { name: string; src: string; unsigned: string }[] = [];

before(() => {
  dir = tmpDir('efi-sign');
  keys = {
    rsa2048: selfSigned(dir, 'rsa2048', 2048),
    rsa3072: selfSigned(dir, 'rsa3072', 3072),
    rsa4096: selfSigned(dir, 'rsa4096', 4096),
  };
  images = peImages().map((src, i) => {
    const name = `${i}-${path.basename(src)}`;
    return { name, src, unsigned: unsignedImage(src, dir, name) };
  });
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function kmodsealSign(args: string[]): Promise<void> {
  const r = await runCli(['efi', 'sign', '--signing-time', RFC3339, ...args]);
  assert.equal(r.code, 0, r.stderr);
}

function same(a: string, b: string): void {
  const x = fs.readFileSync(a);
  const y = fs.readFileSync(b);
  assert.equal(x.length, y.length, `${a}: ${x.length} bytes, sbsign ${y.length}`);
  const at = x.findIndex((v, i) => v !== y[i]);
  assert.equal(at, -1, `${a} differs from sbsign's output at byte ${at}`);
}

test('the test inputs: at least 20 real PE images from Debian packages, PE32 and PE32+', () => {
  assert.ok(images.length >= 20, `only ${images.length} PE images: ${images.map((i) => i.src).join(', ')}`);
  const names = images.map((i) => path.basename(i.src));
  for (const kind of [
    /^vmlinuz-.*-amd64$/,
    /^vmlinuz-.*-arm64$/,
    /^vmlinuz-.*-686-pae$/,
    /^shimx64\.efi$/,
    /^shimaa64\.efi/,
  ])
    assert.ok(
      names.some((n) => kind.test(n)),
      `no image matches ${kind}`,
    );
  for (const kind of [
    /^grubx64\.efi/,
    /^grubia32\.efi/,
    /^systemd-bootx64\.efi$/,
    /^linuxaa64\.efi\.stub$/,
    /^mmx64\.efi$/,
  ])
    assert.ok(
      names.some((n) => kind.test(n)),
      `no image matches ${kind}`,
    );
  const kinds = new Set(images.map((i) => parsePe(fs.readFileSync(i.unsigned), i.unsigned).pe32plus));
  assert.deepEqual([...kinds].sort(), [false, true], 'both PE32 and PE32+ images');
});

for (const bits of ['rsa2048', 'rsa3072', 'rsa4096'] as const) {
  test(`efi sign equals sbsign byte for byte on every image (${bits}), and sbverify accepts it`, async () => {
    let compared = 0;
    for (const img of images) {
      const k = keys[bits];
      const ours = path.join(dir, `${img.name}.${bits}.kmodseal`);
      const theirs = path.join(dir, `${img.name}.${bits}.sbsign`);
      await kmodsealSign(['--key', k.key, '--cert', k.cert, '--output', ours, img.unsigned]);
      sbsign(['--key', k.key, '--cert', k.cert, '--output', theirs, img.unsigned], TIME);
      same(ours, theirs);
      sh('sbverify', ['--cert', k.cert, ours]);
      const wrong = keys[bits === 'rsa2048' ? 'rsa4096' : 'rsa2048'];
      assert.notEqual(run('sbverify', ['--cert', wrong.cert, ours]).code, 0, 'sbverify accepts the wrong certificate');
      compared++;
    }
    assert.equal(compared, images.length);
  });
}

test('efi sign --detached equals sbsign --detached', async () => {
  for (const img of images.slice(0, 3)) {
    const k = keys.rsa2048;
    const ours = path.join(dir, `${img.name}.p7.kmodseal`);
    const theirs = path.join(dir, `${img.name}.p7.sbsign`);
    await kmodsealSign(['--key', k.key, '--cert', k.cert, '--detached', '--output', ours, img.unsigned]);
    sbsign(['--key', k.key, '--cert', k.cert, '--detached', '--output', theirs, img.unsigned], TIME);
    same(ours, theirs);
    const der = fs.readFileSync(ours);
    assert.equal(der[0], 0x30);
    assert.equal(der[1], 0x82, 'EDK2 needs a two-byte length');
  }
});

test('osslsigncode verify accepts kmodseal-signed images', async () => {
  for (const img of images.slice(0, 3)) {
    const k = keys.rsa4096;
    const ours = path.join(dir, `${img.name}.osslsigncode`);
    await kmodsealSign(['--key', k.key, '--cert', k.cert, '--output', ours, img.unsigned]);
    const r = run('osslsigncode', ['verify', '-CAfile', k.cert, ours]);
    assert.equal(r.code, 0, r.stdout.toString() + r.stderr);
    assert.match(r.stdout.toString(), /Number of verified signatures: 1/);
  }
});

test('an already signed image gets a second signature appended, as sbsign does', async () => {
  const signed = images.filter((i) => parsePe(fs.readFileSync(i.src), i.src).certTable);
  assert.ok(signed.length >= 1, 'no signed Debian kernel image in the cache');
  for (const img of signed) {
    const k = keys.rsa2048;
    const ours = path.join(dir, `${img.name}.resigned.kmodseal`);
    const theirs = path.join(dir, `${img.name}.resigned.sbsign`);
    const r = await runCli([
      'efi',
      'sign',
      '--signing-time',
      RFC3339,
      '--key',
      k.key,
      '--cert',
      k.cert,
      '--output',
      ours,
      img.src,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /already signed; adding an additional signature/);
    sbsign(['--key', k.key, '--cert', k.cert, '--output', theirs, img.src], TIME);
    same(ours, theirs);
    const pe = parsePe(fs.readFileSync(ours), ours);
    assert.equal(pe.certificates.length, parsePe(fs.readFileSync(img.src), img.src).certificates.length + 1);
    sh('sbverify', ['--cert', k.cert, ours]);
  }
});

test('efi sign --addcert carries the intermediate in file order, as sbsign --addcert', async () => {
  const c = chain(dir);
  for (const img of images.slice(0, 2)) {
    const ours = path.join(dir, `${img.name}.chain.kmodseal`);
    const theirs = path.join(dir, `${img.name}.chain.sbsign`);
    const args = ['--key', c.leaf.key, '--cert', c.leaf.cert, '--addcert', c.intermediate.cert];
    await kmodsealSign([...args, '--output', ours, img.unsigned]);
    sbsign([...args, '--output', theirs, img.unsigned], TIME);
    same(ours, theirs);
    sh('sbverify', ['--cert', c.intermediate.cert, ours]);
    const v = await runCli(['efi', 'verify', '--cert', c.root.cert, ours]);
    assert.equal(v.code, 0, v.stdout.toString());
    assert.match(v.stdout.toString(), /trusted through CN=kmodseal efi root/);
    // --chain and --out: the same as --addcert and --output
    const alias = path.join(dir, `${img.name}.chain.alias`);
    await kmodsealSign([
      '--key',
      c.leaf.key,
      '--cert',
      c.leaf.cert,
      '--chain',
      c.intermediate.cert,
      '--out',
      alias,
      img.unsigned,
    ]);
    same(alias, theirs);
  }
});

test('efi sign with a SoftHSM2 key (pkcs11: URI) equals sbsign with the same key', async () => {
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
    sh('softhsm2-util', ['--init-token', '--free', '--label', 'efi-token', '--so-pin', '5678', '--pin', '1234'], env);
    const k = keys.rsa2048;
    const p8 = path.join(hsm, 'key.p8');
    sh('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', k.key, '-out', p8]);
    sh(
      'softhsm2-util',
      ['--import', p8, '--token', 'efi-token', '--label', 'efi-rsa', '--id', '01', '--pin', '1234'],
      env,
    );
    const img = images[0]!;
    const ours = path.join(dir, `${img.name}.hsm.kmodseal`);
    const theirs = path.join(dir, `${img.name}.hsm.sbsign`);
    await kmodsealSign([
      '--key',
      'pkcs11:token=efi-token;object=efi-rsa;pin-value=1234',
      '--cert',
      k.cert,
      '--output',
      ours,
      img.unsigned,
    ]);
    sbsign(['--key', k.key, '--cert', k.cert, '--output', theirs, img.unsigned], TIME);
    same(ours, theirs);
  } finally {
    if (previous === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = previous;
  }
});

test('signing time: RFC 3339, @epoch, SOURCE_DATE_EPOCH, and refusals', async () => {
  assert.equal(signingTime('2024-01-02T03:04:05Z', undefined).toISOString(), '2024-01-02T03:04:05.000Z');
  assert.equal(signingTime('2024-01-02T04:04:05+01:00', undefined).toISOString(), '2024-01-02T03:04:05.000Z');
  assert.equal(signingTime('@1704164645', '0').toISOString(), '2024-01-02T03:04:05.000Z');
  assert.equal(signingTime(undefined, '1704164645').toISOString(), '2024-01-02T03:04:05.000Z');
  const now = new Date(0);
  assert.equal(signingTime(undefined, undefined, now), now);
  assert.throws(() => signingTime('yesterday', undefined), /RFC 3339/);
  assert.throws(() => signingTime(undefined, 'x'), /SOURCE_DATE_EPOCH/);
  // From 2050 on OpenSSL writes four-digit years under the UTCTime tag: so does kmodseal
  const img = images[0]!;
  const k = keys.rsa2048;
  const ours = path.join(dir, 'late.kmodseal');
  const theirs = path.join(dir, 'late.sbsign');
  const r = await runCli([
    'efi',
    'sign',
    '--signing-time',
    '@2556144000',
    '--key',
    k.key,
    '--cert',
    k.cert,
    '--output',
    ours,
    img.unsigned,
  ]);
  assert.equal(r.code, 0, r.stderr);
  sbsign(['--key', k.key, '--cert', k.cert, '--output', theirs, img.unsigned], '2051-01-01 00:00:00');
  same(ours, theirs);
});

test('bad input: nothing is written, and the error names the file, the offset and the code', async () => {
  const k = keys.rsa2048;
  const img = fs.readFileSync(images[0]!.unsigned);
  const truncated = path.join(dir, 'truncated.efi');
  fs.writeFileSync(truncated, img.subarray(0, 4096));
  const out = path.join(dir, 'never.efi');
  const pe = parsePe(img, 'x');
  const section = pe.sections.find((s) => s.sizeOfRawData > 0 && s.pointerToRawData + s.sizeOfRawData > 4096)!;
  const header = pe.sections.indexOf(section);
  const r = await runCli(['efi', 'sign', '--key', k.key, '--cert', k.cert, '--output', out, truncated]);
  assert.equal(r.code, 1);
  const sectionTable = img.readUInt32LE(0x3c) + 24 + img.readUInt16LE(img.readUInt32LE(0x3c) + 20);
  assert.match(r.stderr, new RegExp(`truncated\\.efi: 0x${(sectionTable + header * 40 + 16).toString(16)}: .*E_RANGE`));
  assert.ok(!fs.existsSync(out));
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.startsWith('never')),
    [],
  );

  const outside = Buffer.from(img);
  outside.writeUInt32LE(outside.length - 8, pe.certDirOffset);
  outside.writeUInt32LE(64, pe.certDirOffset + 4);
  const bad = path.join(dir, 'outside.efi');
  fs.writeFileSync(bad, outside);
  const r2 = await runCli(['efi', 'sign', '--key', k.key, '--cert', k.cert, '--output', out, bad]);
  assert.equal(r2.code, 1);
  assert.match(
    r2.stderr,
    new RegExp(`outside\\.efi: 0x${pe.certDirOffset.toString(16)}: .*lies outside the file.*E_RANGE`),
  );
  assert.ok(!fs.existsSync(out));

  const notPe = path.join(dir, 'not-pe.efi');
  fs.writeFileSync(notPe, Buffer.alloc(4096, 0xff));
  const r3 = await runCli(['efi', 'sign', '--key', k.key, '--cert', k.cert, '--output', out, notPe]);
  assert.equal(r3.code, 1);
  assert.match(r3.stderr, /not-pe\.efi: 0x0: .*E_MAGIC/);
  const r4 = await runCli(['efi', 'sign', '--key', k.key, '--output', out, images[0]!.unsigned]);
  assert.equal(r4.code, 2);
  assert.ok(!fs.existsSync(out));
});
