/**
 * Would EDK2 accept a signed PE image, given trusted (db) certificates? Every WIN_CERTIFICATE
 * entry is judged on its own: the signed digest against the image's Authenticode digest, the
 * signed attributes' messageDigest against the SpcIndirectDataContent, the signer's signature
 * over the signed attributes, and whether the signer's certificate or any certificate it
 * chains to (through the certificates carried in the signature) is one of the trusted ones.
 *
 * Authority: tianocore/edk2 DxeImageVerificationLib.c (DxeImageVerificationHandler,
 * IsAllowedByDb), CryptoPkg BaseCryptLib Pk/CryptAuthenticode.c (AuthenticodeVerify) and
 * Pk/CryptPkcs7VerifyCommon.c (Pkcs7Verify: X509_V_FLAG_PARTIAL_CHAIN, no time or purpose
 * checks; the signer found by issuer and serial among the carried certificates).
 * dbx, dbt and timestamps are not judged here.
 */
import crypto from 'node:crypto';
import { ByteReader, toHex } from '../bytes/reader.js';
import {
  bytesEqual,
  parseCertificate,
  verifyCertificateSignature,
  type ParsedCertificate,
} from '../pki/certificate.js';
import { expectTlv, tlvContents, TAG_OCTET_STRING } from '../pki/der.js';
import { decodePkcs7 } from '../pki/pkcs7.js';
import { formatName } from '../modsig/signature.js';
import { imageDigester, readPeSignatures, type AuthenticodeSignature } from './authenticode.js';
import { parsePe } from './pe.js';
import { OID_MESSAGE_DIGEST } from '../pki/oids.js';

