/**
 * The signing interface every key source implements (node:crypto key, PKCS#11 token, ...).
 * Pure code in `src/sign/` decides *what* to sign (a digest of the module) and assembles the
 * bytes; a {@link Signer} only turns a digest into a signature value.
 *
 * Signature values are the ones a module PKCS#7 carries (crypto/asymmetric_keys/public_key.c):
 *   RSA:   PKCS#1 v1.5 type-1 block over DER DigestInfo{hash OID, digest}   (RFC 8017 §9.2)
 *   ECDSA: DER SEQUENCE { r INTEGER, s INTEGER }  ("x962" encoding)          (RFC 5480 / SEC 1)
 */
import { concatBytes, encodeTlv, encodeUnsignedInteger, TAG_SEQUENCE } from '../pki/der.js';

/** Digest algorithms a module signature can name (the kernel's pkcs7 parser and sign-file's). */
export type HashAlgorithm = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha1', 'sha224', 'sha256', 'sha384', 'sha512'];

export function isHashAlgorithm(s: string): s is HashAlgorithm {
  return (HASH_ALGORITHMS as readonly string[]).includes(s);
}

/** Digest OIDs (RFC 3279 / RFC 5758 / NIST). */
export const HASH_OID: Record<HashAlgorithm, string> = {
  sha1: '1.3.14.3.2.26',
  sha224: '2.16.840.1.101.3.4.2.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
};

export const HASH_LENGTH: Record<HashAlgorithm, number> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

/**
 * DER DigestInfo prefixes (RFC 8017 §9.2 note 1): SEQUENCE { AlgorithmIdentifier {OID, NULL},
 * OCTET STRING (digest) } up to the digest octets.
 */
const DIGEST_INFO_PREFIX: Record<HashAlgorithm, string> = {
  sha1: '3021300906052b0e03021a05000414',
  sha224: '302d300d06096086480165030402040500041c',
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

/** The DER DigestInfo an RSA PKCS#1 v1.5 signature wraps. New array. */
export function encodeDigestInfo(hash: HashAlgorithm, digest: Uint8Array): Uint8Array {
  if (digest.length !== HASH_LENGTH[hash])
    throw new RangeError(`${hash} digest must be ${HASH_LENGTH[hash]} bytes, got ${digest.length}`);
  return concatBytes([Buffer.from(DIGEST_INFO_PREFIX[hash], 'hex'), digest]);
}

/** The public-key algorithm of a signer: RSA (PKCS#1 v1.5) or ECDSA. */
export type SignerAlgorithm = 'rsa' | 'ecdsa';

/** A key that can sign a precomputed digest, plus the X.509 certificate that names it. */
export interface Signer {
  readonly algorithm: SignerAlgorithm;
  /** The signer's X.509 certificate, DER. */
  readonly certificate: Uint8Array;
  /**
   * Length of every signature value when it is fixed (RSA: the modulus size in bytes), which
   * lets callers reuse a PKCS#7 template. Undefined for ECDSA (DER r,s vary in length).
   */
  readonly signatureLength?: number;
  /**
   * What makes the signatures, for diagnostics: 'libcrypto' (the system OpenSSL through
   * native/crypto.c), 'node' (node:crypto), 'pkcs11' (a token).
   */
  readonly backend?: 'libcrypto' | 'node' | 'pkcs11';
  /**
   * Signs `digest` (already hashed with `hash`): RSA PKCS#1 v1.5 over the DigestInfo, or an
   * ECDSA signature in DER. Returns a new array.
   */
  sign(hash: HashAlgorithm, digest: Uint8Array): Promise<Uint8Array> | Uint8Array;
  /**
   * Signs `content` itself (the implementation hashes it with `hash`). Preferred over `sign`
   * when present: node:crypto keys sign this way (it cannot sign an ECDSA digest); an HSM
   * signs digests, so large content never crosses PKCS#11.
   */
  signContent?(hash: HashAlgorithm, content: Uint8Array): Promise<Uint8Array> | Uint8Array;
  /** Releases sessions or handles held by the signer (no-op for in-memory keys). */
  close?(): void | Promise<void>;
}

/**
 * An ECDSA signature from the fixed-width r‖s form PKCS#11 CKM_ECDSA and WebCrypto return
 * (IEEE P1363) to the DER SEQUENCE { r, s } CMS needs.
 */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  if (raw.length === 0 || raw.length % 2 !== 0)
    throw new RangeError(`raw ECDSA signature has odd length ${raw.length}`);
  const half = raw.length / 2;
  return encodeTlv(
    TAG_SEQUENCE,
    encodeUnsignedInteger(raw.subarray(0, half)),
    encodeUnsignedInteger(raw.subarray(half)),
  );
}
