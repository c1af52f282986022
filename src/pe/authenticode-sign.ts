/**
 * Authenticode signing of a PE image, byte for byte as sbsign (sbsigntools 0.9.4 with
 * OpenSSL 3) writes it. Pure: bytes in, bytes out; the signature value comes from the caller.
 *
 * Authority: sbsigntools src/image.c (image_find_regions, image_add_signature, image_write,
 * image_pecoff_update_checksum), src/idc.c (IDC_set), src/sbsign.c; OpenSSL pk7_smime.c
 * (PKCS7_sign_add_signer: contentType, SMIMECapabilities) and pk7_doit.c (signingTime,
 * messageDigest); Authenticode_PE.docx.
 *
 *   image := headers and sections, zero-padded to 8 (the zeros are hashed)
 *            ‖ existing WIN_CERTIFICATE entries ‖ { dwLength = 8 + len(DER), 0x0200, 0x0002, DER } padded to 8
 *   DataDirectory[4] = { offset of the table, size of all entries }; CheckSum recomputed
 *
 *   ContentInfo { signedData, [0] SignedData {
 *     version 1, digestAlgorithms { sha256 NULL },
 *     contentInfo { SPC_INDIRECT_DATA, [0] SpcIndirectDataContent {
 *       { SPC_PE_IMAGE_DATA, { flags BIT STRING {}, [0] { [2] { [0] "<<<Obsolete>>>" (UTF-16BE) } } } },
 *       DigestInfo { { sha256 NULL }, OCTET STRING digest } } },
 *     [0] certificates: signer, then the added ones in the order given,
 *     signerInfos { { 1, issuerAndSerialNumber, { sha256 NULL },
 *       [0] signedAttrs (DER-sorted): contentType SPC_INDIRECT_DATA, signingTime, messageDigest, SMIMECapabilities,
 *       { rsaEncryption NULL } | { ecdsa-with-SHA256 }, OCTET STRING signature } } } }
 */
import { createHash } from 'node:crypto';
import { FormatError } from '../bytes/errors.js';
import { ByteReader, ByteWriter } from '../bytes/reader.js';
import type { ParsedCertificate } from '../pki/certificate.js';
import {
  concatBytes,
  DER_NULL,
  encodeOid,
  encodeSmallInteger,
  encodeUnsignedInteger,
  encodeTlv,
  sortSetOf,
  TAG_OCTET_STRING,
  TAG_SEQUENCE,
  TAG_SET,
} from '../pki/der.js';
import { parsePe, type PeImage } from './pe.js';
import { authenticodeDigest } from './authenticode.js';
import {
  OID_CONTENT_TYPE,
  OID_ECDSA_WITH_SHA256,
  OID_MESSAGE_DIGEST,
  OID_RSA_ENCRYPTION,
  OID_SHA256,
  OID_SIGNED_DATA,
  OID_SIGNING_TIME,
  OID_SMIME_CAPABILITIES,
  OID_SPC_INDIRECT_DATA,
  OID_SPC_PE_IMAGE_DATA,
} from '../pki/oids.js';

/** WIN_CERTIFICATE revision 2.0 and type WIN_CERT_TYPE_PKCS_SIGNED_DATA. */
export const WIN_CERT_REVISION = 0x0200;
export const WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002;

/** The public-key algorithm of the signing key. */
export type AuthenticodeKeyAlgorithm = 'rsa' | 'ecdsa';

const align8 = (n: number): number => (n + 7) & ~7;

const sha256AlgorithmId = (): Uint8Array => encodeTlv(TAG_SEQUENCE, encodeOid(OID_SHA256), DER_NULL);

/** The image as sbsign hashes and writes it, and its Authenticode SHA-256 digest. */
export interface PreparedPeImage {
  /** Headers and sections up to the certificate table, zero-padded to a multiple of 8 (a new array). */
  readonly body: Uint8Array;
  /** The certificate entries already present (each padded to 8), exactly as they are in the input. */
  readonly existingEntries: Uint8Array;
  readonly pe: PeImage;
  /** Authenticode SHA-256 of `body` (what the SpcIndirectDataContent carries). */
  readonly digest: Uint8Array;
}