const MAX_CHAIN = 8;
const NODE_HASH: Record<string, string> = { sha1: 'sha1', sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

/** Why a signature is not accepted, or 'accepted'. */
export type EfiSignatureVerdict = 'accepted' | 'digest-mismatch' | 'bad-signature' | 'untrusted-signer';

/** One signature of an image and its verdict. */
export interface EfiSignatureCheck {
  readonly signature: AuthenticodeSignature;
  /** Subject, issuer and serial (hex) of the signer's certificate, when it is carried. */
  readonly signer: { readonly subject: string; readonly issuer: string; readonly serial: string } | undefined;
  /** The signer's signature over its signed attributes verifies, and messageDigest matches the content. */
  readonly signatureValid: boolean;
  /** Subject of the trusted certificate the signer chains to, when one does. */
  readonly trustedBy: string | undefined;
  readonly verdict: EfiSignatureVerdict;
}

/** The verdict on an image: accepted when any signature is. */
export interface EfiVerifyResult {
  readonly checks: readonly EfiSignatureCheck[];
  /** The image's Authenticode SHA-256 (hex). */
  readonly imageDigest: string;
  readonly accepted: boolean;
  /** The reason when not accepted: no signature, or the first signature's reason. */
  readonly reason: 'no-signature' | Exclude<EfiSignatureVerdict, 'accepted'> | undefined;
}

function publicKey(cert: ParsedCertificate): crypto.KeyObject | undefined {
  try {
    return crypto.createPublicKey({ key: Buffer.from(cert.spki), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

/** The trusted certificate `cert` chains to through `pool`, partial chains allowed (EDK2), or undefined. */
function chainToTrusted(
  cert: ParsedCertificate,
  pool: readonly ParsedCertificate[],
  trusted: readonly ParsedCertificate[],
): ParsedCertificate | undefined {
  let current = cert;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const hit = trusted.find((t) => bytesEqual(t.der, current.der));
    if (hit) return hit;
    const signedBy = (c: ParsedCertificate): boolean => {
      if (!bytesEqual(c.subjectDer, current.issuerDer)) return false;
      const key = publicKey(c);
      return key !== undefined && verifyCertificateSignature(current, key);
    };
    const byTrusted = trusted.find(signedBy);
    if (byTrusted) return byTrusted;
    if (current.selfIssued) return undefined;
    const next = pool.find((c) => c !== current && signedBy(c));
    if (!next) return undefined;
    current = next;
  }
  return undefined;
}

/**
 * Judges every Authenticode signature of `data` against `trusted` certificates (DER).
 * @throws FormatError for a malformed PE image or PKCS#7.
 */
export function verifyPeSignatures(data: Uint8Array, file: string, trusted: readonly Uint8Array[]): EfiVerifyResult {
  const pe = parsePe(data, file);
  const imageDigest = imageDigester(data, pe);
  const read = readPeSignatures(data, file, pe, imageDigest);
  const trustedCerts = trusted.map((d, i) => parseCertificate(d, { file: `<trusted certificate ${i + 1}>` }));
  const entries = pe.certificates.filter((e) => e.type === 2);
  const checks: EfiSignatureCheck[] = read.signatures.map((signature, i) => {
    const entry = entries[i]!;
    const msg = decodePkcs7(entry.data, file, entry.offset + 8);
    const certs = msg.certificates.flatMap((c): ParsedCertificate[] => (c.ok ? [c.certificate] : []));
    const first = msg.signers[0];
    const cert = first?.issuerSerialId ? certs.find((c) => bytesEqual(c.id, first.issuerSerialId!)) : undefined;
    let signatureValid = false;
    if (first && cert && first.signedAttrs && msg.signers.length === 1) {
      const e = msg.signedData.encapContentInfo.eContent;
      const raw = e?.single ? new Uint8Array(e.single.buffer) : e?.any ? new Uint8Array(e.any) : undefined;
      const hash = NODE_HASH[first.info.digestAlgorithm.algorithm === '2.16.840.1.101.3.4.2.1' ? 'sha256' : ''];
      const md = first.info.signedAttrs?.find((a) => a.attrType === OID_MESSAGE_DIGEST)?.attrValues[0];
      if (raw && hash && md) {
        const r = new ByteReader(raw, { file, format: 'authenticode' });
        const idc = expectTlv(r, 0, 0x30, 'SpcIndirectDataContent');
        const contentDigest = crypto.createHash(hash).update(raw.subarray(idc.contentStart, idc.contentEnd)).digest();
        const mdBytes = new Uint8Array(md);
        const mr = new ByteReader(mdBytes, { file, format: 'authenticode' });
        const signed = tlvContents(mr, expectTlv(mr, 0, TAG_OCTET_STRING, 'messageDigest'));
        const attrs = Uint8Array.from(first.signedAttrs);
        attrs[0] = 0x31; // the signature covers the attributes as a SET
        const key = publicKey(cert);
        try {
          signatureValid =
            bytesEqual(signed, contentDigest) && key !== undefined && crypto.verify(hash, attrs, key, first.signature);
        } catch {
          signatureValid = false;
        }
      }
    }
    const trustedBy = cert && signatureValid ? chainToTrusted(cert, certs, trustedCerts) : undefined;
    const verdict: EfiSignatureVerdict = !signature.digestMatches
      ? 'digest-mismatch'
      : !signatureValid
        ? 'bad-signature'
        : !trustedBy
          ? 'untrusted-signer'
          : 'accepted';
    return {
      signature,
      signer: cert
        ? {
            subject: formatName(cert.decoded.tbsCertificate.subject),
            issuer: formatName(cert.decoded.tbsCertificate.issuer),
            serial: toHex(cert.serial),
          }
        : undefined,
      signatureValid,
      trustedBy: trustedBy ? formatName(trustedBy.decoded.tbsCertificate.subject) : undefined,
      verdict,
    };
  });
  const accepted = checks.some((c) => c.verdict === 'accepted');
  const firstBad = checks.find((c) => c.verdict !== 'accepted');
  return {
    checks,
    imageDigest: imageDigest('sha256'),
    accepted,
    reason: accepted
      ? undefined
      : checks.length === 0
        ? 'no-signature'
        : (firstBad!.verdict as EfiVerifyResult['reason']),
  };
}
