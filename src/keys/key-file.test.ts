import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readCertificateFile } from './key-file.js';
import { certificateToPem, createCertificate } from './x509.js';
import type { FormatError } from '../bytes/errors.js';

/** readCertificateFile checks each certificate with the one parser of src/pki: bad bytes name the file and offset. */
test('readCertificateFile: DER and PEM read; a truncated or foreign file is a FormatError naming file and offset', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-keyfile-'));
  try {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = await createCertificate({ subject: 'CN=unit', publicKey, signingKey: privateKey });
    const files = {
      der: path.join(dir, 'c.der'),
      pem: path.join(dir, 'two.pem'),
      cut: path.join(dir, 'cut.der'),
      text: path.join(dir, 'text.der'),
    };
    fs.writeFileSync(files.der, der);
    fs.writeFileSync(files.pem, certificateToPem(der) + certificateToPem(der));
    fs.writeFileSync(files.cut, der.subarray(0, 40));
    fs.writeFileSync(files.text, 'not a certificate at all\n');
    assert.deepEqual(
      readCertificateFile(files.der).map((c) => Buffer.from(c)),
      [Buffer.from(der)],
    );
    assert.equal(readCertificateFile(files.pem).length, 2);
    for (const f of [files.cut, files.text])
      assert.throws(
        () => readCertificateFile(f),
        (e: FormatError) => e.code === 'E_ASN1' && e.offset === 0 && e.message.startsWith(`${f}: 0x0: x509: `),
      );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
