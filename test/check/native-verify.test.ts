/**
 * `check` verifies ECDSA module signatures through the newer OpenSSL the signing addon opens
 * (native/crypto.c verifyContent) when it is built: the verdicts are node:crypto's, for Debian
 * 6.12 modules as published, with a content byte or a signature byte changed, and under keys that
 * do not match; digests the addon leaves alone fall back to node:crypto.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { kernelSet, modulesBelow } from '../helpers.js';
import { loadKernelSource } from '../../src/kernel/source.js';
import { buildTarget } from '../../src/check/target.js';
import { trustedKeys } from '../../src/check/check.js';
import { kernelSignatureVerdict, type KeyCert } from '../../src/check/signature.js';
import { trailerFacts } from '../../src/check/module-facts.js';
import { decompressModule } from '../../src/compress/index.js';
import { nativeEcVerifier } from '../../src/keys/native-crypto.js';

const k612 = kernelSet('amd64-6.12');
const noNative = !nativeEcVerifier(
  new Uint8Array(
    crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'der', type: 'spki' }),
  ),
)
  ? 'the native crypto addon is not built or is disabled'
  : false;

test(
  "6.12 modules: native ECDSA verification gives node:crypto's verdicts, as published and tampered",
  { skip: (!k612 && 'no amd64-6.12') || noNative, timeout: 300_000 },
  async () => {
    const target = buildTarget(await loadKernelSource(k612!.dir), {});
    const native = trustedKeys(target);
    assert.ok(
      native.some((k) => k.keyAlgo === 'ecdsa' && k.nativeVerify),
      'the 6.12 key verifies natively',
    );
    const plain: KeyCert[] = native.map(({ nativeVerify: _, ...k }) => k);
    const files = modulesBelow(k612!.modulesDir).filter((_, i) => i % 100 === 0);
    const seen = new Map<string, number>();
    for (const f of files) {
      const { data } = await decompressModule(fs.readFileSync(f), f);
      const t = trailerFacts(data);
      const variants: [string, Uint8Array][] = [['as published', data]];
      const content = Buffer.from(data);
      content[Math.floor(t.contentLength / 2)]! ^= 1;
      variants.push(['content changed', content]);
      const sig = Buffer.from(data);
      sig[t.sigOffset + t.sigLength - 5]! ^= 0x10; // inside the ECDSA value, the DER's last bytes
      variants.push(['signature changed', sig]);
      for (const [what, bytes] of variants) {
        const tf = trailerFacts(bytes);
        const a = kernelSignatureVerdict(bytes, tf, native, { series: '6.12' });
        const b = kernelSignatureVerdict(bytes, tf, plain, { series: '6.12' });
        assert.deepEqual(
          { r: a.result, d: a.detail, l: a.log },
          { r: b.result, d: b.detail, l: b.log },
          `${f}: ${what}`,
        );
        seen.set(`${what}: ${a.result}`, (seen.get(`${what}: ${a.result}`) ?? 0) + 1);
      }
    }
    assert.equal(seen.get('as published: OK'), files.length, JSON.stringify([...seen]));
    assert.equal(seen.get('content changed: EKEYREJECTED'), files.length, JSON.stringify([...seen]));
    assert.ok(
      (seen.get('signature changed: EKEYREJECTED') ?? 0) + (seen.get('signature changed: EBADMSG') ?? 0) ===
        files.length,
      JSON.stringify([...seen]),
    );
  },
);

test(
  'the native verifier: true only for the right key and content; other digests are left to node:crypto',
  { skip: noNative },
  () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const other = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
    const v = nativeEcVerifier(new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })))!;
    const w = nativeEcVerifier(new Uint8Array(other.export({ format: 'der', type: 'spki' })))!;
    const content = crypto.randomBytes(5000);
    for (const hash of ['sha256', 'sha384', 'sha512', 'sha3-384']) {
      const sig = crypto.sign(hash, content, { key: privateKey, dsaEncoding: 'der' });
      assert.equal(v(hash, content, sig), true, hash);
      assert.equal(w(hash, content, sig), false, `${hash}: another key`);
      assert.equal(v(hash, content.subarray(1), sig), false, `${hash}: other content`);
      assert.equal(v(hash === 'sha256' ? 'sha384' : 'sha256', content, sig), false, `${hash}: another digest`);
      assert.equal(v(hash, content, sig.subarray(0, sig.length - 1)), false, `${hash}: truncated DER`);
      assert.equal(v(hash, content, new Uint8Array(0)), false, `${hash}: empty`);
    }
    assert.equal(v('md4', content, new Uint8Array(8)), undefined, 'md4: node:crypto decides');
    assert.equal(v('sm3', content, new Uint8Array(8)), undefined, 'sm3: node:crypto decides');
    assert.equal(nativeEcVerifier(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])), undefined, 'not a key');
  },
);
