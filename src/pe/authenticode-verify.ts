/**
 * Would EDK2 firmware run a PE image, given its db and dbx? The image's certificate table is
 * walked as `DxeImageVerificationHandler()` walks it, and each WIN_CERTIFICATE entry is judged in
 * its order: the image digest with the entry's algorithm (`HashPeImageByType()`), forbidden by
 * dbx (`IsForbiddenByDbx()`: the signature verifies against a dbx certificate, the signer's
 * certificate cannot be found, or a signer certificate's TBSCertificate hash is in dbx), allowed
 * by db (`IsAllowedByDb()`: the first db certificate the signature verifies against, unless that
 * certificate's TBS hash is in dbx), then the image digest in dbx (refused) or db (allowed). An
 * unsigned image runs only when its SHA-256 digest is in db and not in dbx.
 *
 * The image runs when some entry is allowed, no entry is forbidden, and the entries fill the
 * table exactly. Verification is `AuthenticodeVerify()`: the last bytes of SpcIndirectDataContent
 * are the image digest, and PKCS7_verify with the one db/dbx certificate as the trust store,
 * partial chains allowed, no time or purpose checks, certificates found only among those the
 * signature carries; issuers must be CAs (OpenSSL check_ca).
 *
 * As Debian's OVMF (edk2 2022.11) behaves: only RSA keys verify (an ECDSA signer or issuer never
 * does), SHA-1/256/384/512 image digests, the image hashed as the file is (no padding to 8 bytes).
 * dbt (timestamps) is not read: a certificate whose TBS hash is in dbx is refused whatever its
 * revocation time, as EDK2 does when no dbt timestamp clears it.
 *
 * Authority: tianocore/edk2 SecurityPkg/Library/DxeImageVerificationLib/DxeImageVerificationLib.c
 * (HashPeImage, HashPeImageByType, IsCertHashFoundInDbx, IsSignatureFoundInDatabase,
 * PassTimestampCheck, IsForbiddenByDbx, IsAllowedByDb, DxeImageVerificationHandler); CryptoPkg
 * BaseCryptLib Pk/CryptAuthenticode.c (AuthenticodeVerify), Pk/CryptPkcs7VerifyCommon.c
 * (Pkcs7Verify, Pkcs7GetSigners).
 */
import crypto from 'node:crypto';
import { ByteReader, toHex } from '../bytes/reader.js';
import { FormatError } from '../bytes/errors.js';
import {
  bytesEqual,
  parseCertificate,
  verifyCertificateSignature,
  type ParsedCertificate,
} from '../pki/certificate.js';
import { expectTlv, readTlv, tlvContents, TAG_OCTET_STRING } from '../pki/der.js';
import type { Pkcs7Message } from '../pki/pkcs7.js';
import { formatName } from '../modsig/signature.js';
import { authenticodeSignatureOf, decodeAuthenticodePkcs7, type AuthenticodeSignature } from './authenticode.js';
import { parsePe, type PeImage } from './pe.js';
import { OID_MESSAGE_DIGEST, OID_SPC_INDIRECT_DATA } from '../pki/oids.js';
import {
  EFI_CERT_TYPE_PKCS7_GUID,
  formatEfiTime,
  guidAt,
  isTimeZero,
  efiTimeAt,
  x509SignatureList,
  type EfiSignatureList,
} from './signature-list.js';

const MAX_CHAIN = 8;
const OID_KEY_USAGE = '2.5.29.15';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';

/** The image digest algorithms of EDK2's mHash table, in its order, with the OID value bytes it looks for at byte 32. */
const EDK2_HASHES = [
  { name: 'sha1', oid: [0x2b, 0x0e, 0x03, 0x02, 0x1a] },
  { name: 'sha224', oid: [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04] },
  { name: 'sha256', oid: [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01] },
  { name: 'sha384', oid: [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02] },
  { name: 'sha512', oid: [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03] },
] as const;
/** SHA-224 is in the table but HashPeImage() has no case for it. */
const EDK2_IMAGE_HASHES = new Set(['sha1', 'sha256', 'sha384', 'sha512']);
const SIGNER_DIGESTS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '1.2.840.113549.2.5': 'md5',
};

