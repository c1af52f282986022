/** src/pki: the DER writer and reader, X.509 certificates and PKCS#7, built by code. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { ByteReader } from '../../src/bytes/reader.js';
import {
  decodeOid,
  encodeOid,
  encodeSmallInteger,
  encodeTlv,
  encodeUnsignedInteger,
  expectTlv,
  MAX_DER_DEPTH,
  readChildren,
  readTlv,
  sortSetOf,
} from '../../src/pki/der.js';
import { nameAttributes, parseCertificate, verifyCertificateSignature } from '../../src/pki/certificate.js';
import { decodePkcs7, Pkcs7DecodeError } from '../../src/pki/pkcs7.js';
import { generateSigningKey } from '../../src/index.js';
import { signModuleContent } from '../../src/sign/cms.js';
import { testKey, throwsAt } from './fixtures.js';

const reader = (bytes: number[] | Uint8Array, base = 0): ByteReader =>
  new ByteReader(Uint8Array.from(bytes), { file: 'x.der', format: 'der', base });

describe('DER writer', () => {
  const lengths: [number, number[]][] = [
    [0, [0x04, 0x00]],
    [127, [0x04, 0x7f]],
    [128, [0x04, 0x81, 0x80]],
    [255, [0x04, 0x81, 0xff]],
    [256, [0x04, 0x82, 0x01, 0x00]],
    [65536, [0x04, 0x83, 0x01, 0x00, 0x00]],
  ];
  for (const [n, head] of lengths) {
    test(`a ${n}-byte OCTET STRING has the minimal length form`, () => {
      const t = encodeTlv(0x04, new Uint8Array(n));
      assert.deepEqual([...t.subarray(0, head.length)], head);
      assert.equal(t.length, head.length + n);
    });
  }

  const oids: [string, number[]][] = [
    ['1.2.840.113549.1.7.2', [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02]],
    ['2.16.840.1.101.3.4.2.1', [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]],
    ['2.5.4.3', [0x55, 0x04, 0x03]],
  ];
  for (const [dotted, body] of oids) {
    test(`OID ${dotted} encodes and decodes`, () => {
      assert.deepEqual([...encodeOid(dotted)], [0x06, body.length, ...body]);
      assert.equal(decodeOid(Uint8Array.from(body)), dotted);
    });
  }

  test('integers are positive and minimal; SET OF is sorted by encoding', () => {
    assert.deepEqual([...encodeUnsignedInteger(Uint8Array.of(0, 0, 0x80))], [0x02, 0x02, 0x00, 0x80]);
    assert.deepEqual([...encodeUnsignedInteger(Uint8Array.of(0x7f))], [0x02, 0x01, 0x7f]);
    assert.deepEqual([...encodeSmallInteger(0)], [0x02, 0x01, 0x00]);
    assert.deepEqual([...encodeSmallInteger(1)], [0x02, 0x01, 0x01]);
    const sorted = sortSetOf([
      Uint8Array.of(0x04, 0x01, 0x02),
      Uint8Array.of(0x04, 0x00),
      Uint8Array.of(0x02, 0x01, 0x05),
    ]);
    assert.deepEqual(
      sorted.map((b) => [...b]),
      [
        [0x02, 0x01, 0x05],
        [0x04, 0x00],
        [0x04, 0x01, 0x02],
      ],
    );
  });
});

describe('DER reader', () => {
  test('short, long and indefinite lengths; children', () => {
    const r = reader([0x30, 0x81, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xaa]);
    const t = readTlv(r, 0);
    assert.deepEqual([t.tag, t.contentStart, t.contentEnd, t.end, t.indefinite], [0x30, 3, 9, 9, false]);
    assert.deepEqual(
      readChildren(r, t).map((c) => [c.tag, c.start, c.end]),
      [
        [0x02, 3, 6],
        [0x04, 6, 9],
      ],
    );
    const ber = reader([0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00]);
    const b = readTlv(ber, 0);
    assert.deepEqual([b.contentStart, b.contentEnd, b.end, b.indefinite], [2, 5, 7, true]);
  });

  const bad: [string, number[], string, number][] = [
    ['empty', [], 'E_TRUNCATED', 0],
    ['tag only', [0x30], 'E_TRUNCATED', 1],
    ['high tag number', [0x1f, 0x01, 0x00], 'E_ASN1', 0],
    ['content past the end', [0x04, 0x05, 0x00], 'E_TRUNCATED', 2],
    ['long length past the end', [0x04, 0x82, 0x01, 0x00, 0x00], 'E_TRUNCATED', 4],
    ['length of 5 octets', [0x04, 0x85, 1, 0, 0, 0, 0], 'E_ASN1', 1],
    ['length octets cut off', [0x04, 0x82, 0x01], 'E_TRUNCATED', 3],
    ['indefinite primitive', [0x04, 0x80, 0x00, 0x00], 'E_ASN1', 1],
    ['indefinite without end-of-contents', [0x30, 0x80, 0x02, 0x01, 0x05], 'E_TRUNCATED', 5],
  ];
  for (const [name, bytes, code, offset] of bad) {
    test(`${name} → ${code} at ${offset}`, () => throwsAt(() => readTlv(reader(bytes), 0), code, offset));
  }

  test('offsets are absolute (base 0x200); a wrong tag names the offset', () => {
    throwsAt(() => readTlv(reader([0x04, 0x05, 0x00], 0x200), 0), 'E_TRUNCATED', 0x202);
    throwsAt(() => expectTlv(reader([0x31, 0x00]), 0, 0x30, 'SEQUENCE'), 'E_ASN1', 0);
  });

  test(`nesting deeper than ${MAX_DER_DEPTH} is E_LIMIT`, () => {
    let t: Uint8Array = Uint8Array.of(0x05, 0x00);
    for (let i = 0; i <= MAX_DER_DEPTH + 1; i++) t = encodeTlv(0x30, t);
    const r = reader(t);
    const walk = (x: ReturnType<typeof readTlv>, depth: number): void => {
      for (const c of readChildren(r, x, depth)) if (c.constructed) walk(c, depth + 1);
    };
    assert.throws(
      () => walk(readTlv(r, 0), 0),
      (e: { code?: string }) => e.code === 'E_LIMIT',
    );
  });
});

describe('X.509 certificates', () => {
  test('a generated certificate: subject, issuer, serial, key, self-signature', async () => {
    const k = await testKey('p256');
    const c = parseCertificate(k.certificate);
    assert.equal(c.keyAlgorithm, 'ecdsa');
    assert.equal(c.selfIssued, true);
    assert.equal(c.isCA, false);
    assert.deepEqual(
      nameAttributes(c.subjectDer).map((a) => [a.oid, Buffer.from(a.value).toString()]),
      [
        ['2.5.4.3', 'unit p256 key'],
        ['2.5.4.10', 'kmodseal'],
      ],
    );
    assert.equal(Buffer.from(c.subjectDer).equals(Buffer.from(c.issuerDer)), true);
    assert.equal(verifyCertificateSignature(c, crypto.createPublicKey(k.privateKey)), true);
    const other = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    assert.equal(verifyCertificateSignature(c, other), false);
  });

  test('a CA-issued certificate names its issuer and verifies only under the CA key', async () => {
    const ca = await generateSigningKey({ type: 'p256', subject: 'CN=unit ca', ca: true });
    const leaf = await generateSigningKey({ type: 'p256', subject: 'CN=unit leaf', issuer: ca });
    const c = parseCertificate(leaf.certificate);
    assert.equal(parseCertificate(ca.certificate).isCA, true);
    assert.equal(c.selfIssued, false);
    assert.equal(verifyCertificateSignature(c, crypto.createPublicKey(ca.privateKey)), true);
    assert.equal(verifyCertificateSignature(c, crypto.createPublicKey(leaf.privateKey)), false);
  });

  test('bytes that are not a certificate: E_ASN1 at the origin offset', () => {
    throwsAt(
      () => parseCertificate(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01), { file: 'k', offset: 0x40 }),
      'E_ASN1',
      0x40,
    );
    throwsAt(() => parseCertificate(new Uint8Array(0), { offset: 7 }), 'E_ASN1', 7);
  });
});

describe('PKCS#7 SignedData', () => {
  test("sign-file's shape: one signer, issuer and serial, no certificates, detached", async () => {
    const k = await testKey('p256');
    const p7 = await signModuleContent(Uint8Array.of(1, 2, 3), k.signer);
    const m = decodePkcs7(p7);
    assert.equal(m.signers.length, 1);
    assert.equal(m.certificates.length, 0);
    assert.equal(m.signedData.encapContentInfo.eContent, undefined);
    assert.deepEqual(m.signers[0]!.issuerDer, parseCertificate(k.certificate).issuerDer);
  });

  const bad: [string, Uint8Array, string][] = [
    ['garbage', Uint8Array.of(1, 2, 3), 'content-info'],
    [
      'not signedData',
      encodeTlv(0x30, encodeOid('1.2.840.113549.1.7.1'), encodeTlv(0xa0, encodeTlv(0x04))),
      'content-type',
    ],
    [
      'signedData with an empty body',
      encodeTlv(0x30, encodeOid('1.2.840.113549.1.7.2'), encodeTlv(0xa0, encodeTlv(0x30))),
      'signed-data',
    ],
  ];
  for (const [name, bytes, stage] of bad) {
    test(`${name}: Pkcs7DecodeError, stage ${stage}, E_ASN1 at the message's offset`, () => {
      throwsAt(() => decodePkcs7(bytes, 'm.ko', 0x1234), 'E_ASN1', 0x1234);
      assert.throws(
        () => decodePkcs7(bytes),
        (e) => e instanceof Pkcs7DecodeError && e.stage === stage,
      );
    });
  }
});