/**
 * Reads and checks the image and lays it out as sbsign does before signing: the data up to
 * the certificate table (or the end of the file), zero-padded to 8; existing entries kept.
 * @throws FormatError (parsePe's codes), E_FORMAT when the certificate table is not at the end of the file.
 */
export function preparePeImage(data: Uint8Array, file: string): PreparedPeImage {
  const pe = parsePe(data, file);
  const ndirs = new ByteReader(data, { file, format: 'pe', littleEndian: true }).u32(pe.certDirOffset - 36);
  if (ndirs < 5)
    throw new FormatError('E_FORMAT', {
      file,
      offset: pe.certDirOffset - 36,
      format: 'pe',
      detail: `NumberOfRvaAndSizes is ${ndirs}: the image has no certificate table directory`,
    });
  let end = data.length;
  let existingEntries = new Uint8Array(0);
  if (pe.certTable) {
    if (pe.certTable.offset + pe.certTable.size !== data.length || pe.certTable.offset % 8 !== 0)
      throw new FormatError('E_FORMAT', {
        file,
        offset: pe.certDirOffset,
        format: 'pe',
        detail:
          `certificate table (0x${pe.certTable.offset.toString(16)}, ${pe.certTable.size} bytes) ` +
          'is not 8-aligned at the end of the file',
      });
    end = pe.certTable.offset;
    existingEntries = data.slice(pe.certTable.offset, data.length);
  }
  if (end < pe.sizeOfHeaders)
    throw new FormatError('E_TRUNCATED', {
      file,
      offset: end,
      format: 'pe',
      detail: `the image ends before SizeOfHeaders (${pe.sizeOfHeaders})`,
    });
  for (const s of pe.sections) if (s.sizeOfRawData > 0) end = Math.max(end, s.pointerToRawData + s.sizeOfRawData);
  const body = new Uint8Array(align8(end));
  body.set(data.subarray(0, Math.min(end, data.length)));
  return { body, existingEntries, pe, digest: authenticodeDigest(body, { ...pe, certTable: undefined }) };
}

/** "<<<Obsolete>>>" in UTF-16BE, sbsign's SpcLink file name. */
function obsoleteLink(): Uint8Array {
  const s = '<<<Obsolete>>>';
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) out[2 * i + 1] = s.charCodeAt(i);
  return out;
}

/** SpcIndirectDataContent (the whole SEQUENCE) for a SHA-256 image digest, as sbsign's IDC_set writes it. */
export function encodeSpcIndirectDataContent(digest: Uint8Array): Uint8Array {
  if (digest.length !== 32) throw new RangeError(`SHA-256 digest expected, got ${digest.length} bytes`);
  const peImageData = encodeTlv(
    TAG_SEQUENCE,
    Uint8Array.of(0x03, 0x01, 0x00), // flags: empty BIT STRING
    encodeTlv(0xa0, encodeTlv(0xa2, encodeTlv(0x80, obsoleteLink()))),
  );
  return encodeTlv(
    TAG_SEQUENCE,
    encodeTlv(TAG_SEQUENCE, encodeOid(OID_SPC_PE_IMAGE_DATA), peImageData),
    encodeTlv(TAG_SEQUENCE, sha256AlgorithmId(), encodeTlv(TAG_OCTET_STRING, digest)),
  );
}

/**
 * signingTime as OpenSSL 3's PKCS7 code writes it: the text ASN1_TIME_set makes (YYMMDDHHMMSSZ
 * for 1950–2049, YYYYMMDDHHMMSSZ otherwise) always under the UTCTime tag (PKCS7_add0_attrib_signing_time
 * adds it as V_ASN1_UTCTIME whatever the form; checked against sbsign under faketime in 2051).
 */
