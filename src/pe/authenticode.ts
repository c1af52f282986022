/**
 * Authenticode signatures of a PE image, read-only: who signed it, with which certificates,
 * and whether the signed digest matches the image.
 * Authority: Authenticode_PE.docx (SpcIndirectDataContent, SPC_PE_IMAGE_DATA); RFC 5652.
 */
import { createHash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ContentInfo, SignedData } from '@peculiar/asn1-cms';
import { Certificate } from '@peculiar/asn1-x509';
import { ByteReader, toHex } from '../bytes/reader.js';
import { FormatError } from '../bytes/errors.js';
import { digestName, formatName } from '../modsig/signature.js';
import { authenticodeRanges, findSbat, parsePe, type PeImage } from './pe.js';

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_SPC_INDIRECT_DATA = '1.3.6.1.4.1.311.2.1.4';
const NODE_HASH: Record<string, string> = { sha1: 'sha1', sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

export interface AuthenticodeSigner {
  readonly issuer: string;
  readonly serial: string;
  /** Subject of the signer's certificate, when the PKCS#7 carries it. */
  readonly subject: string | undefined;
  readonly digestAlgorithm: string;
}

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

export interface PeSignatures {
  readonly signatures: readonly AuthenticodeSignature[];
  readonly sbat: string | undefined;
  readonly checksum: number;
}

/** A DER TLV at `off`: tag, content offset, content length. */
function tlv(r: ByteReader, off: number): { tag: number; content: number; length: number; end: number } {
  const tag = r.u8(off, 'DER tag');
  let len = r.u8(off + 1, 'DER length');
  let content = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw r.error('E_ASN1', off + 1, `unsupported DER length of ${n} bytes`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + r.u8(off + 2 + i);
    content += n;
  }
  r.need(content, len, 'DER value');
  return { tag, content, length: len, end: content + len };
}

/**
 * The digest inside SpcIndirectDataContent ::= SEQUENCE { data SpcAttributeTypeAndOptionalValue,
 * messageDigest DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier, digest OCTET STRING } }.
 */
function indirectDigest(r: ByteReader): { algorithm: string; digest: Uint8Array } {
  const seq = tlv(r, 0);
  const data = tlv(r, seq.content);
  const digestInfo = tlv(r, data.end);
  const algId = tlv(r, digestInfo.content);
  const oid = tlv(r, algId.content);
  const octets = tlv(r, algId.end);
  if (seq.tag !== 0x30 || digestInfo.tag !== 0x30 || oid.tag !== 0x06 || octets.tag !== 0x04) throw r.error('E_ASN1', 0, 'SpcIndirectDataContent is not SEQUENCE { data, DigestInfo }');
  return { algorithm: decodeOid(r.bytes(oid.content, oid.length)), digest: r.bytes(octets.content, octets.length) };
}

function decodeOid(b: Uint8Array): string {
  const parts: number[] = [];
  let v = 0;
  for (const x of b) {
    v = v * 128 + (x & 0x7f);
    if (!(x & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  const first = parts.shift() ?? 0;
  return [first < 80 ? Math.floor(first / 40) : 2, first < 80 ? first % 40 : first - 80, ...parts].join('.');
}

/**
 * Reads every Authenticode signature of a PE image and checks each signed digest against the
 * image. Signature *trust* (chains to a db key) is not judged here.
 * @throws FormatError for malformed PE headers or PKCS#7.
 */
export function readPeSignatures(data: Uint8Array, file: string, pe: PeImage = parsePe(data, file)): PeSignatures {
  const digests = new Map<string, string>();
  const imageDigest = (alg: string): string => {
    let d = digests.get(alg);
    if (!d) {
      const h = createHash(NODE_HASH[alg] ?? alg);
      for (const range of authenticodeRanges(data, pe)) h.update(range);
      digests.set(alg, (d = h.digest('hex')));
    }
    return d;
  };
  const signatures: AuthenticodeSignature[] = [];
  for (const entry of pe.certificates) {
    if (entry.type !== 2) continue;
    const bad = (detail: string, cause?: unknown): FormatError => new FormatError('E_ASN1', { file, offset: entry.offset + 8, format: 'authenticode', detail, cause });
    let sd: SignedData;
    try {
      const ci = AsnConvert.parse(entry.data, ContentInfo);
      if (ci.contentType !== OID_SIGNED_DATA) throw bad(`content type ${ci.contentType} is not signedData`);
      sd = AsnConvert.parse(ci.content, SignedData);
    } catch (e) {
      if (e instanceof FormatError) throw e;
      throw bad(`PKCS#7 does not decode: ${(e as Error).message}`, e);
    }
    if (sd.encapContentInfo.eContentType !== OID_SPC_INDIRECT_DATA) throw bad(`content is ${sd.encapContentInfo.eContentType}, not SpcIndirectDataContent`);
    const e = sd.encapContentInfo.eContent;
    const raw = e?.single ? new Uint8Array(e.single.buffer) : e?.any ? new Uint8Array(e.any) : undefined;
    if (!raw) throw bad('SpcIndirectDataContent is missing');
    const { algorithm, digest } = indirectDigest(new ByteReader(raw, { file, format: 'authenticode', base: entry.offset + 8 }));
    const certs = (sd.certificates ?? []).map((c) => c.certificate).filter((c): c is Certificate => c !== undefined);
    const signers: AuthenticodeSigner[] = sd.signerInfos.map((si) => {
      const ias = si.sid.issuerAndSerialNumber;
      const serial = ias ? toHex(new Uint8Array(ias.serialNumber)).replace(/^(00)+(?=.)/, '') : '';
      const cert = ias ? certs.find((c) => formatName(c.tbsCertificate.issuer) === formatName(ias.issuer) && toHex(new Uint8Array(c.tbsCertificate.serialNumber)).replace(/^(00)+(?=.)/, '') === serial) : undefined;
      return { issuer: ias ? formatName(ias.issuer) : '', serial, subject: cert ? formatName(cert.tbsCertificate.subject) : undefined, digestAlgorithm: digestName(si.digestAlgorithm.algorithm) };
    });
    const alg = digestName(algorithm);
    const now = imageDigest(alg);
    signatures.push({
      offset: entry.offset,
      signers,
      certificates: certs.map((c) => formatName(c.tbsCertificate.subject)),
      signedDigest: toHex(digest),
      digestAlgorithm: alg,
      imageDigest: now,
      digestMatches: now === toHex(digest),
    });
  }
  return { signatures, sbat: findSbat(data, pe), checksum: pe.checksum };
}
