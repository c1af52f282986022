/**
 * The kernel's module signature verdict, step by step as kernel/module/signing.c,
 * crypto/asymmetric_keys/pkcs7_{parser,verify,trust}.c and public_key.c decide it (6.1/6.12),
 * given the certificates in the kernel's trusted keyrings.
 *
 * Result codes are the kernel's: 0, ENODATA (unsigned), ENOPKG (unsupported crypto),
 * ENOKEY (no trusted key), EKEYREJECTED, EBADMSG, EINVAL. §1.6's mapping to load outcomes
 * lives in check.ts.
 */
import crypto from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ContentInfo, SignedData, type SignerInfo } from '@peculiar/asn1-cms';
import { Certificate, AuthorityKeyIdentifier, SubjectKeyIdentifier, id_ce_authorityKeyIdentifier, id_ce_subjectKeyIdentifier } from '@peculiar/asn1-x509';
import type { KernelSeries } from '../btf/validate.js';
import type { TrailerFacts } from './module-facts.js';
import { derTlv } from '../bytes/der.js';
import { nativeEcVerifier } from '../keys/native-crypto.js';

export type SigResult = 'OK' | 'ENODATA' | 'ENOPKG' | 'ENOKEY' | 'EKEYREJECTED' | 'EBADMSG' | 'EINVAL';

export interface SignatureVerdict {
  readonly result: SigResult;
  /** Lines the kernel logs while deciding (not the enforcement message). */
  readonly log: readonly string[];
  /** What decided it, for people. */
  readonly detail: string;
  /** The trusted certificate that vouched for the signature (its kernel name), when OK. */
  readonly trustedBy?: string;
  /** That certificate. */
  readonly trustedKey?: KeyCert;
  /** The digest the (first) signer names, once the PKCS#7 parsed. */
  readonly hash?: string;
}

/** One certificate as the kernel's X.509 parser keys it. */
export interface KeyCert {
  readonly der: Uint8Array;
  /** issuer+serial id: raw serial content ‖ raw issuer Name content (x509_cert_parse: cert->id). */
  readonly id: string;
  readonly skid: string | undefined;
  /** AKID as the kernel keeps it: auth_ids[0] (issuer+serial) and auth_ids[1] (keyIdentifier). */
  readonly authIds: readonly [string | undefined, string | undefined];
  readonly selfSigned: boolean;
  readonly key: crypto.KeyObject | undefined;
  readonly keyAlgo: 'rsa' | 'ecdsa' | 'other';
  /**
   * ECDSA verification through the newer OpenSSL the signing addon opens (about twice as fast
   * as node's for P-384); undefined without it, or for a digest it leaves to node:crypto.
   */
  readonly nativeVerify?: (hash: string, content: Uint8Array, signature: Uint8Array) => boolean | undefined;
  readonly tbs: Uint8Array;
  readonly sigAlgOid: string;
  readonly sigValue: Uint8Array;
  readonly name: string;
}

