/**
 * The one X.509 certificate parser. A certificate is decoded once: @peculiar/asn1-x509 for the
 * values people read (names), and a TLV walk over the same bytes for the raw spans the kernel
 * keys and hashes (crypto/asymmetric_keys/x509_cert_parser.c, x509_public_key.c):
 *
 *   Certificate  ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE { [0] EXPLICIT version OPTIONAL, serialNumber INTEGER,
 *       signature AlgorithmIdentifier, issuer Name, validity, subject Name,
 *       subjectPublicKeyInfo, [1] issuerUID OPTIONAL, [2] subjectUID OPTIONAL,
 *       [3] EXPLICIT Extensions OPTIONAL }
 *
 * The issuer's signature is over the TBSCertificate bytes exactly as they appear
 * (x509_note_tbs_certificate: `cert->tbs = value - hdrlen`), never over a re-encoding: BER the
 * kernel accepts (a non-minimal length, say) re-encodes to other bytes.
 *
 * Kernel ids: `id` = serial INTEGER contents ‖ issuer Name contents (asymmetric_key_generate_id),
 * `skid` = subjectKeyIdentifier octets; AKID gives `auth_ids[0]` (authorityCertSerialNumber ‖
 * authorityCertIssuer directoryName contents) and `auth_ids[1]` (keyIdentifier).
 */
import 'reflect-metadata';
import crypto from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate as AsnCertificate } from '@peculiar/asn1-x509';
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
import { OID_EC_PUBLIC_KEY as OID_EC, OID_RSA_ENCRYPTION as OID_RSA } from './oids.js';

const OID_SKID = '2.5.29.14';
const OID_AKID = '2.5.29.35';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';

export interface AuthorityKeyId {
  /** keyIdentifier [0] octets. */
  readonly keyId: Uint8Array | undefined;
  /** authorityCertSerialNumber ‖ issuer Name contents (kernel auth_ids[0]), when both are present. */
  readonly issuerSerialId: Uint8Array | undefined;
}

/** A byte range [start, end) of the certificate's DER. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/** A certificate, parsed once: raw spans of what was signed and keyed, and the decoded values. */
export interface ParsedCertificate {
  /** The whole certificate, exactly as encoded (copy). */
  readonly der: Uint8Array;
  /** TBSCertificate TLV exactly as encoded: what the issuer signed (view into `der`). */
  readonly tbs: Uint8Array;
  /** Where `tbs` lies in `der`. */
  readonly tbsSpan: Span;
  /** serialNumber INTEGER TLV, exactly as encoded. */
  readonly serialDer: Uint8Array;
  /** serialNumber INTEGER contents (kernel raw_serial). */
  readonly serial: Uint8Array;
  /** issuer Name TLV, exactly as encoded (what issuerAndSerialNumber copies). */
  readonly issuerDer: Uint8Array;
  /** issuer Name contents (kernel raw_issuer). */
  readonly issuer: Uint8Array;
  /** subject Name TLV, exactly as encoded. */
  readonly subjectDer: Uint8Array;
  /** subject Name contents (kernel raw_subject). */
  readonly subject: Uint8Array;
  /** SubjectPublicKeyInfo TLV, exactly as encoded. */
  readonly spki: Uint8Array;
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
  /** Certificate.signatureAlgorithm OID (x509_note_sig_algo). */
  readonly signatureAlgorithm: string;
  /** signatureValue BIT STRING contents after the unused-bits octet (x509_note_signature). */
  readonly signature: Uint8Array;
  /** The @peculiar decode of the same bytes, for display values (names, times). */
  readonly decoded: AsnCertificate;
}

/** Byte equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Where a certificate lies, for errors: the file and the absolute offset of its first byte. */
export interface CertificateOrigin {
  readonly file?: string;
  readonly offset?: number;
  /** An existing decode of exactly these bytes (from a PKCS#7 decode), to skip decoding again. */
  readonly decoded?: AsnCertificate;
}

/**
 * Parses one DER (or kernel-accepted BER) X.509 certificate.
 * @throws FormatError E_ASN1 ("certificate does not decode: ...", cause = the decoder's error)
 *         when @peculiar cannot decode it; E_ASN1 / E_TRUNCATED at the offending offset when
 *         its TLV layout is not a certificate's.
 */