function encodeTime(t: Date): Uint8Array {
  if (!Number.isFinite(t.getTime())) throw new RangeError('invalid signing time');
  const y = t.getUTCFullYear();
  if (y < 0 || y > 9999) throw new RangeError(`signing time year ${y} is out of range`);
  const digits = t.toISOString().slice(0, 19).replace(/[-T:]/g, '');
  return encodeTlv(0x17, new TextEncoder().encode((y >= 1950 && y < 2050 ? digits.slice(2) : digits) + 'Z'));
}

/** SMIMECapabilities as OpenSSL 3's PKCS7_sign_add_signer adds them (every cipher of a default build). */
function smimeCapabilities(): Uint8Array {
  const cap = (oid: string, bits?: number): Uint8Array =>
    bits === undefined
      ? encodeTlv(TAG_SEQUENCE, encodeOid(oid))
      : encodeTlv(TAG_SEQUENCE, encodeOid(oid), encodeUnsignedInteger(Uint8Array.of(bits)));
  return encodeTlv(
    TAG_SEQUENCE,
    cap('2.16.840.1.101.3.4.1.42'), // aes-256-cbc
    cap('2.16.840.1.101.3.4.1.22'), // aes-192-cbc
    cap('2.16.840.1.101.3.4.1.2'), // aes-128-cbc
    cap('1.2.840.113549.3.7'), // des-ede3-cbc
    cap('1.2.840.113549.3.2', 128), // rc2-cbc 128
    cap('1.2.840.113549.3.2', 64), // rc2-cbc 64
    cap('1.3.14.3.2.7'), // des-cbc
    cap('1.2.840.113549.3.2', 40), // rc2-cbc 40
  );
}

const attribute = (oid: string, value: Uint8Array): Uint8Array =>
  encodeTlv(TAG_SEQUENCE, encodeOid(oid), encodeTlv(TAG_SET, value));

/** The signed attributes, DER-sorted, each a SEQUENCE { OID, SET { value } }. */
function signedAttributeList(idc: Uint8Array, signingTime: Date): Uint8Array[] {
  // messageDigest covers the SpcIndirectDataContent's contents, without its own tag and length (IDC_set)
  const header = idc[1]! < 0x80 ? 2 : 2 + (idc[1]! & 0x7f);
  const md = new Uint8Array(createHash('sha256').update(idc.subarray(header)).digest());
  return sortSetOf([
    attribute(OID_CONTENT_TYPE, encodeOid(OID_SPC_INDIRECT_DATA)),
    attribute(OID_SIGNING_TIME, encodeTime(signingTime)),
    attribute(OID_MESSAGE_DIGEST, encodeTlv(TAG_OCTET_STRING, md)),
    attribute(OID_SMIME_CAPABILITIES, smimeCapabilities()),
  ]);
}

/** What the key signs (SHA-256 with RSA PKCS#1 v1.5 or ECDSA): the DER of the signed attributes as a SET. */
export function authenticodeSignedAttributes(digest: Uint8Array, signingTime: Date): Uint8Array {
  return encodeTlv(TAG_SET, ...signedAttributeList(encodeSpcIndirectDataContent(digest), signingTime));
}

/** The inputs of one Authenticode signature. */
export interface AuthenticodeSignatureInput {
  /** The image's Authenticode SHA-256 digest ({@link preparePeImage}). */
  readonly digest: Uint8Array;
  readonly signer: ParsedCertificate;
  /** Further certificates to carry after the signer's (sbsign --addcert), in this order. */
  readonly extraCertificates?: readonly Uint8Array[];
  readonly signingTime: Date;
  readonly keyAlgorithm: AuthenticodeKeyAlgorithm;
  /** The signature over {@link authenticodeSignedAttributes}. */
  readonly signature: Uint8Array;
}