const OID = {
  signedData: '1.2.840.113549.1.7.2',
  data: '1.2.840.113549.1.7.1',
  spcIndirect: '1.3.6.1.4.1.311.2.1.4',
  rsaEncryption: '1.2.840.113549.1.1.1',
  smimeCaps: '1.2.840.113549.1.9.15',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  spcSpOpusInfo: '1.3.6.1.4.1.311.2.1.12',
  spcStatementType: '1.3.6.1.4.1.311.2.1.11',
};
const DIGESTS_61: Record<string, string> = {
  '1.2.840.113549.2.4': 'md4', '1.2.840.113549.2.5': 'md5', '1.3.14.3.2.26': 'sha1', '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256', '2.16.840.1.101.3.4.2.2': 'sha384', '2.16.840.1.101.3.4.2.3': 'sha512', '1.2.156.10197.1.401': 'sm3',
};
const DIGESTS_612: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1', '2.16.840.1.101.3.4.2.4': 'sha224', '2.16.840.1.101.3.4.2.1': 'sha256', '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512', '1.2.156.10197.1.401': 'sm3', '2.16.840.1.101.3.4.2.8': 'sha3-256', '2.16.840.1.101.3.4.2.9': 'sha3-384', '2.16.840.1.101.3.4.2.10': 'sha3-512',
};
const ECDSA_SIG: Record<string, string> = {
  '1.2.840.10045.4.1': 'sha1', '1.2.840.10045.4.3.1': 'sha224', '1.2.840.10045.4.3.2': 'sha256', '1.2.840.10045.4.3.3': 'sha384', '1.2.840.10045.4.3.4': 'sha512',
};
const ECDSA_SIG_612: Record<string, string> = { '2.16.840.1.101.3.4.3.10': 'sha3-256', '2.16.840.1.101.3.4.3.11': 'sha3-384', '2.16.840.1.101.3.4.3.12': 'sha3-512' };
/** Certificate signature algorithms (x509_note_sig_algo) → hash and key type. */
const CERT_SIG: Record<string, [string, 'rsa' | 'ecdsa']> = {
  '1.2.840.113549.1.1.5': ['sha1', 'rsa'], '1.2.840.113549.1.1.14': ['sha224', 'rsa'], '1.2.840.113549.1.1.11': ['sha256', 'rsa'],
  '1.2.840.113549.1.1.12': ['sha384', 'rsa'], '1.2.840.113549.1.1.13': ['sha512', 'rsa'],
  '1.2.840.10045.4.1': ['sha1', 'ecdsa'], '1.2.840.10045.4.3.1': ['sha224', 'ecdsa'], '1.2.840.10045.4.3.2': ['sha256', 'ecdsa'],
  '1.2.840.10045.4.3.3': ['sha384', 'ecdsa'], '1.2.840.10045.4.3.4': ['sha512', 'ecdsa'],
};

const hex = (b: ArrayBuffer | Uint8Array): string => Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString('hex');


/** Curves x509_cert_parse() accepts per series (x509_extract_key_data()). */
const CURVES: Record<KernelSeries, readonly string[]> = { '6.1': ['prime192v1', 'prime256v1', 'secp384r1'], '6.12': ['prime192v1', 'prime256v1', 'secp384r1', 'secp521r1'] };

/**
 * Parses a certificate the way x509_cert_parse() keys it. With `series`, refuses what that
 * kernel cannot load into a keyring (an unsupported curve).
 * Throws on undecodable DER.
 */
export function keyCert(der: Uint8Array, name = '', series?: KernelSeries): KeyCert {
  const cert = AsnConvert.parse(der, Certificate);
  const tbsDer = new Uint8Array(AsnConvert.serialize(cert.tbsCertificate));
  const issuerContent = derTlv(new Uint8Array(AsnConvert.serialize(cert.tbsCertificate.issuer))).content;
  const subjectContent = derTlv(new Uint8Array(AsnConvert.serialize(cert.tbsCertificate.subject))).content;
  const serial = new Uint8Array(cert.tbsCertificate.serialNumber);
  const id = hex(serial) + hex(issuerContent);
  let skid: string | undefined;
  let authIds: [string | undefined, string | undefined] = [undefined, undefined];
  for (const ext of cert.tbsCertificate.extensions ?? []) {
    if (ext.extnID === id_ce_subjectKeyIdentifier) skid = hex(AsnConvert.parse(ext.extnValue, SubjectKeyIdentifier).buffer);
    if (ext.extnID === id_ce_authorityKeyIdentifier) {
      const akid = AsnConvert.parse(ext.extnValue, AuthorityKeyIdentifier);
      const kid = akid.keyIdentifier ? hex(akid.keyIdentifier.buffer) : undefined;
      let isser: string | undefined;
      if (akid.authorityCertIssuer && akid.authorityCertSerialNumber) {
        const dn = akid.authorityCertIssuer.find((g) => g.directoryName)?.directoryName;
        if (dn) isser = hex(new Uint8Array(akid.authorityCertSerialNumber)) + hex(derTlv(new Uint8Array(AsnConvert.serialize(dn))).content);
      }
      authIds = [isser, kid];
    }
  }
  const spki = new Uint8Array(AsnConvert.serialize(cert.tbsCertificate.subjectPublicKeyInfo));
  let key: crypto.KeyObject | undefined;
  try {
    key = crypto.createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    key = undefined;
  }
  const t = key?.asymmetricKeyType;
  const curve = key?.asymmetricKeyDetails?.namedCurve;
  if (series && t === 'ec' && !CURVES[series].includes(curve ?? '')) throw new Error(`curve ${curve ?? '?'} is not supported by ${series} kernels`);
  const selfSigned = hex(issuerContent) === hex(subjectContent) && (authIds[1] === undefined || authIds[1] === skid);
  const nativeVerify = t === 'ec' ? nativeEcVerifier(spki) : undefined;
  return {
    der, id, skid, authIds, selfSigned, key, keyAlgo: t === 'rsa' ? 'rsa' : t === 'ec' ? 'ecdsa' : 'other', tbs: tbsDer,
    sigAlgOid: cert.signatureAlgorithm.algorithm, sigValue: new Uint8Array(cert.signatureValue), name,
    ...(nativeVerify ? { nativeVerify } : {}),
  };
}

