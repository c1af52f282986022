/**
 * A certificate as people read it: subject and issuer in OpenSSL's multi-line form (one
 * `SN=value` per line, RFC 2253 escaping, values converted to UTF-8: what `openssl x509 -subject
 * -nameopt multiline` style printers and node's `X509Certificate.subject` show), the serial in
 * hex and the SHA-256 fingerprint. Built on the one certificate parser, so that `keygen` and
 * `seal` describe a certificate through the same code that verifies it.
 */
import crypto from 'node:crypto';
import { ByteReader, toHex } from '../bytes/reader.js';
import { decodeOid, expectTlv, readChildren, TAG_OID, TAG_SEQUENCE, tlvContents } from './der.js';
import { parseCertificate } from './certificate.js';

/** OpenSSL's short names of the attribute types a certificate name carries. */
const SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.17': 'postalCode',
  '2.5.4.41': 'name',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
};

/** A string value's characters, by its ASN.1 string type. */
function decodeString(tag: number, v: Uint8Array): string {
  const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  switch (tag) {
    case 0x0c: // UTF8String
      return b.toString('utf8');
    case 0x1e: {
      // BMPString: UCS-2, big-endian
      let s = '';
      for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode(b.readUInt16BE(i));
      return s;
    }
    case 0x1c: {
      // UniversalString: UCS-4, big-endian
      let s = '';
      for (let i = 0; i + 3 < b.length; i += 4) s += String.fromCodePoint(b.readUInt32BE(i));
      return s;
    }
    default: // PrintableString, IA5String, TeletexString (read as Latin-1, as OpenSSL does), ...
      return b.toString('latin1');
  }
}

/** RFC 2253 escaping with control characters as \XX (OpenSSL ASN1_STRFLGS_ESC_2253 | ESC_CTRL). */
function escapeValue(s: string): string {
  const chars = [...s];
  return chars
    .map((c, i) => {
      const code = c.codePointAt(0)!;
      if (code < 0x20 || code === 0x7f) return `\\${code.toString(16).toUpperCase().padStart(2, '0')}`;
      if (',+"\\<>;'.includes(c)) return `\\${c}`;
      if ((i === 0 && (c === '#' || c === ' ')) || (i === chars.length - 1 && c === ' ')) return `\\${c}`;
      return c;
    })
    .join('');
}

/** A Name TLV in OpenSSL's multi-line form: one line per RDN, a multi-valued RDN joined by " + ". */
export function formatNameMultiline(nameDer: Uint8Array, file = '<name>'): string {
  const r = new ByteReader(nameDer, { file, format: 'x509' });
  const name = expectTlv(r, 0, TAG_SEQUENCE, 'Name');
  return readChildren(r, name)
    .map((rdn) =>
      readChildren(r, rdn)
        .map((atv) => {
          const [oidT, valueT] = readChildren(r, atv);
          if (!oidT || oidT.tag !== TAG_OID || !valueT)
            throw r.error('E_ASN1', atv.start, 'malformed AttributeTypeAndValue');
          const oid = decodeOid(tlvContents(r, oidT));
          return `${SHORT_NAMES[oid] ?? oid}=${escapeValue(decodeString(valueT.tag, tlvContents(r, valueT)))}`;
        })
        .join(' + '),
    )
    .join('\n');
}

/** What `keygen` and `seal` print about a certificate. */
export interface CertificateDescription {
  /** Subject, OpenSSL multi-line form. */
  readonly subject: string;
  /** Issuer, OpenSSL multi-line form. */
  readonly issuer: string;
  /** The serial number in lower-case hex, without leading zero octets. */
  readonly serial: string;
  /** SHA-256 of the DER, lower-case hex. */
  readonly sha256: string;
}

/**
 * Describes one DER certificate.
 * @throws FormatError when it is not a certificate
 */
export function describeCertificate(der: Uint8Array, file = '<certificate>'): CertificateDescription {
  const c = parseCertificate(der, { file });
  let i = 0;
  while (i < c.serial.length - 1 && c.serial[i] === 0) i++;
  return {
    subject: formatNameMultiline(c.subjectDer, file),
    issuer: formatNameMultiline(c.issuerDer, file),
    serial: toHex(c.serial.subarray(i)),
    sha256: crypto.createHash('sha256').update(c.der).digest('hex'),
  };
}
