/**
 * Differential test: kmodseal's module signatures against the kernel's own scripts/sign-file
 * on real Debian modules (their Debian signature stripped first), with keys made per run the
 * way certs/Makefile makes them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { corpusModules61, opensslKernelKey, run, sample, SIGN_FILE, tmpDir, unsignedCopy } from './helpers.js';
import { createNodeSigner } from '../../src/keys/node-signer.js';
import { generateSigningKey } from '../../src/keys/keygen.js';
import { encodeDigestInfo, type HashAlgorithm } from '../../src/keys/signer.js';
import {
  appendModuleSignature,
  encodePkcs7,
  signModuleBytes,
  signModuleContent,
  stripModuleSignature,
} from '../../src/sign/cms.js';
import { parseCertificate } from '../../src/pki/certificate.js';
import { findModuleSignature } from '../../src/modsig/signature.js';

const modules = corpusModules61();
const skip = !fs.existsSync(SIGN_FILE) || modules.length === 0 ? 'needs sign-file and the amd64-6.1 corpus' : false;
let dir = '';

before(() => {
  dir = tmpDir('signfile');
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function compareWithSignFile(
  kind: 'rsa2048' | 'rsa4096',
  plan: readonly { hash: HashAlgorithm; skid: boolean; count: number }[],
): Promise<number> {
  const key = opensslKernelKey(dir, kind, kind);
  const signer = createNodeSigner(fs.readFileSync(key.keyPem, 'utf8'), new Uint8Array(fs.readFileSync(key.certDer)));
  let compared = 0;
  const work = path.join(dir, `${kind}-mods`);
  fs.mkdirSync(work, { recursive: true });
  for (const { hash, skid, count } of plan) {
    for (const [i, src] of sample(modules, count).entries()) {
      const { file, data } = unsignedCopy(src, work, `${i}.ko`);
      const dest = path.join(work, `${i}.${hash}${skid ? '.k' : ''}.signed`);
      const r = run(SIGN_FILE, [...(skid ? ['-k'] : []), hash, key.keyPem, key.certDer, file, dest]);
      assert.equal(r.code, 0, r.stderr);
      const expected = new Uint8Array(fs.readFileSync(dest));
      const ours = await signModuleBytes(data, signer, { hash, keyIdForm: skid ? 'skid' : 'issuer-serial' });
      assert.ok(
        Buffer.from(ours).equals(expected),
        `${src} ${kind} ${hash}${skid ? ' -k' : ''}: differs from sign-file`,
      );
      fs.rmSync(dest);
      compared++;
    }
  }
  return compared;
}

test(
  'RSA-2048: byte-identical to sign-file for sha256/sha384/sha512 and -k (120 modules each)',
  { skip, timeout: 600_000 },
  async () => {
    const n = await compareWithSignFile('rsa2048', [
      { hash: 'sha256', skid: false, count: 120 },
      { hash: 'sha384', skid: false, count: 120 },
      { hash: 'sha512', skid: false, count: 120 },
      { hash: 'sha256', skid: true, count: 120 },
    ]);
    assert.equal(n, 480);
  },
);

test(
  'RSA-4096: byte-identical to sign-file (100 modules sha256, 30 each sha384/sha512/-k)',
  { skip, timeout: 600_000 },
  async () => {
    const n = await compareWithSignFile('rsa4096', [
      { hash: 'sha256', skid: false, count: 100 },
      { hash: 'sha384', skid: false, count: 30 },
      { hash: 'sha512', skid: false, count: 30 },
      { hash: 'sha512', skid: true, count: 30 },
    ]);
    assert.equal(n, 190);
  },
);

test('RSA signer equals crypto.sign over the data (PKCS#1 v1.5 is deterministic)', () => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const data = crypto.randomBytes(1000);
  for (const hash of ['sha1', 'sha224', 'sha256', 'sha384', 'sha512'] as const) {
    const viaSign = crypto.sign(hash, data, privateKey);
    const digest = crypto.createHash(hash).update(data).digest();
    const viaEncrypt = crypto.privateEncrypt(
      { key: privateKey, padding: crypto.constants.RSA_PKCS1_PADDING },
      encodeDigestInfo(hash, digest),
    );
    assert.ok(viaSign.equals(viaEncrypt), hash);
    assert.ok(crypto.verify(hash, data, publicKey, viaEncrypt));
  }
});

test('in-memory ECDSA keys sign content, never a bare digest (P-256, P-384)', async () => {
  for (const type of ['p256', 'p384'] as const) {
    const k = await generateSigningKey({ type });
    const s = createNodeSigner(k.privateKey, k.certificate);
    assert.throws(() => s.sign('sha384', new Uint8Array(48)), /signs content/);
    for (const hash of ['sha256', 'sha384', 'sha512'] as const) {
      const content = crypto.randomBytes(1000);
      assert.ok(
        crypto.verify(hash, content, crypto.createPublicKey(k.privateKey), s.signContent!(hash, content) as Uint8Array),
        `${type} ${hash}`,
      );
    }
  }
});

test('template splice equals a full encode; trailer layout; stripping restores the input', { skip }, async () => {
  const key = opensslKernelKey(dir, 'tpl', 'rsa2048');
  const signer = createNodeSigner(fs.readFileSync(key.keyPem, 'utf8'), new Uint8Array(fs.readFileSync(key.certDer)));
  const cert = parseCertificate(signer.certificate);
  const data = stripModuleSignature(new Uint8Array(fs.readFileSync(modules[0]!)));
  for (const keyIdForm of ['issuer-serial', 'skid'] as const) {
    const signed = await signModuleBytes(data, signer, { keyIdForm });
    const sig = findModuleSignature(signed, 'x')!;
    assert.equal(sig.moduleLength, data.length);
    assert.equal(sig.raw.id_type, 2);
    const full = encodePkcs7(cert, 'rsa', sig.pkcs7!.signature, { keyIdForm });
    assert.ok(Buffer.from(appendModuleSignature(data, full)).equals(Buffer.from(signed)));
    assert.ok(Buffer.from(stripModuleSignature(signed)).equals(Buffer.from(data)));
  }
});

test('sign-file -d (detached .p7s) equals signModuleContent', { skip }, async () => {
  const key = opensslKernelKey(dir, 'det', 'rsa2048');
  const signer = createNodeSigner(fs.readFileSync(key.keyPem, 'utf8'), new Uint8Array(fs.readFileSync(key.certDer)));
  for (const [i, src] of sample(modules, 5).entries()) {
    const { file, data } = unsignedCopy(src, dir, `det-${i}.ko`);
    const r = run(SIGN_FILE, ['-d', 'sha512', key.keyPem, key.certDer, file]);
    assert.equal(r.code, 0, r.stderr);
    const p7s = new Uint8Array(fs.readFileSync(`${file}.p7s`));
    assert.ok(Buffer.from(await signModuleContent(data, signer, { hash: 'sha512' })).equals(Buffer.from(p7s)));
    assert.ok(fs.readFileSync(file).equals(Buffer.from(data)), 'sign-file -d leaves the module alone');
  }
});
