/**
 * Certificate files: PEM to DER, and the SKID kmodseal gives the certificates it makes.
 * Parsing a certificate is src/pki/certificate.ts's job (the one parser).
 */
import crypto from 'node:crypto';
import { ByteReader } from '../bytes/reader.js';
import { FormatError } from '../bytes/errors.js';
import { expectTlv, readChildren, TAG_BIT_STRING, TAG_SEQUENCE } from '../pki/der.js';

export { bytesEqual } from '../pki/certificate.js';

/** PEM ("-----BEGIN CERTIFICATE-----") or DER to DER. */
export function certificateToDer(cert: Uint8Array | string): Uint8Array {
  if (
    typeof cert === 'string' ||
    (cert.length > 10 && Buffer.from(cert.subarray(0, 10)).toString('latin1').startsWith('-----'))
  ) {
    const text = typeof cert === 'string' ? cert : Buffer.from(cert).toString('latin1');
    const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
    if (!m)
      throw new FormatError('E_MAGIC', {
        file: '<certificate>',
        offset: 0,
        format: 'pem',
        detail: 'no CERTIFICATE block',
      });
    return new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
  }
  return cert;
}

/** All certificates of a PEM bundle (or one DER certificate). */
export function certificatesFromPem(text: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)) {
    out.push(new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')));
  }
  return out;
}

/** SHA-1 over the subjectPublicKey BIT STRING contents (RFC 5280 §4.2.1.2 method 1; OpenSSL "hash"). */
export function subjectKeyIdFromSpki(spkiDer: Uint8Array): Uint8Array {
  const r = new ByteReader(spkiDer, { file: '<spki>', format: 'x509' });
  const spki = expectTlv(r, 0, TAG_SEQUENCE, 'SubjectPublicKeyInfo');
  const kids = readChildren(r, spki);
  const bits = kids[1];
  if (!bits || bits.tag !== TAG_BIT_STRING)
    throw r.error('E_ASN1', spki.contentStart, 'subjectPublicKey BIT STRING expected');
  const key = r.data.subarray(bits.contentStart + 1, bits.contentEnd);
  return new Uint8Array(crypto.createHash('sha1').update(key).digest());
}
