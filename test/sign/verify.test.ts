/**
 * verifyModuleSignature against PKCS#7 shapes the kernel treats specially, made by openssl
 * cms (signed attributes, attached content, embedded certificates) and attached like
 * `sign-file -s`, plus kernel-series algorithm tables.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { have, opensslKernelKey, run, tmpDir } from './helpers.js';
import { appendModuleSignature, signModuleBytes } from '../../src/sign/cms.js';
import { verifyModuleSignature, createTrustedKeyring } from '../../src/sign/verify.js';
import { createNodeSigner } from '../../src/keys/node-signer.js';
import { generateSigningKey } from '../../src/keys/keygen.js';
import { createCertificate } from '../../src/keys/x509.js';

const skip = have('openssl') ? false : 'needs openssl';
let dir = '';
let key: ReturnType<typeof opensslKernelKey>;
let content: Uint8Array;
let contentFile = '';
before(() => {
  if (skip) return;
  dir = tmpDir('verify');
  key = opensslKernelKey(dir, 'k', 'rsa2048', 'kmodseal verify key');
  // any bytes do: the kernel checks the signature before parsing the ELF
  content = new Uint8Array(crypto.randomBytes(5000));
  contentFile = path.join(dir, 'content.bin');
  fs.writeFileSync(contentFile, content);
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function opensslCms(args: string[]): Uint8Array {
  const out = path.join(dir, 'out.p7s');
  const r = run('openssl', [
    'cms',
    '-sign',
    '-in',
    contentFile,
    '-signer',
    key.certPem,
    '-inkey',
    key.keyPem,
    '-outform',
    'DER',
    '-out',
    out,
    ...args,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return new Uint8Array(fs.readFileSync(out));
}

function trusted(): Uint8Array[] {
  return [new Uint8Array(fs.readFileSync(key.certDer))];
}

test('openssl cms -noattr -nocerts (what sign-file makes) attached like sign-file -s: ok', { skip }, () => {
  const p7 = opensslCms(['-binary', '-noattr', '-nocerts', '-md', 'sha256']);
  assert.equal(verifyModuleSignature(appendModuleSignature(content, p7), trusted()).status, 'ok');
  // and our own signature of the same content is the same bytes
  const signer = createNodeSigner(fs.readFileSync(key.keyPem, 'utf8'), trusted()[0]!);
  return signModuleBytes(content, signer).then((ours) =>
    assert.ok(Buffer.from(ours).equals(Buffer.from(appendModuleSignature(content, p7)))),
  );
});

test('signed attributes: key-rejected, fatal without enforcement, with the reason the kernel logs', { skip }, () => {
  // openssl's defaults add SMIMECapabilities: the parser refuses those first (observed on a booted kernel)
  const p7 = opensslCms(['-binary', '-nocerts', '-md', 'sha256']);
  const r = verifyModuleSignature(appendModuleSignature(content, p7), trusted());
  assert.equal(r.status, 'key-rejected');
  assert.match(r.detail, /S\/MIME Caps only allowed with Authenticode/);
  assert.equal(r.fatalWithoutEnforcement, true);
  // without S/MIME capabilities: "Invalid module sig (has authattrs)"
  const p7b = opensslCms(['-binary', '-nocerts', '-nosmimecap', '-md', 'sha256']);
  const b = verifyModuleSignature(appendModuleSignature(content, p7b), trusted());
  assert.equal(b.status, 'key-rejected');
  assert.match(b.detail, /has authattrs/);
});

test('attached content: bad-message ("non-detached data")', { skip }, () => {
  const p7 = opensslCms(['-binary', '-noattr', '-nocerts', '-nodetach', '-md', 'sha256']);
  const r = verifyModuleSignature(appendModuleSignature(content, p7), trusted());
  assert.equal(r.status, 'bad-message');
  assert.match(r.detail, /non-detached/);
});

test('embedded self-signed signer certificate not trusted: no-matching-key; trusted: ok', { skip }, async () => {
  const p7 = opensslCms(['-binary', '-noattr', '-md', 'sha384']);
  const signed = appendModuleSignature(content, p7);
  const other = await generateSigningKey({ type: 'p256' });
  assert.equal(verifyModuleSignature(signed, [other.certificate]).status, 'no-matching-key');
  const ok = verifyModuleSignature(signed, createTrustedKeyring([other.certificate, ...trusted()]));
  assert.equal(ok.status, 'ok');
  assert.equal(ok.trustedIndex, 1);
  assert.equal(ok.hash, 'sha384');
});

test('kernel series tables: P-521 keys exist in 6.12 only; SHA-3 digests in 6.12 only', { skip }, async () => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
  const cert = await createCertificate({ subject: 'CN=p521', publicKey, signingKey: privateKey, hash: 'sha512' });
  const signed = await signModuleBytes(content, createNodeSigner(privateKey, cert), { hash: 'sha512' });
  assert.equal(verifyModuleSignature(signed, [cert], { kernel: '6.12' }).status, 'ok');
  const ring61 = createTrustedKeyring([cert], '6.1');
  assert.equal(ring61.rejected.length, 1, 'a 6.1 kernel cannot load a P-521 certificate');
  assert.equal(verifyModuleSignature(signed, ring61).status, 'no-matching-key');

  const p7 = opensslCms(['-binary', '-noattr', '-nocerts', '-md', 'sha3-256']);
  const sha3 = appendModuleSignature(content, p7);
  assert.equal(verifyModuleSignature(sha3, trusted(), { kernel: '6.1' }).status, 'unsupported');
  assert.equal(verifyModuleSignature(sha3, trusted(), { kernel: '6.1' }).fatalWithoutEnforcement, false);
});

test('PKCS#7 that is not signedData: invalid (EINVAL) — fatal', { skip }, () => {
  // ContentInfo { id-data, [0] OCTET STRING }
  const notSigned = Uint8Array.from(
    Buffer.from('3014' + '06092a864886f70d010701' + 'a007' + '0405616263646' + '5', 'hex'),
  );
  const r = verifyModuleSignature(appendModuleSignature(content, notSigned), trusted());
  assert.equal(r.status, 'invalid');
  assert.equal(r.errno, 'EINVAL');
  assert.equal(r.fatalWithoutEnforcement, true);
});