export function parseCertificate(der: Uint8Array, origin: CertificateOrigin = {}): ParsedCertificate {
  const file = origin.file ?? '<certificate>';
  const base = origin.offset ?? 0;
  let decoded = origin.decoded;
  if (!decoded) {
    try {
      decoded = AsnConvert.parse(der, AsnCertificate);
    } catch (e) {
      const detail = `certificate does not decode: ${(e as Error).message}`;
      throw new FormatError('E_ASN1', { file, offset: base, format: 'x509', detail, cause: e });
    }
  }
  const own = copyBytes(der);
  const r = new ByteReader(own, { file, format: 'x509', base });
  const cert = expectTlv(r, 0, TAG_SEQUENCE, 'Certificate');
  const tbs = expectTlv(r, cert.contentStart, TAG_SEQUENCE, 'TBSCertificate', cert.contentEnd);
  const sigAlg = expectTlv(r, tbs.end, TAG_SEQUENCE, 'signatureAlgorithm', cert.contentEnd);
  const sigBits = expectTlv(r, sigAlg.end, TAG_BIT_STRING, 'signatureValue', cert.contentEnd);
  const sigAlgOid = decodeOid(
    tlvContents(r, expectTlv(r, sigAlg.contentStart, TAG_OID, 'algorithm', sigAlg.contentEnd)),
  );
  const f = readChildren(r, tbs);
  let i = 0;
  if (f[i]?.tag === 0xa0) i++; // version
  const serial = f[i++];
  const tbsSigAlg = f[i++];
  const issuer = f[i++];
  const validity = f[i++];
  const subject = f[i++];
  const spki = f[i++];
  if (!serial || serial.tag !== TAG_INTEGER)
    throw r.error('E_ASN1', serial?.start ?? tbs.contentStart, 'serialNumber INTEGER expected');
  const seqs = [
    [tbsSigAlg, 'signature'],
    [issuer, 'issuer'],
    [validity, 'validity'],
    [subject, 'subject'],
    [spki, 'subjectPublicKeyInfo'],
  ] as const;
  for (const [t, what] of seqs) {
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
      if (!oidT || oidT.tag !== TAG_OID || !valueT || valueT.tag !== TAG_OCTET_STRING) {
        throw r.error('E_ASN1', ext.start, 'malformed Extension');
      }
      const oid = decodeOid(tlvContents(r, oidT));
      if (oid === OID_SKID) {
        const v = expectTlv(r, valueT.contentStart, TAG_OCTET_STRING, 'SubjectKeyIdentifier', valueT.contentEnd);
        subjectKeyId = tlvContents(r, v);
      } else if (oid === OID_AKID) {
        authorityKeyId = readAkid(r, valueT.contentStart, valueT.contentEnd);
      } else if (oid === OID_BASIC_CONSTRAINTS) {
        const bc = expectTlv(r, valueT.contentStart, TAG_SEQUENCE, 'BasicConstraints', valueT.contentEnd);
        const first = readChildren(r, bc)[0];
        isCA = first !== undefined && first.tag === 0x01 && r.u8(first.contentStart) !== 0;
      }
    }
  }
  const bits = tlvContents(r, sigBits);
  const issuerDer = tlvBytes(r, issuer!);
  const subjectDer = tlvBytes(r, subject!);
  return {
    der: own.subarray(cert.start, cert.end),
    tbs: tlvBytes(r, tbs),
    tbsSpan: { start: tbs.start, end: tbs.end },
    serialDer: tlvBytes(r, serial),
    serial: tlvContents(r, serial),
    issuerDer,
    issuer: tlvContents(r, issuer!),
    subjectDer,
    subject: tlvContents(r, subject!),
    spki: tlvBytes(r, spki!),
    id: concatBytes([tlvContents(r, serial), tlvContents(r, issuer!)]),
    subjectKeyId,
    authorityKeyId,
    keyAlgorithm,
    isCA,
    selfIssued: bytesEqual(issuerDer, subjectDer),
    signatureAlgorithm: sigAlgOid,
    signature: bits.subarray(Math.min(1, bits.length)),
    decoded,
  };
}

/** AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier, [1] authorityCertIssuer GeneralNames, [2] serial } */
function readAkid(r: ByteReader, start: number, end: number): AuthorityKeyId {
  const seq = expectTlv(r, start, TAG_SEQUENCE, 'AuthorityKeyIdentifier', end);
  let keyId: Uint8Array | undefined;
  let issuerName: Uint8Array | undefined;
  let serial: Uint8Array | undefined;
  for (const t of readChildren(r, seq)) {
    if (t.tag === 0x80) keyId = tlvContents(r, t);
    else if (t.tag === 0x82) serial = tlvContents(r, t);
    else if (t.tag === 0xa1) {
      // GeneralNames; the kernel takes a directoryName [4] (x509_akid_note_name), the last one
      for (const gn of readChildren(r, t)) {
        if (gn.tag !== 0xa4) continue;
        const name = readTlv(r, gn.contentStart, gn.contentEnd);
        issuerName = tlvContents(r, name);
      }
    }
  }
  return { keyId, issuerSerialId: serial && issuerName ? concatBytes([serial, issuerName]) : undefined };
}

/** One AttributeTypeAndValue of a Name, with the value's raw contents (what the kernel copies). */
export interface NameAttribute {
  readonly oid: string;
  /** The value's tag (UTF8String 0x0c, PrintableString 0x13, ...). */
  readonly tag: number;
  /** The value's content octets, exactly as encoded. */
  readonly value: Uint8Array;
}

/**
 * The attributes of a Name TLV (RDNSequence ::= SEQUENCE OF SET OF AttributeTypeAndValue), in
 * encoded order, with raw value contents (x509_extract_name_segment).
 * @throws FormatError E_ASN1 / E_TRUNCATED
 */
export function nameAttributes(nameDer: Uint8Array, file = '<name>', base = 0): NameAttribute[] {
  const r = new ByteReader(nameDer, { file, format: 'x509', base });
  const name = expectTlv(r, 0, TAG_SEQUENCE, 'Name');
  const out: NameAttribute[] = [];
  for (const rdn of readChildren(r, name)) {
    for (const atv of readChildren(r, rdn)) {
      const [oidT, valueT] = readChildren(r, atv);
      if (!oidT || oidT.tag !== TAG_OID || !valueT)
        throw r.error('E_ASN1', atv.start, 'malformed AttributeTypeAndValue');
      out.push({ oid: decodeOid(tlvContents(r, oidT)), tag: valueT.tag, value: tlvContents(r, valueT) });
    }
  }
  return out;
}

/** Hash names node:crypto knows for the certificate signature algorithms the kernel takes (x509_note_sig_algo). */
export const CERT_SIGNATURE_ALGORITHMS: Readonly<Record<string, readonly [string, 'rsa' | 'ecdsa']>> = {
  '1.2.840.113549.1.1.5': ['sha1', 'rsa'],
  '1.2.840.113549.1.1.14': ['sha224', 'rsa'],
  '1.2.840.113549.1.1.11': ['sha256', 'rsa'],
  '1.2.840.113549.1.1.12': ['sha384', 'rsa'],
  '1.2.840.113549.1.1.13': ['sha512', 'rsa'],
  '1.2.840.10045.4.1': ['sha1', 'ecdsa'],
  '1.2.840.10045.4.3.1': ['sha224', 'ecdsa'],
  '1.2.840.10045.4.3.2': ['sha256', 'ecdsa'],
  '1.2.840.10045.4.3.3': ['sha384', 'ecdsa'],
  '1.2.840.10045.4.3.4': ['sha512', 'ecdsa'],
};

/**
 * Whether `issuerKey` signed `cert`: the signature over the TBSCertificate bytes exactly as
 * they appear in the certificate (public_key_verify_signature over cert->tbs), never over a
 * re-encoding. False for an algorithm the kernel does not take or a key of the other type.
 */
export function verifyCertificateSignature(cert: ParsedCertificate, issuerKey: crypto.KeyObject): boolean {
  const alg = CERT_SIGNATURE_ALGORITHMS[cert.signatureAlgorithm];
  const type =
    issuerKey.asymmetricKeyType === 'rsa' ? 'rsa' : issuerKey.asymmetricKeyType === 'ec' ? 'ecdsa' : undefined;
  if (!alg || alg[1] !== type) return false;
  try {
    return crypto.verify(alg[0], cert.tbs, issuerKey, cert.signature);
  } catch {
    return false;
  }
}