/** find_asymmetric_key(): any of the key's ids (issuer+serial, SKID) equal to any given id. */
function findKey(keys: readonly KeyCert[], ...ids: (string | undefined)[]): KeyCert | undefined {
  const want = ids.filter((x): x is string => x !== undefined);
  if (!want.length) return undefined;
  return keys.find((k) => want.includes(k.id) || (k.skid !== undefined && want.includes(k.skid)));
}

function verifyCertSig(cert: KeyCert, by: KeyCert): boolean {
  const alg = CERT_SIG[cert.sigAlgOid];
  if (!alg || !by.key || alg[1] !== by.keyAlgo) return false;
  try {
    return crypto.verify(alg[0], cert.tbs, by.key, cert.sigValue);
  } catch {
    return false;
  }
}

/** The issuer+serial id of an IssuerAndSerialNumber (raw serial content ‖ raw issuer Name content), once per decoded object. */
const issuerSerialIds = new WeakMap<object, string>();
function issuerSerialId(ias: NonNullable<SignerInfo['sid']['issuerAndSerialNumber']>): string {
  let id = issuerSerialIds.get(ias);
  if (id === undefined) {
    id = hex(new Uint8Array(ias.serialNumber)) + hex(derTlv(new Uint8Array(AsnConvert.serialize(ias.issuer))).content);
    issuerSerialIds.set(ias, id);
  }
  return id;
}

/*
 * Decoding a PKCS#7 (@peculiar/asn1-cms over asn1js) costs more than verifying it. The modules of
 * one build differ only in their signature values: the same signer, digest and layout. So a
 * successful decode is kept, keyed by every byte except the contents of each SignerInfo's
 * signature OCTET STRING (and where those lie), and a message with the same key reuses it with
 * its own signature bytes. That is exactly what decoding it would give:
 *  - the contents of a primitive, definite-length OCTET STRING are opaque to the schema: the
 *    decoder only copies them (SignerInfo.signature = valueHex); asn1js's attempt to read them as
 *    nested ASN.1 is discarded on failure and its result (valueBlock.value) is not read by the
 *    schema or by compareSchema for a primitive OCTET STRING;
 *  - that attempt shares asn1js's node budget (10,000 per decode), but every node starts at its
 *    own byte, so a message of at most 10,000 bytes never reaches it, whatever its contents
 *    (longer messages are not cached); the depth limit's error inside the attempt is discarded too;
 *  - the key holds every other byte, so the rest of the decode is the same.
 * Each cached decode was checked to map exactly those OCTET STRINGs to SignerInfo.signature.
 */
const MAX_CACHED_MESSAGE = 10_000;
const decodeCache = new Map<string, SignedData>();

