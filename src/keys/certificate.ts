/**
 * The identifiers of an X.509 certificate as the kernel uses them, read from the exact DER
 * bytes (crypto/asymmetric_keys/x509_cert_parser.c, x509_public_key.c).
 *
 *   Certificate  ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
 *   TBSCertificate ::= SEQUENCE { [0] EXPLICIT version OPTIONAL, serialNumber INTEGER,
 *       signature AlgorithmIdentifier, issuer Name, validity, subject Name,
 *       subjectPublicKeyInfo, [1] issuerUID OPTIONAL, [2] subjectUID OPTIONAL,
 *       [3] EXPLICIT Extensions OPTIONAL }
 *
 * Kernel ids: `id` = serial INTEGER contents ‖ issuer Name contents (asymmetric_key_generate_id),
 * `skid` = subjectKeyIdentifier octets; AKID gives `auth_ids[0]` (authorityCertSerialNumber ‖
 * authorityCertIssuer directoryName contents) and `auth_ids[1]` (keyIdentifier).
 */
import crypto from 'node:crypto';
import { ByteReader, copyBytes } from '../bytes/reader.js';
import { FormatError } from '../bytes/errors.js';
import {
  concatBytes,
  decodeOid,
  expectTlv,
  readChildren,
  readTlv,
  tlvBytes,
  tlvContents,
  TAG_BIT_STRING,
  TAG_INTEGER,
  TAG_OCTET_STRING,
  TAG_OID,
  TAG_SEQUENCE,
} from './der.js';

const OID_SKID = '2.5.29.14';
const OID_AKID = '2.5.29.35';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_RSA = '1.2.840.113549.1.1.1';
const OID_EC = '1.2.840.10045.2.1';

export interface AuthorityKeyId {
  /** keyIdentifier [0] octets. */
  readonly keyId: Uint8Array | undefined;
  /** authorityCertSerialNumber ‖ issuer Name contents (kernel auth_ids[0]), when both are present. */
  readonly issuerSerialId: Uint8Array | undefined;
}

