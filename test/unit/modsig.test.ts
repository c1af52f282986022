/** src/modsig: the appended signature trailer and its PKCS#7, found and refused at the right offsets. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { findModuleSignature, modinfoSignatureFields, probeModuleSignature } from '../../src/modsig/signature.js';
import { parseCertificate } from '../../src/pki/certificate.js';
import { latin1, moduleElf, patched, signedModule, testKey, throwsAt } from './fixtures.js';

/** The kernel's layout (include/linux/module_signature.h), written out here rather than imported. */
const MODULE_SIG_MAGIC = latin1('~Module signature appended~\n');
const MODULE_SIGNATURE_SIZE = 12;

/** content ‖ sig ‖ struct module_signature ‖ magic, with the trailer fields given. */
function trailer(
  content: Uint8Array,
  sig: Uint8Array,
  f: { algo?: number; hash?: number; idType?: number; signer?: number; keyId?: number; sigLen?: number },
): Uint8Array {
  const info = new Uint8Array(MODULE_SIGNATURE_SIZE);
  info[0] = f.algo ?? 0;
  info[1] = f.hash ?? 0;
  info[2] = f.idType ?? 2;
  info[3] = f.signer ?? 0;
  info[4] = f.keyId ?? 0;
  new DataView(info.buffer).setUint32(8, f.sigLen ?? sig.length, false);
  return Uint8Array.from(Buffer.concat([content, sig, info, MODULE_SIG_MAGIC]));
}

describe('module signature: well-formed', () => {
  for (const [type, hash, algo] of [
    ['p256', 'sha256', 'ecdsa-with-SHA256'],
    ['rsa2048', 'sha512', 'rsaEncryption'],
  ] as const) {
    test(`${type}/${hash}: module length, offsets, issuer, serial and the fields modinfo prints`, async () => {
      const module = moduleElf();
      const data = await signedModule(module, type, hash);
      assert.equal(probeModuleSignature(data), true);
      const sig = findModuleSignature(data, 'm.ko')!;
      assert.equal(sig.moduleLength, module.length);
      assert.equal(sig.sigOffset, module.length);
      assert.equal(sig.trailerOffset, data.length - MODULE_SIG_MAGIC.length - MODULE_SIGNATURE_SIZE);
      assert.equal(sig.raw.id_type, 2);
      assert.equal(sig.raw.sig_len, sig.trailerOffset - module.length);
      const cert = parseCertificate((await testKey(type)).certificate);
      const p = sig.pkcs7!;
      assert.equal(p.issuerCN, `unit ${type} key`);
      assert.equal(p.issuer, `CN=unit ${type} key, O=kmodseal`);
      assert.deepEqual(p.serial, cert.serial);
      assert.equal(p.digestAlgorithmName, hash);
      assert.equal(p.signatureAlgorithmName, algo);
      assert.equal(p.detached, true);
      assert.equal(p.signedAttributes, false);
      assert.equal(p.certificateCount, 0);
      // the signature value verifies over the unsigned module
      const ok = crypto.verify(
        hash,
        module,
        { key: crypto.createPublicKey((await testKey(type)).privateKey), dsaEncoding: 'der' },
        p.signature,
      );
      assert.equal(ok, true);
      const f = modinfoSignatureFields(sig)!;
      assert.deepEqual([f.sig_id, f.signer, f.sig_hashalgo], ['PKCS#7', `unit ${type} key`, hash]);
    });
  }

  test('no magic: unsigned, and probe is false for anything shorter than the magic', () => {
    assert.equal(findModuleSignature(moduleElf(), 'm.ko'), undefined);
    assert.equal(probeModuleSignature(MODULE_SIG_MAGIC.subarray(1)), false);
  });

  test('a legacy (X.509 id, not PKCS#7) trailer: signer and key id come from the trailer', () => {
    const data = trailer(latin1('ELF...'), latin1('SIG'), { algo: 1, hash: 4, idType: 1, signer: 0, keyId: 0 });
    const sig = findModuleSignature(data, 'm.ko')!;
    assert.equal(sig.pkcs7, undefined);
    const f = modinfoSignatureFields(sig)!;
    assert.deepEqual([f.sig_id, f.sig_hashalgo, Buffer.from(f.signature).toString()], ['X509', 'sha256', 'SIG']);
    // enums out of kmod's tables: no modinfo fields at all
    assert.equal(
      modinfoSignatureFields(findModuleSignature(trailer(latin1('E'), latin1('S'), { hash: 9, idType: 1 }), 'm')!),
      undefined,
    );
  });
});

describe('module signature: malformed trailers, code and offset', () => {
  const content = latin1('\x7fELF'.padEnd(100, '\0'));
  const pkcs7Garbage = latin1('\x30\x03\x02\x01');
  const t = (d: Uint8Array): number => d.length - MODULE_SIG_MAGIC.length - MODULE_SIGNATURE_SIZE;
  const cases: [string, Uint8Array, string, (d: Uint8Array) => number][] = [
    [
      'magic only: no room for the trailer',
      Uint8Array.from(Buffer.concat([latin1('abc'), MODULE_SIG_MAGIC])),
      'E_SIG',
      () => 0,
    ],
    ['sig_len 0', trailer(content, new Uint8Array(0), {}), 'E_SIG', (d) => t(d) + 8],
    ['sig_len past the start of the file', trailer(content, latin1('x'), { sigLen: 1000 }), 'E_SIG', (d) => t(d) + 8],
    [
      'signer + key id past the start',
      trailer(content, latin1('x'), { signer: 200, keyId: 200 }),
      'E_SIG',
      (d) => t(d) + 8,
    ],
    [
      'PKCS#7 that does not decode: at the signature',
      trailer(content, pkcs7Garbage, {}),
      'E_ASN1',
      () => content.length,
    ],
  ];
  for (const [name, data, code, at] of cases) {
    test(`${name} → ${code}`, () => throwsAt(() => findModuleSignature(data, 'm.ko'), code, at(data)));
  }

  test('a signed module with one PKCS#7 byte changed at its start: E_ASN1 at the signature offset', async () => {
    const module = moduleElf();
    const data = patched(await signedModule(module), (_, b) => void (b[module.length] = 0x31));
    throwsAt(() => findModuleSignature(data, 'm.ko'), 'E_ASN1', module.length);
  });
});