/**
 * Why an entry is refused, skipped or forbidden, or how it is allowed.
 * - `accepted`: verifies against a db certificate; `allowed-by-digest`: the image digest is in db
 * - skipped by the firmware: `unsupported-digest`, `unhashable-image`
 * - forbidding the whole image: `signer-in-dbx`, `image-in-dbx`, and (only when dbx exists)
 *   `signer-not-carried` and `malformed-signature`
 * - not allowed: `digest-mismatch`, `bad-signature`, `unsupported-key`, `untrusted-signer`,
 *   `db-certificate-in-dbx`, and `signer-not-carried`, `malformed-signature` without dbx
 */
export type EfiSignatureVerdict =
  | 'accepted'
  | 'allowed-by-digest'
  | 'digest-mismatch'
  | 'bad-signature'
  | 'untrusted-signer'
  | 'unsupported-key'
  | 'signer-not-carried'
  | 'malformed-signature'
  | 'db-certificate-in-dbx'
  | 'signer-in-dbx'
  | 'image-in-dbx'
  | 'unsupported-digest'
  | 'unhashable-image';

/** One signature (WIN_CERTIFICATE entry) of an image and its verdict. */
export interface EfiSignatureCheck {
  /** What the entry carries (offset = the WIN_CERTIFICATE entry's); digestMatches as EDK2 compares. */
  readonly signature: AuthenticodeSignature;
  /** WIN_CERTIFICATE wCertificateType: 0x0002 (PKCS_SIGNED_DATA) or 0x0EF1 (EFI_GUID, PKCS7). */
  readonly certificateType: number;
  /** Subject, issuer and serial (hex) of the signer's certificate, when it is carried. */
  readonly signer: { readonly subject: string; readonly issuer: string; readonly serial: string } | undefined;
  /** The key type of the signer's certificate ('rsa', 'ecdsa', an OID), when carried. */
  readonly signerKey: string | undefined;
  /** Every signer's signature over its signed attributes (or the content) verifies, and messageDigest matches. */
  readonly signatureValid: boolean;
  /** Subject of the db certificate the signature verifies against, when one does. */
  readonly trustedBy: string | undefined;
  /** The dbx or db entry behind the verdict (a certificate, a TBS hash, a digest), in words. */
  readonly match: string | undefined;
  /** Why the signature could not be read, for `malformed-signature`. */
  readonly problem: string | undefined;
  /** This entry makes EDK2 refuse the image whatever the other entries say. */
  readonly forbidden: boolean;
  readonly verdict: EfiSignatureVerdict;
}

/** Image-level verdicts: the entry verdicts plus those of an image without a usable entry. */
export type EfiImageVerdict = EfiSignatureVerdict | 'no-signature' | 'bad-certificate-table';

/** The verdict on an image. */
export interface EfiVerifyResult {
  readonly checks: readonly EfiSignatureCheck[];
  /** The image's Authenticode SHA-256 as EDK2 computes it (hex); undefined when EDK2 cannot hash it. */
  readonly imageDigest: string | undefined;
  readonly accepted: boolean;
  /** `accepted` (a signature verifies against db), `allowed-by-digest`, or why the image is refused. */
  readonly verdict: EfiImageVerdict;
  /** The reason when refused (= verdict), undefined when accepted. */
  readonly reason: Exclude<EfiImageVerdict, 'accepted' | 'allowed-by-digest'> | undefined;
  /** The certificate table's entries do not fill it exactly (EDK2 then refuses). */
  readonly tableMalformed: boolean;
  /** Things a user should know that do not change the verdict. */
  readonly notes: readonly string[];
}