export interface CertificateIds {
  /** The whole certificate, DER (copy). */
  readonly der: Uint8Array;
  /** issuer Name TLV, exactly as encoded (what issuerAndSerialNumber copies). */
  readonly issuerDer: Uint8Array;
  /** subject Name TLV, exactly as encoded. */
  readonly subjectDer: Uint8Array;
  /** serialNumber INTEGER TLV, exactly as encoded. */
  readonly serialDer: Uint8Array;
  /** Kernel x509->id: serial contents ‖ issuer contents. */
  readonly id: Uint8Array;
  /** subjectKeyIdentifier octets, if the extension is present. */
  readonly subjectKeyId: Uint8Array | undefined;
  readonly authorityKeyId: AuthorityKeyId | undefined;
  /** 'rsa', 'ecdsa' or the raw public key algorithm OID. */
  readonly keyAlgorithm: 'rsa' | 'ecdsa' | string;
  /** basicConstraints cA flag (false when absent). */
  readonly isCA: boolean;
  /** Subject and issuer Name encodings are identical. */
  readonly selfIssued: boolean;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
export { bytesEqual };

/** PEM ("-----BEGIN CERTIFICATE-----") or DER to DER. */
export function certificateToDer(cert: Uint8Array | string): Uint8Array {
  if (typeof cert === 'string' || (cert.length > 10 && Buffer.from(cert.subarray(0, 10)).toString('latin1').startsWith('-----'))) {
    const text = typeof cert === 'string' ? cert : Buffer.from(cert).toString('latin1');
    const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
    if (!m) throw new FormatError('E_MAGIC', { file: '<certificate>', offset: 0, format: 'pem', detail: 'no CERTIFICATE block' });
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

/**
 * Reads the identifiers of a DER certificate.
 * @throws FormatError E_ASN1 / E_TRUNCATED with offsets inside the certificate.
 */
export function parseCertificateIds(der: Uint8Array, file = '<certificate>'): CertificateIds {
  const r = new ByteReader(der, { file, format: 'x509' });
  const cert = expectTlv(r, 0, TAG_SEQUENCE, 'Certificate');
  const tbs = expectTlv(r, cert.contentStart, TAG_SEQUENCE, 'TBSCertificate', cert.contentEnd);
  const f = readChildren(r, tbs);
  let i = 0;
  if (f[i]?.tag === 0xa0) i++; // version
  const serial = f[i++];
  const sigAlg = f[i++];
  const issuer = f[i++];
  const validity = f[i++];
  const subject = f[i++];
  const spki = f[i++];
  if (!serial || serial.tag !== TAG_INTEGER) throw r.error('E_ASN1', serial?.start ?? tbs.contentStart, 'serialNumber INTEGER expected');
  for (const [t, what] of [[sigAlg, 'signature'], [issuer, 'issuer'], [validity, 'validity'], [subject, 'subject'], [spki, 'subjectPublicKeyInfo']] as const) {
    if (!t || t.tag !== TAG_SEQUENCE) throw r.error('E_ASN1', t?.start ?? tbs.contentEnd, `${what} SEQUENCE expected`);
  }
  const algId = expectTlv(r, spki!.contentStart, TAG_SEQUENCE, 'AlgorithmIdentifier', spki!.contentEnd);
  const algOid = decodeOid(tlvContents(r, expectTlv(r, algId.contentStart, TAG_OID, 'algorithm', algId.contentEnd)));
  const keyAlgorithm = algOid === OID_RSA ? 'rsa' : algOid === OID_EC ? 'ecdsa' : algOid;

  let subjectKeyId: Uint8Array | undefined;
  let authorityKeyId: AuthorityKeyId | undefined;
  let isCA = false;
  for (; i < f.length; i++) {
    const t = f[i]!;
    if (t.tag !== 0xa3) continue;
    const exts = expectTlv(r, t.contentStart, TAG_SEQUENCE, 'Extensions', t.contentEnd);
    for (const ext of readChildren(r, exts)) {
      const parts = readChildren(r, ext);
      const oidT = parts[0];
      const valueT = parts[parts.length - 1];
      if (!oidT || oidT.tag !== TAG_OID || !valueT || valueT.tag !== TAG_OCTET_STRING) throw r.error('E_ASN1', ext.start, 'malformed Extension');
      const oid = decodeOid(tlvContents(r, oidT));
      if (oid === OID_SKID) {
        const v = expectTlv(r, valueT.contentStart, TAG_OCTET_STRING, 'SubjectKeyIdentifier', valueT.contentEnd);
        subjectKeyId = copyBytes(tlvContents(r, v));
      } else if (oid === OID_AKID) {
        authorityKeyId = readAkid(r, valueT.contentStart, valueT.contentEnd);
      } else if (oid === OID_BASIC_CONSTRAINTS) {
        const bc = expectTlv(r, valueT.contentStart, TAG_SEQUENCE, 'BasicConstraints', valueT.contentEnd);
        const first = readChildren(r, bc)[0];
        isCA = first !== undefined && first.tag === 0x01 && r.u8(first.contentStart) !== 0;
      }
    }
  }
  const issuerDer = copyBytes(tlvBytes(r, issuer!));
  const subjectDer = copyBytes(tlvBytes(r, subject!));
  return {
    der: copyBytes(der, cert.start, cert.end),
    issuerDer,
    subjectDer,
    serialDer: copyBytes(tlvBytes(r, serial)),
    id: concatBytes([tlvContents(r, serial), tlvContents(r, issuer!)]),
    subjectKeyId,
    authorityKeyId,
    keyAlgorithm,
    isCA,
    selfIssued: bytesEqual(issuerDer, subjectDer),
  };
}

/** AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier, [1] authorityCertIssuer GeneralNames, [2] serial } */
function readAkid(r: ByteReader, start: number, end: number): AuthorityKeyId {
  const seq = expectTlv(r, start, TAG_SEQUENCE, 'AuthorityKeyIdentifier', end);
  let keyId: Uint8Array | undefined;
  let issuerName: Uint8Array | undefined;
  let serial: Uint8Array | undefined;
  for (const t of readChildren(r, seq)) {
    if (t.tag === 0x80) keyId = copyBytes(tlvContents(r, t));
    else if (t.tag === 0x82) serial = tlvContents(r, t);
    else if (t.tag === 0xa1) {
      // GeneralNames; the kernel takes a directoryName [4] (x509_akid_note_name)
      for (const gn of readChildren(r, t)) {
        if (gn.tag !== 0xa4) continue;
        const name = readTlv(r, gn.contentStart, gn.contentEnd);
        issuerName = tlvContents(r, name);
      }
    }
  }
  return { keyId, issuerSerialId: serial && issuerName ? concatBytes([serial, issuerName]) : undefined };
}

/** SHA-1 over the subjectPublicKey BIT STRING contents (RFC 5280 §4.2.1.2 method 1; OpenSSL "hash"). */
export function subjectKeyIdFromSpki(spkiDer: Uint8Array): Uint8Array {
  const r = new ByteReader(spkiDer, { file: '<spki>', format: 'x509' });
  const spki = expectTlv(r, 0, TAG_SEQUENCE, 'SubjectPublicKeyInfo');
  const kids = readChildren(r, spki);
  const bits = kids[1];
  if (!bits || bits.tag !== TAG_BIT_STRING) throw r.error('E_ASN1', spki.contentStart, 'subjectPublicKey BIT STRING expected');
  const key = r.data.subarray(bits.contentStart + 1, bits.contentEnd);
  return new Uint8Array(crypto.createHash('sha1').update(key).digest());
}
