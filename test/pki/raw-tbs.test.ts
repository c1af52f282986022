/**
 * One parser, raw spans: a certificate's issuer signature is checked over its TBSCertificate
 * bytes as they appear (the kernel's x509_note_tbs_certificate), not over a re-encoding.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { parseCertificate, verifyCertificateSignature } from '../../src/pki/certificate.js';
import { decodePkcs7 } from '../../src/pki/pkcs7.js';
import { certificateToDer } from '../../src/keys/certificate.js';
import { createNodeSigner } from '../../src/keys/node-signer.js';
import { signModuleBytes } from '../../src/sign/cms.js';
import { findModuleSignature } from '../../src/modsig/signature.js';
import { verifyModuleSignature } from '../../src/sign/verify.js';
import { TESTKERNEL } from '../helpers.js';
import { nonMinimalLeaf } from './nonminimal.js';

const keys = path.join(TESTKERNEL, 'keys');
const have = fs.existsSync(path.join(keys, 'ca.key'));
const skip = !have && 'needs the test kernel kit';
const caDer = (): Uint8Array => certificateToDer(fs.readFileSync(path.join(keys, 'ca.crt'), 'latin1'));

test('a kit certificate: the raw TBS is the DER re-encoding, both verify', { skip }, () => {
  const leaf = parseCertificate(certificateToDer(fs.readFileSync(path.join(keys, 'leaf.crt'), 'latin1')));
  const ca = crypto.createPublicKey({ key: Buffer.from(parseCertificate(caDer()).spki), format: 'der', type: 'spki' });
  assert.deepEqual(new Uint8Array(AsnConvert.serialize(leaf.decoded.tbsCertificate)), leaf.tbs);
  assert.equal(verifyCertificateSignature(leaf, ca), true);
});

test(
  'a non-minimal length inside the TBS: re-encoding differs; only the raw bytes verify (the old way said no)',
  { skip },
  () => {
    const { der } = nonMinimalLeaf();
    const leaf = parseCertificate(der);
    const ca = crypto.createPublicKey({
      key: Buffer.from(parseCertificate(caDer()).spki),
      format: 'der',
      type: 'spki',
    });
    const reencoded = new Uint8Array(AsnConvert.serialize(leaf.decoded.tbsCertificate));
    assert.equal(reencoded.length, leaf.tbs.length - 1, 'the re-encoding drops the extra length octet');
    assert.deepEqual(leaf.tbs, der.subarray(leaf.tbsSpan.start, leaf.tbsSpan.end));
    // What src/check/signature.ts did before: verify over AsnConvert.serialize(tbsCertificate).
    assert.equal(crypto.verify('sha256', reencoded, ca, leaf.signature), false);
    // What the kernel does (public_key_verify_signature over cert->tbs), and the one parser now does.
    assert.equal(verifyCertificateSignature(leaf, ca), true);
  },
);

test('a module signed under it, carrying it: verify says ok through the trusted CA', { skip }, async () => {
  const { der, key } = nonMinimalLeaf();
  const signer = createNodeSigner(fs.readFileSync(key, 'latin1'), der, { native: false });
  const elf = fs.readFileSync(path.join(TESTKERNEL, 'modules', 'kms_hello.ko'));
  const signed = await signModuleBytes(new Uint8Array(elf), signer, { chain: [] });
  const sig = findModuleSignature(signed, 'kms_hello.ko')!;
  const msg = decodePkcs7(sig.sigData);
  assert.equal(msg.certificates.length, 1);
  const carried = msg.certificates[0]!;
  assert.ok(carried.ok);
  assert.deepEqual(carried.certificate.der, der, 'carried exactly as encoded');
  const v = verifyModuleSignature(signed, [caDer()], { kernel: '6.12' });
  assert.equal(v.status, 'ok', v.detail);
  assert.equal(v.trustedIndex, 0);
});