/** db and dbx, as lists (in the order EDK2 would read them). dbx undefined: the variable does not exist. */
export interface EfiSecurityDatabases {
  readonly db: readonly EfiSignatureList[];
  readonly dbx: readonly EfiSignatureList[] | undefined;
}

interface Anchor {
  readonly cert: ParsedCertificate;
  readonly subject: string;
}

/** db/dbx prepared once: certificates parsed, hashes by kind. */
interface PreparedDb {
  readonly certs: readonly Anchor[];
  readonly hashes: ReadonlyMap<string, readonly Uint8Array[]>;
  readonly certHashes: readonly CertHash[];
}

/** A dbx EFI_CERT_X509_SHA* entry: the TBSCertificate hash and its revocation time. */
interface CertHash {
  readonly kind: string;
  readonly hash: Uint8Array;
  readonly time: string;
  /** TimeOfRevocation is zero: revoked whatever the timestamp. */
  readonly always: boolean;
}

function prepare(lists: readonly EfiSignatureList[], file: string): PreparedDb {
  const certs: Anchor[] = [];
  const hashes = new Map<string, Uint8Array[]>();
  const certHashes: CertHash[] = [];
  for (const l of lists) {
    for (const s of l.signatures) {
      if (l.kind === 'x509') {
        const cert = parseCertificate(s.data, { file, offset: s.offset + 16 });
        certs.push({ cert, subject: formatName(cert.decoded.tbsCertificate.subject) });
      } else if (l.kind === 'x509-sha256' || l.kind === 'x509-sha384' || l.kind === 'x509-sha512') {
        const n = s.data.length - 16;
        const t = efiTimeAt(new ByteReader(s.data, { file, format: 'efi-signature-list', base: s.offset + 16 }), n);
        certHashes.push({
          kind: l.kind.slice(5),
          hash: s.data.subarray(0, n),
          time: formatEfiTime(t),
          always: isTimeZero(t),
        });
      } else if (l.kind !== 'unknown') {
        let a = hashes.get(l.kind);
        if (!a) hashes.set(l.kind, (a = []));
        a.push(s.data);
      }
    }
  }
  return { certs, hashes, certHashes };
}

function hashIn(db: PreparedDb, alg: string, digest: Uint8Array): boolean {
  return (db.hashes.get(alg) ?? []).some((h) => bytesEqual(h, digest));
}

/** Why a certificate is revoked, in words. */
function revoked(e: CertHash): string {
  return `${e.kind} TBS hash in dbx (revoked ${e.always ? 'always' : `from ${e.time}`})`;
}

/** The dbx X509_SHA* entry holding this certificate's TBSCertificate hash (IsCertHashFoundInDbx), first found. */
function certHashInDbx(cert: ParsedCertificate, dbx: PreparedDb): CertHash | undefined {
  return dbx.certHashes.find((e) => bytesEqual(e.hash, crypto.createHash(e.kind).update(cert.tbs).digest()));
}

/**
 * The image digest as EDK2's HashPeImage() computes it: headers without CheckSum (and the
 * certificate directory when NumberOfRvaAndSizes > 4), sections with raw data sorted by
 * PointerToRawData (stable), then [SizeOfHeaders + Σ SizeOfRawData, FileSize − certificate table
 * size). Undefined where HashPeImage() fails (the file is shorter than that sum plus the table).
 */
