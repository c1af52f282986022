/**
 * Authenticode signatures of a PE image, read-only: who signed it, with which certificates,
 * and whether the signed digest matches the image.
 * Authority: Authenticode_PE.docx (SpcIndirectDataContent, SPC_PE_IMAGE_DATA); RFC 5652.
 */
import { createHash } from 'node:crypto';
import { ByteReader, toHex } from '../bytes/reader.js';
import { FormatError } from '../bytes/errors.js';
import { bytesEqual, type ParsedCertificate } from '../pki/certificate.js';
import {
  decodeOid,
  expectTlv,
  readChildren,
  tlvContents,
  TAG_OCTET_STRING,
  TAG_OID,
  TAG_SEQUENCE,
} from '../pki/der.js';
import { decodePkcs7, Pkcs7DecodeError, type Pkcs7Message } from '../pki/pkcs7.js';
import { digestName, formatName } from '../modsig/signature.js';
import { authenticodeRanges, findSbat, parsePe, type PeImage } from './pe.js';
import { OID_SPC_INDIRECT_DATA } from '../pki/oids.js';

const NODE_HASH: Record<string, string> = { sha1: 'sha1', sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

/** One SignerInfo of an Authenticode signature. */
export interface AuthenticodeSigner {
  readonly issuer: string;
  readonly serial: string;
  /** Subject of the signer's certificate, when the PKCS#7 carries it. */
  readonly subject: string | undefined;
  readonly digestAlgorithm: string;
}

/** One WIN_CERTIFICATE entry of a PE image. */
export interface AuthenticodeSignature {
  /** Offset of the WIN_CERTIFICATE entry. */
  readonly offset: number;
  readonly signers: readonly AuthenticodeSigner[];
  /** Subjects of every certificate carried in the signature. */
  readonly certificates: readonly string[];
  /** Digest the signature covers (from SpcIndirectDataContent), lowercase hex. */
  readonly signedDigest: string;
  readonly digestAlgorithm: string;
  /** The Authenticode digest of the image as it is now. */
  readonly imageDigest: string;
  readonly digestMatches: boolean;
}

/** Authenticode signatures, SBAT and checksum of a PE/EFI kernel image (read, never verified against a trust store). */
export interface PeSignatures {
  readonly signatures: readonly AuthenticodeSignature[];
  readonly sbat: string | undefined;
  readonly checksum: number;
}

/**
 * The digest inside SpcIndirectDataContent ::= SEQUENCE { data SpcAttributeTypeAndOptionalValue,
 * messageDigest DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier, digest OCTET STRING } }.
 */
function indirectDigest(r: ByteReader): { algorithm: string; digest: Uint8Array } {
  const seq = expectTlv(r, 0, TAG_SEQUENCE, 'SpcIndirectDataContent');
  const digestInfo = readChildren(r, seq)[1];
  if (!digestInfo || digestInfo.tag !== TAG_SEQUENCE) {
    throw r.error('E_ASN1', seq.contentStart, 'SpcIndirectDataContent is not SEQUENCE { data, DigestInfo }');
  }
  const algId = expectTlv(
    r,
    digestInfo.contentStart,
    TAG_SEQUENCE,
    'DigestInfo.digestAlgorithm',
    digestInfo.contentEnd,
  );
  const oid = expectTlv(r, algId.contentStart, TAG_OID, 'digestAlgorithm OID', algId.contentEnd);
  const octets = expectTlv(r, algId.end, TAG_OCTET_STRING, 'DigestInfo.digest', digestInfo.contentEnd);
  return { algorithm: decodeOid(tlvContents(r, oid)), digest: tlvContents(r, octets) };
}

/** The Authenticode digest of an image (the ranges of {@link authenticodeRanges}) with `alg`. */
export function authenticodeDigest(data: Uint8Array, pe: PeImage, alg = 'sha256'): Uint8Array {
  const h = createHash(NODE_HASH[alg] ?? alg);
  for (const range of authenticodeRanges(data, pe)) h.update(range);
  return new Uint8Array(h.digest());
}

/** {@link authenticodeDigest} in hex, each algorithm's computed once: for callers that need it more than once. */
export function imageDigester(data: Uint8Array, pe: PeImage): (alg: string) => string {
  const digests = new Map<string, string>();
  return (alg) => {
    let d = digests.get(alg);
    if (!d) digests.set(alg, (d = toHex(authenticodeDigest(data, pe, alg))));
    return d;
  };
}

/**
 * One Authenticode signature (the PKCS#7 SignedData at byte `base` of `file`: in a WIN_CERTIFICATE
 * entry, 8 bytes after the entry's offset, or a detached signature file at 0), its signers and
 * carried certificates, and its signed digest against the image's.
 * @throws FormatError E_ASN1 when it is not an Authenticode SignedData.
 */
export function decodeAuthenticodeSignature(
  pkcs7: Uint8Array,
  file: string,
  base: number,
  imageDigest: (alg: string) => string,
): AuthenticodeSignature {
  return authenticodeSignatureOf(decodeAuthenticodePkcs7(pkcs7, file, base), file, base, imageDigest);
}

/**
 * The PKCS#7 of an Authenticode signature at byte `base` of `file`, decoded once for every reader.
 * @throws FormatError E_ASN1 when it does not decode or is not SignedData.
 */
export function decodeAuthenticodePkcs7(pkcs7: Uint8Array, file: string, base: number): Pkcs7Message {
  try {
    return decodePkcs7(pkcs7, file, base);
  } catch (e) {
    if (!(e instanceof Pkcs7DecodeError)) throw e;
    throw e.stage === 'content-type'
      ? authenticodeError(file, base, `content type ${e.reason} is not signedData`)
      : authenticodeError(file, base, `PKCS#7 does not decode: ${e.reason}`, e);
  }
}

function authenticodeError(file: string, base: number, detail: string, cause?: unknown): FormatError {
  return new FormatError('E_ASN1', { file, offset: base, format: 'authenticode', detail, cause });
}

/**
 * {@link decodeAuthenticodeSignature} of an already decoded PKCS#7.
 * @throws FormatError E_ASN1 when its content is not an SpcIndirectDataContent.
 */
export function authenticodeSignatureOf(
  msg: Pkcs7Message,
  file: string,
  base: number,
  imageDigest: (alg: string) => string,
): AuthenticodeSignature {
  const bad = (detail: string, cause?: unknown): FormatError => authenticodeError(file, base, detail, cause);
  const sd = msg.signedData;
  if (sd.encapContentInfo.eContentType !== OID_SPC_INDIRECT_DATA)
    throw bad(`content is ${sd.encapContentInfo.eContentType}, not SpcIndirectDataContent`);
  const e = sd.encapContentInfo.eContent;
  const raw = e?.single ? new Uint8Array(e.single.buffer) : e?.any ? new Uint8Array(e.any) : undefined;
  if (!raw) throw bad('SpcIndirectDataContent is missing');
  const { algorithm, digest } = indirectDigest(new ByteReader(raw, { file, format: 'authenticode', base }));
  const certs = msg.certificates.flatMap((c): ParsedCertificate[] => (c.ok ? [c.certificate] : []));
  const signers: AuthenticodeSigner[] = msg.signers.map(({ info: si, issuerSerialId }) => {
    const ias = si.sid.issuerAndSerialNumber;
    const serial = ias ? toHex(new Uint8Array(ias.serialNumber)).replace(/^(00)+(?=.)/, '') : '';
    // The signer's certificate: the same issuer and serial bytes (pkcs7_find_key)
    const cert = issuerSerialId ? certs.find((c) => bytesEqual(c.id, issuerSerialId)) : undefined;
    return {
      issuer: ias ? formatName(ias.issuer) : '',
      serial,
      subject: cert ? formatName(cert.decoded.tbsCertificate.subject) : undefined,
      digestAlgorithm: digestName(si.digestAlgorithm.algorithm),
    };
  });
  const alg = digestName(algorithm);
  const now = imageDigest(alg);
  return {
    offset: base - 8,
    signers,
    certificates: certs.map((c) => formatName(c.decoded.tbsCertificate.subject)),
    signedDigest: toHex(digest),
    digestAlgorithm: alg,
    imageDigest: now,
    digestMatches: now === toHex(digest),
  };
}

/**
 * Reads every Authenticode signature of a PE image and checks each signed digest against the
 * image. Signature *trust* (chains to a db key) is not judged here.
 * @throws FormatError for malformed PE headers or PKCS#7.
 */
export function readPeSignatures(
  data: Uint8Array,
  file: string,
  pe: PeImage = parsePe(data, file),
  imageDigest: (alg: string) => string = imageDigester(data, pe),
): PeSignatures {
  const signatures: AuthenticodeSignature[] = [];
  for (const entry of pe.certificates)
    if (entry.type === 2) signatures.push(decodeAuthenticodeSignature(entry.data, file, entry.offset + 8, imageDigest));
  return { signatures, sbat: findSbat(data, pe), checksum: pe.checksum };
}