/** A DER TLV at `at` inside [at, end): header length and content length; undefined unless definite and inside. */
function tlvAt(d: Uint8Array, at: number, end: number): { tag: number; start: number; end: number } | undefined {
  if (at + 2 > end) return undefined;
  const tag = d[at]!;
  if ((tag & 0x1f) === 0x1f) return undefined; // high tag numbers: not in this layout
  let len = d[at + 1]!;
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > end) return undefined; // indefinite, or absurd
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + d[p + i]!;
    p += n;
  }
  if (p + len > end) return undefined;
  return { tag, start: p, end: p + len };
}

/** The children of a constructed TLV's contents, which they must tile exactly. */
function children(d: Uint8Array, start: number, end: number): { tag: number; start: number; end: number; at: number }[] | undefined {
  const out: { tag: number; start: number; end: number; at: number }[] = [];
  for (let at = start; at < end; ) {
    const t = tlvAt(d, at, end);
    if (!t) return undefined;
    out.push({ ...t, at });
    at = t.end;
  }
  return out;
}

/**
 * Where each SignerInfo's signature contents lie: ContentInfo SEQUENCE { OID, [0] { SignedData
 * SEQUENCE { ..., SET OF SignerInfo } } }, each SignerInfo with exactly one primitive OCTET STRING
 * among its fields. Undefined for anything else (decoded the ordinary way).
 */
function signatureRanges(p7: Uint8Array): { start: number; end: number }[] | undefined {
  if (p7.length > MAX_CACHED_MESSAGE) return undefined;
  const ci = tlvAt(p7, 0, p7.length);
  if (!ci || ci.tag !== 0x30 || ci.end !== p7.length) return undefined;
  const top = children(p7, ci.start, ci.end);
  if (!top || top.length !== 2 || top[0]!.tag !== 0x06 || top[1]!.tag !== 0xa0) return undefined;
  const inner = children(p7, top[1]!.start, top[1]!.end);
  if (!inner || inner.length !== 1 || inner[0]!.tag !== 0x30) return undefined;
  const sdFields = children(p7, inner[0]!.start, inner[0]!.end);
  const set = sdFields?.[sdFields.length - 1];
  if (!set || set.tag !== 0x31) return undefined;
  const infos = children(p7, set.start, set.end);
  if (!infos || infos.length === 0) return undefined;
  const out: { start: number; end: number }[] = [];
  for (const si of infos) {
    if (si.tag !== 0x30) return undefined;
    const fields = children(p7, si.start, si.end);
    const octets = fields?.filter((f) => f.tag === 0x04);
    if (!octets || octets.length !== 1) return undefined;
    out.push({ start: octets[0]!.start, end: octets[0]!.end });
  }
  return out;
}

function cacheKey(p7: Uint8Array, ranges: readonly { start: number; end: number }[]): string {
  let key = ranges.map((r) => `${r.start}-${r.end}`).join(',') + ':';
  let at = 0;
  for (const r of ranges) {
    key += Buffer.from(p7.buffer, p7.byteOffset + at, r.start - at).toString('latin1');
    at = r.end;
  }
  return key + Buffer.from(p7.buffer, p7.byteOffset + at, p7.length - at).toString('latin1');
}

/** A decode reused from a message that differs only in its signature contents, with this message's signatures. */
function decodeCached(p7: Uint8Array): { sd: SignedData; sigs: Uint8Array[] } | undefined {
  if (decodeCache.size === 0) return undefined;
  const ranges = signatureRanges(p7);
  const sd = ranges && decodeCache.get(cacheKey(p7, ranges));
  if (!ranges || !sd) return undefined;
  return { sd, sigs: ranges.map((r) => p7.slice(r.start, r.end)) };
}

/** Keeps a successful signedData decode for messages that differ from this one only in signature contents. */
function remember(p7: Uint8Array, sd: SignedData): void {
  const ranges = signatureRanges(p7);
  if (!ranges || ranges.length !== sd.signerInfos.length) return;
  for (const [i, r] of ranges.entries()) {
    if (!Buffer.from(sd.signerInfos[i]!.signature.buffer).equals(p7.subarray(r.start, r.end))) return;
  }
  if (decodeCache.size >= 64) decodeCache.clear();
  decodeCache.set(cacheKey(p7, ranges), sd);
}