export function edk2ImageDigest(data: Uint8Array, pe: PeImage, alg: string, file = '<image>'): Uint8Array | undefined {
  const r = new ByteReader(data, { file, format: 'pe' });
  const ndirs = r.u32(pe.checksumOffset + (pe.pe32plus ? 44 : 28), 'NumberOfRvaAndSizes');
  const soh = pe.sizeOfHeaders;
  const h = crypto.createHash(alg);
  const part = (start: number, end: number): boolean => {
    if (end < start || end > data.length) return false;
    h.update(data.subarray(start, end));
    return true;
  };
  if (!part(0, pe.checksumOffset)) return undefined;
  if (ndirs <= 4) {
    if (!part(pe.checksumOffset + 4, soh)) return undefined;
  } else if (!part(pe.checksumOffset + 4, pe.certDirOffset) || !part(pe.certDirOffset + 8, soh)) return undefined;
  let sum = soh;
  const sorted = [...pe.sections].sort((a, b) => a.pointerToRawData - b.pointerToRawData); // stable, as EDK2's
  for (const s of sorted) {
    if (s.sizeOfRawData === 0) continue;
    if (!part(s.pointerToRawData, s.pointerToRawData + s.sizeOfRawData)) return undefined;
    sum += s.sizeOfRawData;
  }
  if (data.length > sum) {
    const certSize = ndirs <= 4 ? 0 : r.u32(pe.certDirOffset + 4, 'certificate table size');
    if (data.length > certSize + sum) part(sum, data.length - certSize);
    else if (data.length < certSize + sum) return undefined;
  }
  return new Uint8Array(h.digest());
}

/** HashPeImageByType(): the digest algorithm named at byte 32 of the PKCS#7, when its length is in the `82` form. */
function edk2HashAlgorithm(auth: Uint8Array): { alg: string | undefined; why: string } {
  if (auth.length < 2 || (auth[1]! & 0x82) !== 0x82)
    return { alg: undefined, why: 'its length is not in the two-byte form EDK2 requires' };
  for (const hash of EDK2_HASHES) {
    if (auth.length < 32 + hash.oid.length)
      return { alg: undefined, why: 'too short for a digest algorithm at byte 32' };
    if (hash.oid.every((b, i) => auth[32 + i] === b))
      return EDK2_IMAGE_HASHES.has(hash.name)
        ? { alg: hash.name, why: '' }
        : { alg: undefined, why: `EDK2 does not hash images with ${hash.name}` };
  }
  return { alg: undefined, why: 'no digest algorithm EDK2 knows at byte 32' };
}

