/**
 * `kmodseal efi verify` against sbverify's verdicts: the right certificate, the wrong one, a
 * CA in the chain, a tampered image, an unsigned image, two signatures; and its JSON.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers.js';
import { chain, peImages, run, selfSigned, tmpDir, unsignedImage, type KeyPair } from './helpers.js';
import { parsePe } from '../../src/pe/pe.js';

let dir = '';
let a: KeyPair;
let b: KeyPair;
let unsigned = '';
let signedA = '';

before(async () => {
  dir = tmpDir('efi-verify');
  a = selfSigned(dir, 'a', 2048);
  b = selfSigned(dir, 'b', 4096);
  const images = peImages();
  assert.ok(images.length > 0, 'no PE image');
  unsigned = unsignedImage(images[0]!, dir, 'image.efi');
  signedA = path.join(dir, 'image.a.efi');
  const r = await runCli(['efi', 'sign', '--key', a.key, '--cert', a.cert, '--output', signedA, unsigned]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface VerifyJson {
  accepted: boolean;
  reason: string | null;
  imageDigest: string;
  signatures: {
    subject: string | null;
    issuer: string | null;
    serial: string | null;
    digestAlgorithm: string;
    signedDigest: string;
    digestMatches: boolean;
    verdict: string;
  }[];
}

async function verdict(file: string, certs: string[]): Promise<{ code: number; json: VerifyJson; sbverify: number }> {
  const r = await runCli(['efi', 'verify', '--json', ...certs.flatMap((c) => ['--cert', c]), file]);
  const sb = certs.length ? run('sbverify', ['--cert', certs[0]!, file]).code : run('sbverify', ['--list', file]).code;
  return { code: r.code, json: JSON.parse(r.stdout.toString()) as VerifyJson, sbverify: sb };
}

test('the right certificate: accepted, as sbverify says', async () => {
  const v = await verdict(signedA, [a.cert]);
  assert.equal(v.sbverify, 0);
  assert.equal(v.code, 0);
  assert.equal(v.json.accepted, true);
  assert.equal(v.json.reason, null);
  assert.equal(v.json.signatures.length, 1);
  const s = v.json.signatures[0]!;
  assert.equal(s.subject, 'CN=kmodseal efi a');
  assert.equal(s.issuer, 'CN=kmodseal efi a');
  assert.equal(s.digestAlgorithm, 'sha256');
  assert.equal(s.digestMatches, true);
  assert.equal(s.signedDigest, v.json.imageDigest);
  assert.equal(s.verdict, 'accepted');
  const serial = run('openssl', ['x509', '-in', a.cert, '-noout', '-serial']).stdout.toString().trim();
  assert.equal(
    s.serial,
    serial
      .replace(/^serial=/, '')
      .toLowerCase()
      .replace(/^(00)+(?=.)/, ''),
  );
});

test('the wrong certificate: untrusted signer (exit 4), as sbverify says', async () => {
  const v = await verdict(signedA, [b.cert]);
  assert.notEqual(v.sbverify, 0);
  assert.equal(v.code, 4);
  assert.equal(v.json.reason, 'untrusted-signer');
  const none = await verdict(signedA, []);
  assert.equal(none.code, 4);
  assert.equal(none.json.reason, 'untrusted-signer');
});

test('a tampered image: digest mismatch (exit 4), as sbverify says', async () => {
  const data = fs.readFileSync(signedA);
  const pe = parsePe(data, signedA);
  const s = pe.sections.find((x) => x.sizeOfRawData > 0)!;
  data[s.pointerToRawData + 17]! ^= 0x01;
  const tampered = path.join(dir, 'tampered.efi');
  fs.writeFileSync(tampered, data);
  const v = await verdict(tampered, [a.cert]);
  assert.notEqual(v.sbverify, 0);
  assert.equal(v.code, 4);
  assert.equal(v.json.reason, 'digest-mismatch');
  assert.equal(v.json.signatures[0]!.digestMatches, false);
  const text = await runCli(['efi', 'verify', '--cert', a.cert, tampered]);
  assert.match(text.stdout.toString(), /does not match the image/);
  assert.match(text.stdout.toString(), /rejected: the signed digest is not the image's Authenticode digest/);
});

test('a corrupted signature value: bad signature (exit 4), as sbverify says', async () => {
  const data = fs.readFileSync(signedA);
  const pe = parsePe(data, signedA);
  const last = pe.certificates[0]!;
  data[last.offset + last.length - 5]! ^= 0x40; // inside the RSA signature value, the DER's last bytes
  const bad = path.join(dir, 'badsig.efi');
  fs.writeFileSync(bad, data);
  const v = await verdict(bad, [a.cert]);
  assert.notEqual(v.sbverify, 0);
  assert.equal(v.code, 4);
  assert.equal(v.json.reason, 'bad-signature');
});

test('an unsigned image: no signature (exit 4), as sbverify says', async () => {
  const v = await verdict(unsigned, [a.cert]);
  assert.notEqual(v.sbverify, 0);
  assert.equal(v.code, 4);
  assert.equal(v.json.reason, 'no-signature');
  assert.deepEqual(v.json.signatures, []);
  const text = await runCli(['efi', 'verify', unsigned]);
  assert.match(text.stdout.toString(), /rejected: the image carries no Authenticode signature/);
});

test('two signatures: accepted when either signer is trusted', async () => {
  const both = path.join(dir, 'both.efi');
  const r = await runCli(['efi', 'sign', '--key', b.key, '--cert', b.cert, '--output', both, signedA]);
  assert.equal(r.code, 0, r.stderr);
  for (const cert of [a.cert, b.cert]) {
    const v = await verdict(both, [cert]);
    assert.equal(v.code, 0);
    assert.equal(v.json.signatures.length, 2);
    assert.equal(v.json.signatures.filter((s) => s.verdict === 'accepted').length, 1);
  }
  const c = selfSigned(dir, 'c', 2048);
  assert.equal((await verdict(both, [c.cert])).code, 4);
});

test('a chain: the root or the intermediate in db accepts the leaf; the leaf alone too', async () => {
  const c = chain(dir);
  const out = path.join(dir, 'chain.efi');
  const r = await runCli([
    'efi',
    'sign',
    '--key',
    c.leaf.key,
    '--cert',
    c.leaf.cert,
    '--addcert',
    c.intermediate.cert,
    '--output',
    out,
    unsigned,
  ]);
  assert.equal(r.code, 0, r.stderr);
  for (const trusted of [c.root, c.intermediate, c.leaf]) {
    const v = await verdict(out, [trusted.cert]);
    assert.equal(v.code, 0, JSON.stringify(v.json));
    assert.equal(v.json.signatures[0]!.subject, 'CN=kmodseal efi leaf');
    assert.equal(v.json.signatures[0]!.issuer, 'CN=kmodseal efi intermediate');
  }
  // without the intermediate carried, the root cannot be reached (EDK2 downloads nothing)
  const bare = path.join(dir, 'bare.efi');
  assert.equal(
    (await runCli(['efi', 'sign', '--key', c.leaf.key, '--cert', c.leaf.cert, '--output', bare, unsigned])).code,
    0,
  );
  assert.equal((await verdict(bare, [c.root.cert])).code, 4);
  assert.equal((await verdict(bare, [c.intermediate.cert])).code, 0);
});

test('bad input: truncated image and certificate table outside the file are E_RANGE at their offsets (exit 1)', async () => {
  const data = fs.readFileSync(signedA);
  const pe = parsePe(data, signedA);
  const cut = path.join(dir, 'cut.efi');
  fs.writeFileSync(cut, data.subarray(0, pe.certTable!.offset + 16));
  const r = await runCli(['efi', 'verify', cut]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(
      `cut\\.efi: 0x${pe.certDirOffset.toString(16)}: pe: certificate table .* lies outside the file \\(E_RANGE\\)`,
    ),
  );
});