interface Signer {
  readonly info: SignerInfo;
  readonly version: number;
  /** auth_ids[0]: issuer+serial id (v1) or the SKID (v3). */
  readonly authId: string;
  readonly hash: string | undefined;
  readonly pkey: 'rsa' | 'ecdsa' | undefined;
  readonly sig: Uint8Array;
  cert?: KeyCert;
  unsupported?: boolean;
}

/**
 * The verdict of module_sig_check()'s signature step for decompressed module bytes.
 * `trusted`: certificates of the keyrings modules are checked against (builtin, secondary,
 * machine); Debian also retries `platform` on ENOKEY.
 */
export function kernelSignatureVerdict(
  data: Uint8Array,
  trailer: TrailerFacts,
  trusted: readonly KeyCert[],
  options: { series: KernelSeries; force?: boolean; platform?: readonly KeyCert[] },
): SignatureVerdict {
  const v = (result: SigResult, detail: string, log: string[] = []): SignatureVerdict => ({ result, detail, log });
  if (options.force) return v('ENODATA', 'forced load (modprobe --force): the signature is not looked at');
  if (!trailer.present) return v('ENODATA', 'unsigned: no "~Module signature appended~" trailer');
  if (trailer.check === 'EBADMSG') return v('EBADMSG', 'struct module_signature is malformed (sig_len or non-zero fields)', trailer.log ? [trailer.log] : []);
  if (trailer.check === 'ENOPKG') return v('ENOPKG', 'the signature is not PKCS#7 (id_type != 2)', trailer.log ? [trailer.log] : []);
  const content = data.subarray(0, trailer.contentLength);
  const p7 = data.subarray(trailer.sigOffset, trailer.sigOffset + trailer.sigLength);

  // pkcs7_parse_message()
  let sd: SignedData;
  let sigs: readonly Uint8Array[] | undefined;
  const cached = decodeCached(p7);
  if (cached) ({ sd, sigs } = cached);
  else {
    try {
      const ci = AsnConvert.parse(p7, ContentInfo);
      if (ci.contentType !== OID.signedData) return v('EINVAL', `PKCS#7 content type ${ci.contentType} is not signedData`);
      sd = AsnConvert.parse(ci.content, SignedData);
    } catch (e) {
      return v('EBADMSG', `the PKCS#7 message does not decode: ${(e as Error).message}`);
    }
    remember(p7, sd);
  }
  if (sd.version !== 1 && sd.version !== 3) return v('EINVAL', `SignedData version ${sd.version}`);
  const ect = sd.encapContentInfo.eContentType;
  if (ect !== OID.data && ect !== OID.spcIndirect) return v('EINVAL', `encapsulated content type ${ect}`);
  let certs: KeyCert[];
  try {
    certs = (sd.certificates ?? []).map((c) => {
      if (!c.certificate) throw new Error('not an X.509 certificate');
      return keyCert(new Uint8Array(AsnConvert.serialize(c.certificate)));
    });
  } catch (e) {
    return v('EBADMSG', `a certificate in the PKCS#7 does not parse: ${(e as Error).message}`);
  }
  if (sd.signerInfos.length === 0) return v('EINVAL', 'no SignerInfo');
  const digests = options.series === '6.1' ? DIGESTS_61 : DIGESTS_612;
  const signers: Signer[] = [];
  let withAttrs = 0;
  for (const [i, si] of sd.signerInfos.entries()) {
    let authId: string;
    if (si.version === 1) {
      const ias = si.sid.issuerAndSerialNumber;
      if (!ias || sd.version !== 1) return v('EBADMSG', 'SignedData-SignerInfo version mismatch', ['PKCS7: SignedData-SignerInfo version mismatch']);
      authId = issuerSerialId(ias);
    } else if (si.version === 3) {
      if (!si.sid.subjectKeyIdentifier || sd.version === 1) return v('EBADMSG', 'SignedData-SignerInfo version mismatch', ['PKCS7: SignedData-SignerInfo version mismatch']);
      authId = hex(si.sid.subjectKeyIdentifier.buffer);
    } else return v('EINVAL', `SignerInfo version ${si.version}`);
    const hash = digests[si.digestAlgorithm.algorithm];
    if (!hash) return v('ENOPKG', `unsupported digest ${si.digestAlgorithm.algorithm}`, [`PKCS7: Unsupported digest algo: ${si.digestAlgorithm.algorithm}`]);
    const sa = si.signatureAlgorithm.algorithm;
    const pkey = sa === OID.rsaEncryption ? 'rsa' : ECDSA_SIG[sa] || (options.series === '6.12' && ECDSA_SIG_612[sa]) ? 'ecdsa' : undefined;
    if (!pkey) return v('ENOPKG', `unsupported signature algorithm ${sa} (the kernel takes rsaEncryption or ecdsa-with-SHA*)`, [`PKCS7: Unsupported pkey algo: ${sa}`]);
    if (si.signedAttrs && si.signedAttrs.length) {
      withAttrs++;
      const types = si.signedAttrs.map((a) => a.attrType);
      if (new Set(types).size !== types.length) return v('EKEYREJECTED', 'a signed attribute is repeated', ['PKCS7: Repeated/multivalue attribute']);
      if (types.includes(OID.smimeCaps) && ect !== OID.spcIndirect) return v('EKEYREJECTED', 'signed attributes include S/MIME capabilities', ['PKCS7: S/MIME Caps only allowed with Authenticode']);
      if ((types.includes(OID.spcSpOpusInfo) || types.includes(OID.spcStatementType)) && ect !== OID.spcIndirect) return v('EKEYREJECTED', 'Authenticode attributes without Authenticode content', ['PKCS7: Authenticode AuthAttrs only allowed with Authenticode']);
      if (!types.includes(OID.contentType) || !types.includes(OID.messageDigest)) return v('EBADMSG', 'signed attributes lack contentType or messageDigest');
    }
    signers.push({ info: si, version: si.version, authId, hash, pkey, sig: sigs ? sigs[i]! : new Uint8Array(si.signature.buffer) });
  }
  if (withAttrs !== 0 && withAttrs !== signers.length) return v('EINVAL', 'signers disagree on signed attributes', ['PKCS7: Inconsistently supplied authAttrs']);

  // verify_pkcs7_message_sig() → pkcs7_supply_detached_data(), pkcs7_verify()
  if (sd.encapContentInfo.eContent) return v('EBADMSG', 'the PKCS#7 carries the content: module signatures must be detached', ['PKCS7: PKCS#7 signature with non-detached data']);
  if (ect !== OID.data) return v('EKEYREJECTED', 'content type is not pkcs7-data', ['PKCS7: Invalid module sig (not pkcs7-data)']);
  if (withAttrs) return v('EKEYREJECTED', 'the signature has signed attributes (modules must be signed with none)', ['PKCS7: Invalid module sig (has authattrs)']);

  const verifySinfo = (s: Signer, key: KeyCert): boolean => {
    if (!key.key || key.keyAlgo !== s.pkey) return false;
    const native = s.pkey === 'ecdsa' ? key.nativeVerify?.(s.hash!, content, s.sig) : undefined;
    if (native !== undefined) return native;
    try {
      return crypto.verify(s.hash!, content, s.pkey === 'rsa' ? { key: key.key, padding: crypto.constants.RSA_PKCS1_PADDING } : key.key, s.sig);
    } catch {
      return false;
    }
  };
  // pkcs7_verify_one(): digest, embedded signer cert, embedded chain
  let anyOk = false;
  for (const s of signers) {
    try {
      crypto.createHash(s.hash!);
    } catch {
      s.unsupported = true;
      continue;
    }
    const cert = s.version === 1 ? certs.find((c) => c.id === s.authId) : undefined;
    if (cert) {
      if (!cert.key) {
        s.unsupported = true;
        continue;
      }
      if (!verifySinfo(s, cert)) return v('EKEYREJECTED', 'the signature does not verify with the certificate carried in the PKCS#7 (content changed, or wrong key)');
      s.cert = cert;
      // pkcs7_verify_sig_chain(): link each cert to its issuer among the carried certs
      const seen = new Set<KeyCert>();
      for (let x: KeyCert | undefined = cert; x && !seen.has(x) && !x.selfSigned; ) {
        seen.add(x);
        const cur: KeyCert = x;
        const issuer: KeyCert | undefined = cur.authIds[0] ? certs.find((c) => c.id === cur.authIds[0]) : cur.authIds[1] ? certs.find((c) => c.skid === cur.authIds[1]) : undefined;
        if (!issuer) break;
        if (cur.authIds[1] && issuer.skid && cur.authIds[1] !== issuer.skid) return v('EKEYREJECTED', 'a carried certificate\'s AKID does not match its issuer');
        if (!verifyCertSig(cur, issuer)) return v('EKEYREJECTED', 'a carried certificate is not signed by its issuer');
        (cur as { issuerCert?: KeyCert }).issuerCert = issuer;
        x = issuer;
      }
    }
    anyOk = true;
  }
  if (!anyOk) return v('ENOPKG', 'no signer uses supported crypto');

  // pkcs7_validate_trust()
  const trustOne = (s: Signer, keys: readonly KeyCert[]): { r: SigResult; by?: KeyCert; detail: string } => {
    if (s.unsupported) return { r: 'ENOPKG', detail: 'unsupported crypto' };
    let last: KeyCert | undefined;
    for (let x: KeyCert | undefined = s.cert; x; x = (x as { issuerCert?: KeyCert }).issuerCert) {
      const k = findKey(keys, x.id, x.skid);
      if (k) {
        const ok = last ? verifyCertSig(last, k) : verifySinfo(s, k);
        return ok ? { r: 'OK', by: k, detail: `signed by a certificate the kernel trusts${last ? ' (through the carried chain)' : ''}` } : { r: 'EKEYREJECTED', detail: 'a trusted key matches but the signature does not verify with it' };
      }
      if (x.selfSigned) return { r: 'ENOKEY', detail: 'the carried chain ends in a self-signed certificate the kernel does not trust' };
      last = x;
    }
    if (last && (last.authIds[0] || last.authIds[1])) {
      const k = findKey(keys, last.authIds[0], last.authIds[1]);
      if (k) return verifyCertSig(last, k) ? { r: 'OK', by: k, detail: 'the carried chain is issued by a certificate the kernel trusts' } : { r: 'EKEYREJECTED', detail: 'the carried chain\'s issuer is trusted but its signature does not verify' };
    }
    const k = findKey(keys, s.authId);
    if (k) return verifySinfo(s, k) ? { r: 'OK', by: k, detail: 'signed by a certificate the kernel trusts' } : { r: 'EKEYREJECTED', detail: 'the trusted key named by the signature does not verify it (content changed?)' };
    return { r: 'ENOKEY', detail: 'no trusted key matches the signer' };
  };
  const decide = (keys: readonly KeyCert[]): { r: SigResult; by?: KeyCert; detail: string } => {
    let sawPkg = false;
    let lastDetail = 'no trusted key matches the signer';
    for (const s of signers) {
      const t = trustOne(s, keys);
      if (t.r === 'OK') return t;
      if (t.r === 'EKEYREJECTED') return t;
      if (t.r === 'ENOPKG') sawPkg = true;
      lastDetail = t.detail;
    }
    return { r: sawPkg ? 'ENOPKG' : 'ENOKEY', detail: lastDetail };
  };
  let t = decide(trusted);
  if (t.r === 'ENOKEY' && options.platform?.length) t = decide(options.platform);
  return { result: t.r, detail: t.detail, log: [], hash: signers[0]!.hash, ...(t.by ? { trustedBy: t.by.name, trustedKey: t.by } : {}) };
}