/** The PKCS#7 ContentInfo (DER) sbsign writes for these inputs (its `--detached` output). */
export function encodeAuthenticodeSignedData(input: AuthenticodeSignatureInput): Uint8Array {
  const idc = encodeSpcIndirectDataContent(input.digest);
  const attrs = signedAttributeList(idc, input.signingTime);
  const signerInfo = encodeTlv(
    TAG_SEQUENCE,
    encodeSmallInteger(1),
    encodeTlv(TAG_SEQUENCE, input.signer.issuerDer, input.signer.serialDer),
    sha256AlgorithmId(),
    encodeTlv(0xa0, ...attrs),
    input.keyAlgorithm === 'rsa'
      ? encodeTlv(TAG_SEQUENCE, encodeOid(OID_RSA_ENCRYPTION), DER_NULL)
      : encodeTlv(TAG_SEQUENCE, encodeOid(OID_ECDSA_WITH_SHA256)),
    encodeTlv(TAG_OCTET_STRING, input.signature),
  );
  const signedData = encodeTlv(
    TAG_SEQUENCE,
    encodeSmallInteger(1),
    encodeTlv(TAG_SET, sha256AlgorithmId()),
    encodeTlv(TAG_SEQUENCE, encodeOid(OID_SPC_INDIRECT_DATA), encodeTlv(0xa0, idc)),
    encodeTlv(0xa0, input.signer.der, ...(input.extraCertificates ?? [])),
    encodeTlv(TAG_SET, signerInfo),
  );
  return encodeTlv(TAG_SEQUENCE, encodeOid(OID_SIGNED_DATA), encodeTlv(0xa0, signedData));
}

/** One WIN_CERTIFICATE entry: dwLength excludes the zero padding to 8 (as sbsign writes it). */
export function encodeWinCertificate(pkcs7: Uint8Array): Uint8Array {
  const out = new Uint8Array(align8(8 + pkcs7.length));
  const w = new ByteWriter(out, { file: '<signature>', format: 'pe', littleEndian: true });
  w.setU32(0, 8 + pkcs7.length, 'dwLength');
  w.setU32(4, WIN_CERT_REVISION | (WIN_CERT_TYPE_PKCS_SIGNED_DATA << 16), 'wRevision, wCertificateType');
  out.set(pkcs7, 8);
  return out;
}

function csumFold(sum: number, bytes: Uint8Array): number {
  let i = 0;
  for (; i + 2 <= bytes.length; i += 2) {
    sum += bytes[i]! | (bytes[i + 1]! << 8);
    sum = (sum >>> 16) + (sum & 0xffff);
  }
  if (i < bytes.length) {
    sum += bytes[i]!;
    sum = (sum >>> 16) + (sum & 0xffff);
  }
  return sum;
}

/**
 * The image with `table` as its certificate table: `body`, then the table, with DataDirectory[4]
 * and CheckSum set as sbsign/sbattach's image_write() sets them ({0, 0} for an empty table).
 * A new array; `prepared` is not modified.
 */
export function withCertificateTable(prepared: PreparedPeImage, table: Uint8Array): Uint8Array {
  const out = new Uint8Array(prepared.body.length + table.length);
  out.set(prepared.body, 0);
  out.set(table, prepared.body.length);
  const w = new ByteWriter(out, { file: '<image>', format: 'pe', littleEndian: true });
  w.setU32(prepared.pe.certDirOffset, table.length ? prepared.body.length : 0, 'certificate table offset');
  w.setU32(prepared.pe.certDirOffset + 4, table.length, 'certificate table size');
  w.setU32(prepared.pe.checksumOffset, 0, 'CheckSum');
  // image_pecoff_update_checksum: one's-complement 16-bit sum of the data, then of the table, plus the length
  let sum = csumFold(0, out.subarray(0, prepared.body.length));
  sum = csumFold(sum, table);
  w.setU32(prepared.pe.checksumOffset, (sum + out.length) >>> 0, 'CheckSum');
  return out;
}

/**
 * The signed image: `body` with DataDirectory[4] and CheckSum set, then the existing entries
 * and the new one. A new array; `prepared` is not modified.
 */
export function attachAuthenticodeSignature(prepared: PreparedPeImage, pkcs7: Uint8Array): Uint8Array {
  return withCertificateTable(prepared, concatBytes([prepared.existingEntries, encodeWinCertificate(pkcs7)]));
}