function publicKey(cert: ParsedCertificate): crypto.KeyObject | undefined {
  try {
    return crypto.createPublicKey({ key: Buffer.from(cert.spki), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

/**
 * OpenSSL 1.1.1's check_chain_extensions() over X509_check_ca(): may this certificate issue
 * others? keyUsage, when present, must allow keyCertSign; then basicConstraints decides, else a v1
 * self-signed root or a keyUsage extension will do, but not for an intermediate (`strict`), which
 * must say CA:TRUE ("X509_V_FLAG_X509_STRICT is implicit for intermediate CAs").
 */
function canIssue(cert: ParsedCertificate, strict: boolean): boolean {
  const exts = cert.decoded.tbsCertificate.extensions ?? [];
  const ku = exts.find((e) => e.extnID === OID_KEY_USAGE);
  if (ku) {
    const v = new Uint8Array(ku.extnValue.buffer);
    // BIT STRING: 03 len unused first-byte...; keyCertSign is bit 5 (0x04 of the first byte)
    if (v.length < 4 || !(v[3]! & 0x04)) return false;
  }
  if (exts.some((e) => e.extnID === OID_BASIC_CONSTRAINTS)) return cert.isCA;
  if (strict) return false;
  if (cert.decoded.tbsCertificate.version === 0 && cert.selfIssued) return true;
  return ku !== undefined;
}

/** Whether `issuer` signed `cert` with a key this firmware can use (RSA only) and may issue certificates. */
function issued(issuer: ParsedCertificate, cert: ParsedCertificate, strict: boolean): boolean {
  if (!bytesEqual(issuer.subjectDer, cert.issuerDer) || issuer.keyAlgorithm !== 'rsa' || !canIssue(issuer, strict))
    return false;
  const key = publicKey(issuer);
  return key !== undefined && verifyCertificateSignature(cert, key);
}

/**
 * Whether `cert` chains to `anchor` through `pool` (the carried certificates), partial chains
 * allowed: the anchor may be `cert` itself, its issuer, or any issuer above it.
 */
function chainsTo(cert: ParsedCertificate, pool: readonly ParsedCertificate[], anchor: ParsedCertificate): boolean {
  let current = cert;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    if (bytesEqual(anchor.der, current.der)) return true;
    if (issued(anchor, current, false)) return true;
    if (current.selfIssued) return false;
    // a carried certificate below the anchor is an intermediate (strict), unless it is the anchor itself
    const next = pool.find(
      (c) => c !== current && !bytesEqual(c.der, current.der) && issued(c, current, !bytesEqual(c.der, anchor.der)),
    );
    if (!next) return false;
    current = next;
  }
  return false;
}

/** What one signature entry is, independent of db and dbx. */
interface EntryFacts {
  readonly signature: AuthenticodeSignature | undefined;
  readonly problem: string | undefined;
  /** Pkcs7GetSigners() succeeds: it decodes and every SignerInfo's certificate is carried. */
  readonly signersFound: boolean;
  readonly signerCerts: readonly ParsedCertificate[];
  readonly pool: readonly ParsedCertificate[];
  /** The last bytes of SpcIndirectDataContent are the image digest. */
  readonly tailMatches: boolean;
  /** Every signer's signature verifies (node:crypto, any key type). */
  readonly signaturesValid: boolean;
  /** ... and every signer key is RSA (what the firmware can verify). */
  readonly firmwareVerifies: boolean;
}

function signerDigest(oid: string): string | undefined {
  return SIGNER_DIGESTS[oid];
}

function entryFacts(
  auth: Uint8Array,
  file: string,
  base: number,
  entryOffset: number,
  digest: Uint8Array | undefined,
  digester: (alg: string) => string,
): EntryFacts {
  const none = (problem: string | undefined, signature?: AuthenticodeSignature): EntryFacts => ({
    signature,
    problem,
    signersFound: false,
    signerCerts: [],
    pool: [],
    tailMatches: false,
    signaturesValid: false,
    firmwareVerifies: false,
  });
  let signature: AuthenticodeSignature;
  let msg: Pkcs7Message;
  try {
    msg = decodeAuthenticodePkcs7(auth, file, base);
    signature = { ...authenticodeSignatureOf(msg, file, base, digester), offset: entryOffset };
  } catch (e) {
    if (e instanceof FormatError) return none(e.message);
    throw e;
  }
  const pool = msg.certificates.flatMap((c): ParsedCertificate[] => (c.ok ? [c.certificate] : []));
  const e = msg.signedData.encapContentInfo.eContent;
  const raw = e?.single ? new Uint8Array(e.single.buffer) : e?.any ? new Uint8Array(e.any) : undefined;
  if (!raw || msg.signedData.encapContentInfo.eContentType !== OID_SPC_INDIRECT_DATA)
    return none('no SpcIndirectDataContent', signature);
  // AuthenticodeVerify(): the content length from SpcIndirectDataContent's own header, the digest at its end
  const r = new ByteReader(raw, { file, format: 'authenticode', base });
  let content: Uint8Array;
  try {
    const idc = readTlv(r, 0);
    content = raw.subarray(idc.contentStart, idc.contentEnd);
  } catch (err) {
    if (err instanceof FormatError) return none(err.message, signature);
    throw err;
  }
  const tailMatches =
    digest !== undefined &&
    content.length >= digest.length &&
    bytesEqual(content.subarray(content.length - digest.length), digest);
  const signerCerts: ParsedCertificate[] = [];
  let signaturesValid = msg.signers.length > 0;
  let rsa = true;
  for (const s of msg.signers) {
    const cert = s.issuerSerialId ? pool.find((c) => bytesEqual(c.id, s.issuerSerialId!)) : undefined;
    if (!cert) {
      signaturesValid = false;
      continue;
    }
    signerCerts.push(cert);
    if (cert.keyAlgorithm !== 'rsa') rsa = false;
    const hash = signerDigest(s.info.digestAlgorithm.algorithm);
    const key = publicKey(cert);
    if (!hash || !key) {
      signaturesValid = false;
      continue;
    }
    try {
      if (s.signedAttrs) {
        const md = s.info.signedAttrs?.find((a) => a.attrType === OID_MESSAGE_DIGEST)?.attrValues[0];
        if (!md) {
          signaturesValid = false;
          continue;
        }
        const mr = new ByteReader(new Uint8Array(md), { file, format: 'authenticode', base });
        const signed = tlvContents(mr, expectTlv(mr, 0, TAG_OCTET_STRING, 'messageDigest'));
        const attrs = Uint8Array.from(s.signedAttrs);
        attrs[0] = 0x31; // the signature covers the attributes as a SET
        const ok =
          bytesEqual(signed, crypto.createHash(hash).update(content).digest()) &&
          crypto.verify(hash, attrs, key, s.signature);
        if (!ok) signaturesValid = false;
      } else if (!crypto.verify(hash, content, key, s.signature)) signaturesValid = false;
    } catch {
      signaturesValid = false;
    }
  }
  const signersFound = msg.signers.length > 0 && signerCerts.length === msg.signers.length;
  return {
    signature,
    problem: undefined,
    signersFound,
    signerCerts,
    pool,
    tailMatches,
    signaturesValid: signaturesValid && signersFound,
    firmwareVerifies: signaturesValid && signersFound && rsa,
  };
}

/** AuthenticodeVerify() with `anchor` as the one trusted certificate. */
function verifiesWith(f: EntryFacts, anchor: ParsedCertificate): boolean {
  return f.tailMatches && f.firmwareVerifies && f.signerCerts.every((c) => chainsTo(c, f.pool, anchor));
}

function describeSigner(cert: ParsedCertificate | undefined): EfiSignatureCheck['signer'] {
  return cert
    ? {
        subject: formatName(cert.decoded.tbsCertificate.subject),
        issuer: formatName(cert.decoded.tbsCertificate.issuer),
        serial: toHex(cert.serial),
      }
    : undefined;
}

/** One entry judged against db and dbx, in DxeImageVerificationHandler()'s order. */
function judgeEntry(
  f: EntryFacts,
  alg: string,
  digest: Uint8Array,
  db: PreparedDb,
  dbx: PreparedDb | undefined,
): Pick<EfiSignatureCheck, 'verdict' | 'forbidden' | 'trustedBy' | 'match'> {
  const forbid = (verdict: EfiSignatureVerdict, match?: string): ReturnType<typeof judgeEntry> => ({
    verdict,
    forbidden: true,
    trustedBy: undefined,
    match,
  });
  // IsForbiddenByDbx()
  if (dbx) {
    const byCert = dbx.certs.find((a) => verifiesWith(f, a.cert));
    if (byCert) return forbid('signer-in-dbx', `dbx certificate ${byCert.subject}`);
    if (!f.signersFound) return forbid(f.signature ? 'signer-not-carried' : 'malformed-signature');
    for (const c of f.signerCerts) {
      const hit = certHashInDbx(c, dbx);
      if (hit) return forbid('signer-in-dbx', `${formatName(c.decoded.tbsCertificate.subject)}: ${revoked(hit)}`);
    }
  }
  // IsAllowedByDb(): the first db certificate the signature verifies against decides
  const anchor = db.certs.find((a) => verifiesWith(f, a.cert));
  const anchorRevoked = anchor && dbx ? certHashInDbx(anchor.cert, dbx) : undefined;
  // the image digest in dbx, then in db
  if (dbx && hashIn(dbx, alg, digest)) return forbid('image-in-dbx', `dbx ${alg} ${toHex(digest)}`);
  if (anchor && !anchorRevoked)
    return {
      verdict: 'accepted',
      forbidden: false,
      trustedBy: anchor.subject,
      match: `db certificate ${anchor.subject}`,
    };
  if (hashIn(db, alg, digest))
    return {
      verdict: 'allowed-by-digest',
      forbidden: false,
      trustedBy: undefined,
      match: `db ${alg} ${toHex(digest)}`,
    };
  const verdict: EfiSignatureVerdict = !f.signature
    ? 'malformed-signature'
    : !f.tailMatches
      ? 'digest-mismatch'
      : !f.signersFound
        ? 'signer-not-carried'
        : !f.signaturesValid
          ? 'bad-signature'
          : !f.firmwareVerifies
            ? 'unsupported-key'
            : anchorRevoked
              ? 'db-certificate-in-dbx'
              : 'untrusted-signer';
  return {
    verdict,
    forbidden: false,
    trustedBy: undefined,
    match: anchorRevoked ? `db certificate ${anchor!.subject}: ${revoked(anchorRevoked)}` : undefined,
  };
}

/**
 * Judges a PE image as EDK2 would with this db and dbx.
 * @throws FormatError for a malformed PE image (headers, sections, a certificate table outside the file)
 *         or an unreadable certificate in db/dbx
 */
export function verifyPeImage(
  data: Uint8Array,
  file: string,
  databases: EfiSecurityDatabases,
  databaseFile = '<db>',
): EfiVerifyResult {
  const pe = parsePe(data, file);
  const db = prepare(databases.db, databaseFile);
  const dbx = databases.dbx ? prepare(databases.dbx, databaseFile) : undefined;
  const digests = new Map<string, Uint8Array | undefined>();
  const digestOf = (alg: string): Uint8Array | undefined => {
    if (!digests.has(alg)) digests.set(alg, edk2ImageDigest(data, pe, alg, file));
    return digests.get(alg);
  };
  const digester = (alg: string): string => {
    const d = EDK2_IMAGE_HASHES.has(alg) ? digestOf(alg) : undefined;
    return d ? toHex(d) : '';
  };
  const sha256 = digestOf('sha256');
  const imageDigest = sha256 ? toHex(sha256) : undefined;
  const notes: string[] = [];
  for (const [name, p] of [
    ['db', db],
    ['dbx', dbx],
  ] as const)
    for (const a of p?.certs ?? [])
      if (a.cert.keyAlgorithm !== 'rsa')
        notes.push(
          `${name} certificate ${a.subject}: its key is ${a.cert.keyAlgorithm}, not RSA, and EDK2 enrolls only RSA certificates`,
        );
  const refused = (
    reason: NonNullable<EfiVerifyResult['reason']>,
    checks: EfiSignatureCheck[] = [],
  ): EfiVerifyResult => ({
    checks,
    imageDigest,
    accepted: false,
    verdict: reason,
    reason,
    tableMalformed: false,
    notes,
  });

  if (!pe.certTable) {
    // An unsigned image: its SHA-256, as the file is, in dbx refuses and in db allows.
    if (!sha256) return refused('unhashable-image');
    if (dbx && hashIn(dbx, 'sha256', sha256)) return refused('image-in-dbx');
    if (hashIn(db, 'sha256', sha256))
      return {
        checks: [],
        imageDigest,
        accepted: true,
        verdict: 'allowed-by-digest',
        reason: undefined,
        tableMalformed: false,
        notes,
      };
    if (data.length % 8 !== 0) {
      const padded = new Uint8Array(data.length + 8 - (data.length % 8));
      padded.set(data);
      const p = edk2ImageDigest(padded, parsePe(padded, file), 'sha256', file);
      if (p && hashIn(db, 'sha256', p))
        notes.push(
          `db holds ${toHex(p)}, the digest of this image zero-padded to 8 bytes (as sbsign and hash-to-efi-sig-list hash it); ` +
            'EDK2 hashes the file as it is',
        );
    }
    return refused('no-signature');
  }

  // DxeImageVerificationHandler()'s walk of the certificate table
  const r = new ByteReader(data, { file, format: 'pe' });
  const end = pe.certTable.offset + pe.certTable.size;
  const checks: EfiSignatureCheck[] = [];
  let forbidden: EfiSignatureCheck | undefined;
  let off = pe.certTable.offset;
  for (; off < end;) {
    const left = end - off;
    if (left <= 8) break;
    const len = r.u32(off, 'dwLength');
    const pad = len % 8 ? 8 - (len % 8) : 0;
    if (left < len || left - len < pad) break;
    const type = r.u16(off + 6, 'wCertificateType');
    let authStart: number;
    if (type === 0x0002) {
      if (len <= 8) break;
      authStart = off + 8;
    } else if (type === 0x0ef1) {
      if (len <= 24) break;
      if (guidAt(r, off + 8, 'CertType') !== EFI_CERT_TYPE_PKCS7_GUID) {
        off += len + pad;
        continue;
      }
      authStart = off + 24;
    } else {
      if (len < 8) break;
      off += len + pad;
      continue;
    }
    const auth = data.subarray(authStart, off + len);
    const { alg, why } = edk2HashAlgorithm(auth);
    const digest = alg ? digestOf(alg) : undefined;
    const f = entryFacts(auth, file, authStart, off, digest, digester);
    const sig: AuthenticodeSignature = f.signature
      ? { ...f.signature, digestMatches: f.tailMatches }
      : {
          offset: off,
          signers: [],
          certificates: [],
          signedDigest: '',
          digestAlgorithm: alg ?? '',
          imageDigest: digest ? toHex(digest) : '',
          digestMatches: false,
        };
    const base = {
      signature: sig,
      certificateType: type,
      signer: describeSigner(f.signerCerts[0]),
      signerKey: f.signerCerts[0]?.keyAlgorithm,
      signatureValid: f.signaturesValid,
      problem: f.problem,
    };
    let check: EfiSignatureCheck;
    if (!alg || !digest)
      check = {
        ...base,
        verdict: alg ? 'unhashable-image' : 'unsupported-digest',
        forbidden: false,
        trustedBy: undefined,
        match: undefined,
        problem: base.problem ?? (alg ? 'EDK2 cannot hash this image (its sections and table overrun the file)' : why),
      };
    else check = { ...base, ...judgeEntry(f, alg, digest, db, dbx) };
    checks.push(check);
    if (check.forbidden && !forbidden) forbidden = check;
    off += len + pad;
  }
  const tableMalformed = off !== end;
  if (forbidden)
    return { ...refused(forbidden.verdict as NonNullable<EfiVerifyResult['reason']>, checks), tableMalformed };
  if (tableMalformed) return { ...refused('bad-certificate-table', checks), tableMalformed };
  const byCert = checks.some((c) => c.verdict === 'accepted');
  const byDigest = checks.some((c) => c.verdict === 'allowed-by-digest');
  if (byCert || byDigest)
    return {
      checks,
      imageDigest,
      accepted: true,
      verdict: byCert ? 'accepted' : 'allowed-by-digest',
      reason: undefined,
      tableMalformed,
      notes,
    };
  // the first entry the firmware judged, else the first it skipped
  const first = checks.find((c) => c.verdict !== 'unsupported-digest' && c.verdict !== 'unhashable-image') ?? checks[0];
  return refused(first ? (first.verdict as NonNullable<EfiVerifyResult['reason']>) : 'no-signature', checks);
}

/**
 * Judges every Authenticode signature of `data` with `trusted` certificates (DER) as db and no dbx.
 * @throws FormatError for a malformed PE image or certificate.
 */
export function verifyPeSignatures(data: Uint8Array, file: string, trusted: readonly Uint8Array[]): EfiVerifyResult {
  const db: EfiSignatureList[] = trusted.map(x509SignatureList);
  return verifyPeImage(data, file, { db, dbx: undefined }, '<trusted certificate>');
}
