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
import type { SignerInfo } from '@peculiar/asn1-cms';
import type { KernelSeries } from '../kernel/series.js';
import type { TrailerFacts } from './module-facts.js';
import { nativeEcVerifier } from '../keys/native-crypto.js';
import { parseCertificate, verifyCertificateSignature, type ParsedCertificate } from '../pki/certificate.js';
import { decodePkcs7, Pkcs7DecodeError, type Pkcs7Message } from '../pki/pkcs7.js';
import { FormatError } from '../bytes/errors.js';
import type { Errno } from '../bytes/errno.js';

export type SigResult = 'OK' | Extract<Errno, 'ENODATA' | 'ENOPKG' | 'ENOKEY' | 'EKEYREJECTED' | 'EBADMSG' | 'EINVAL'>;

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
  /** The certificate, parsed once (raw TBS bytes, signature, names). */
  readonly cert: ParsedCertificate;
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
  '1.2.840.113549.2.4': 'md4',
  '1.2.840.113549.2.5': 'md5',
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '1.2.156.10197.1.401': 'sm3',
};
const DIGESTS_612: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '1.2.156.10197.1.401': 'sm3',
  '2.16.840.1.101.3.4.2.8': 'sha3-256',
  '2.16.840.1.101.3.4.2.9': 'sha3-384',
  '2.16.840.1.101.3.4.2.10': 'sha3-512',
};
const ECDSA_SIG: Record<string, string> = {
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};
const ECDSA_SIG_612: Record<string, string> = {
  '2.16.840.1.101.3.4.3.10': 'sha3-256',
  '2.16.840.1.101.3.4.3.11': 'sha3-384',
  '2.16.840.1.101.3.4.3.12': 'sha3-512',
};
const hex = (b: ArrayBuffer | Uint8Array): string =>
  Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString('hex');

/** Curves x509_cert_parse() accepts per series (x509_extract_key_data()). */
const CURVES: Record<KernelSeries, readonly string[]> = {
  '6.1': ['prime192v1', 'prime256v1', 'secp384r1'],
  '6.12': ['prime192v1', 'prime256v1', 'secp384r1', 'secp521r1'],
};

/**
 * A certificate the way x509_cert_parse() keys it, from the one parser (src/pki/certificate.ts).
 * With `series`, refuses what that kernel cannot load into a keyring (an unsupported curve).
 * @throws Error on undecodable certificates (the decoder's message) and unsupported curves.
 */
export function keyCert(der: Uint8Array, name = '', series?: KernelSeries): KeyCert {
  let cert: ParsedCertificate;
  try {
    cert = parseCertificate(der);
  } catch (e) {
    throw new Error(failureReason(e), { cause: e });
  }
  return keyCertOf(cert, name, series);
}

/** The decoder's own words for a certificate or PKCS#7 that does not parse. */
function failureReason(e: unknown): string {
  if (e instanceof Pkcs7DecodeError) return e.reason;
  if (!(e instanceof FormatError)) return (e as Error).message;
  return e.cause instanceof Error && e.detail.startsWith('certificate does not decode') ? e.cause.message : e.detail;
}

/** Carried certificates are keyed once per parsed certificate (decodes are shared between modules). */
const carriedKeys = new WeakMap<ParsedCertificate, KeyCert>();

function keyCertOf(cert: ParsedCertificate, name: string, series?: KernelSeries): KeyCert {
  const id = hex(cert.id);
  const skid = cert.subjectKeyId ? hex(cert.subjectKeyId) : undefined;
  const akid = cert.authorityKeyId;
  const authIds: [string | undefined, string | undefined] = akid
    ? [akid.issuerSerialId ? hex(akid.issuerSerialId) : undefined, akid.keyId ? hex(akid.keyId) : undefined]
    : [undefined, undefined];
  let key: crypto.KeyObject | undefined;
  try {
    key = crypto.createPublicKey({ key: Buffer.from(cert.spki), format: 'der', type: 'spki' });
  } catch {
    key = undefined;
  }
  const t = key?.asymmetricKeyType;
  const curve = key?.asymmetricKeyDetails?.namedCurve;
  if (series && t === 'ec' && !CURVES[series].includes(curve ?? '')) {
    throw new Error(`curve ${curve ?? '?'} is not supported by ${series} kernels`);
  }
  const selfSigned = hex(cert.issuer) === hex(cert.subject) && (authIds[1] === undefined || authIds[1] === skid);
  const nativeVerify = t === 'ec' ? nativeEcVerifier(cert.spki) : undefined;
  return {
    der: cert.der,
    id,
    skid,
    authIds,
    selfSigned,
    key,
    keyAlgo: t === 'rsa' ? 'rsa' : t === 'ec' ? 'ecdsa' : 'other',
    cert,
    name,
    ...(nativeVerify ? { nativeVerify } : {}),
  };
}

/** find_asymmetric_key(): any of the key's ids (issuer+serial, SKID) equal to any given id. */
function findKey(keys: readonly KeyCert[], ...ids: (string | undefined)[]): KeyCert | undefined {
  const want = ids.filter((x): x is string => x !== undefined);
  if (!want.length) return undefined;
  return keys.find((k) => want.includes(k.id) || (k.skid !== undefined && want.includes(k.skid)));
}

/** public_key_verify_signature(cert->sig) with the issuer's key: over the certificate's own TBS bytes. */
function verifyCertSig(cert: KeyCert, by: KeyCert): boolean {
  return by.key !== undefined && by.keyAlgo !== 'other' && verifyCertificateSignature(cert.cert, by.key);
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
 * machine); Debian also retries `platform` on ENOKEY. The steps, in the kernel's order:
 * {@link trailerVerdict}, {@link parseMessage}, {@link parseSigners}, {@link moduleSigRules},
 * {@link verifySigners}, {@link validateTrust}.
 */
export function kernelSignatureVerdict(
  data: Uint8Array,
  trailer: TrailerFacts,
  trusted: readonly KeyCert[],
  options: { series: KernelSeries; force?: boolean; platform?: readonly KeyCert[] },
): SignatureVerdict {
  const early = trailerVerdict(trailer, options.force);
  if (early) return early;
  const content = data.subarray(0, trailer.contentLength);
  const m = parseMessage(data.subarray(trailer.sigOffset, trailer.sigOffset + trailer.sigLength));
  if (isVerdict(m)) return m;
  const signers = parseSigners(m, options.series);
  if (isVerdict(signers)) return signers;
  const refused = moduleSigRules(m, signers);
  if (refused) return refused;
  const issuerOf = verifySigners(signers, m.certs, content);
  if (isVerdict(issuerOf)) return issuerOf;
  let t = validateTrust(signers, issuerOf, content, trusted);
  if (t.r === 'ENOKEY' && options.platform?.length) t = validateTrust(signers, issuerOf, content, options.platform);
  return {
    result: t.r,
    detail: t.detail,
    log: [],
    hash: signers[0]!.hash,
    ...(t.by ? { trustedBy: t.by.name, trustedKey: t.by } : {}),
  };
}

function verdict(result: SigResult, detail: string, log: string[] = []): SignatureVerdict {
  return { result, detail, log };
}

function isVerdict<T extends object>(x: T | SignatureVerdict): x is SignatureVerdict {
  return 'result' in x;
}

/** The trailer (struct module_signature) decides first: forced, unsigned, malformed, not PKCS#7. */
function trailerVerdict(trailer: TrailerFacts, force: boolean | undefined): SignatureVerdict | undefined {
  if (force) return verdict('ENODATA', 'forced load (modprobe --force): the signature is not looked at');
  if (!trailer.present) return verdict('ENODATA', 'unsigned: no "~Module signature appended~" trailer');
  if (trailer.check === 'EBADMSG')
    return verdict(
      'EBADMSG',
      'struct module_signature is malformed (sig_len or non-zero fields)',
      trailer.log ? [trailer.log] : [],
    );
  if (trailer.check === 'ENOPKG')
    return verdict('ENOPKG', 'the signature is not PKCS#7 (id_type != 2)', trailer.log ? [trailer.log] : []);
  return undefined;
}

interface ParsedMessage {
  readonly msg: Pkcs7Message;
  readonly sd: Pkcs7Message['signedData'];
  /** The encapsulated content type. */
  readonly ect: string;
  /** The certificates the PKCS#7 carries. */
  readonly certs: readonly KeyCert[];
}

/** pkcs7_parse_message(): the SignedData, its version and content type, its certificates. */
function parseMessage(p7: Uint8Array): ParsedMessage | SignatureVerdict {
  let msg: Pkcs7Message;
  try {
    msg = decodePkcs7(p7);
  } catch (e) {
    if (e instanceof Pkcs7DecodeError && e.stage === 'content-type') {
      return verdict('EINVAL', `PKCS#7 content type ${e.reason} is not signedData`);
    }
    return verdict('EBADMSG', `the PKCS#7 message does not decode: ${failureReason(e)}`);
  }
  const sd = msg.signedData;
  if (sd.version !== 1 && sd.version !== 3) return verdict('EINVAL', `SignedData version ${sd.version}`);
  const ect = sd.encapContentInfo.eContentType;
  if (ect !== OID.data && ect !== OID.spcIndirect) return verdict('EINVAL', `encapsulated content type ${ect}`);
  const certs: KeyCert[] = [];
  for (const c of msg.certificates) {
    if (!c.ok) return verdict('EBADMSG', `a certificate in the PKCS#7 does not parse: ${c.reason}`);
    let k = carriedKeys.get(c.certificate);
    if (!k) carriedKeys.set(c.certificate, (k = keyCertOf(c.certificate, '')));
    certs.push(k);
  }
  return { msg, sd, ect, certs };
}

/** pkcs7_parse_message()'s SignerInfos: version and id, digest and key algorithms, signed attributes. */
function parseSigners(m: ParsedMessage, series: KernelSeries): Signer[] | SignatureVerdict {
  if (m.sd.signerInfos.length === 0) return verdict('EINVAL', 'no SignerInfo');
  const signers: Signer[] = [];
  for (const [i, si] of m.sd.signerInfos.entries()) {
    const s = parseSigner(m, i, si, series);
    if (isVerdict(s)) return s;
    signers.push(s);
  }
  return signers;
}

function parseSigner(m: ParsedMessage, i: number, si: SignerInfo, series: KernelSeries): Signer | SignatureVerdict {
  const { msg, sd, ect } = m;
  let authId: string;
  if (si.version === 1) {
    const ias = si.sid.issuerAndSerialNumber;
    if (!ias || sd.version !== 1)
      return verdict('EBADMSG', 'SignedData-SignerInfo version mismatch', [
        'PKCS7: SignedData-SignerInfo version mismatch',
      ]);
    const raw = msg.signers[i]!.issuerSerialId;
    if (!raw) return verdict('EBADMSG', 'SignerInfo issuerAndSerialNumber does not decode');
    authId = hex(raw);
  } else if (si.version === 3) {
    if (!si.sid.subjectKeyIdentifier || sd.version === 1)
      return verdict('EBADMSG', 'SignedData-SignerInfo version mismatch', [
        'PKCS7: SignedData-SignerInfo version mismatch',
      ]);
    authId = hex(si.sid.subjectKeyIdentifier.buffer);
  } else return verdict('EINVAL', `SignerInfo version ${si.version}`);
  const digests = series === '6.1' ? DIGESTS_61 : DIGESTS_612;
  const hash = digests[si.digestAlgorithm.algorithm];
  if (!hash)
    return verdict('ENOPKG', `unsupported digest ${si.digestAlgorithm.algorithm}`, [
      `PKCS7: Unsupported digest algo: ${si.digestAlgorithm.algorithm}`,
    ]);
  const sa = si.signatureAlgorithm.algorithm;
  const pkey =
    sa === OID.rsaEncryption ? 'rsa' : ECDSA_SIG[sa] || (series === '6.12' && ECDSA_SIG_612[sa]) ? 'ecdsa' : undefined;
  if (!pkey)
    return verdict(
      'ENOPKG',
      `unsupported signature algorithm ${sa} (the kernel takes rsaEncryption or ecdsa-with-SHA*)`,
      [`PKCS7: Unsupported pkey algo: ${sa}`],
    );
  const attrs = signedAttrsVerdict(si, ect);
  if (attrs) return attrs;
  return { info: si, version: si.version, authId, hash, pkey, sig: msg.signers[i]!.signature };
}

/** The signed attributes pkcs7_sig_note_set_of_authattrs() refuses. */
function signedAttrsVerdict(si: SignerInfo, ect: string): SignatureVerdict | undefined {
  if (!si.signedAttrs || !si.signedAttrs.length) return undefined;
  const types = si.signedAttrs.map((a) => a.attrType);
  if (new Set(types).size !== types.length)
    return verdict('EKEYREJECTED', 'a signed attribute is repeated', ['PKCS7: Repeated/multivalue attribute']);
  if (types.includes(OID.smimeCaps) && ect !== OID.spcIndirect)
    return verdict('EKEYREJECTED', 'signed attributes include S/MIME capabilities', [
      'PKCS7: S/MIME Caps only allowed with Authenticode',
    ]);
  if ((types.includes(OID.spcSpOpusInfo) || types.includes(OID.spcStatementType)) && ect !== OID.spcIndirect)
    return verdict('EKEYREJECTED', 'Authenticode attributes without Authenticode content', [
      'PKCS7: Authenticode AuthAttrs only allowed with Authenticode',
    ]);
  if (!types.includes(OID.contentType) || !types.includes(OID.messageDigest))
    return verdict('EBADMSG', 'signed attributes lack contentType or messageDigest');
  return undefined;
}

/** What a module signature must be besides a valid PKCS#7: detached, pkcs7-data, no signed attributes. */
function moduleSigRules(m: ParsedMessage, signers: readonly Signer[]): SignatureVerdict | undefined {
  const withAttrs = signers.filter((s) => s.info.signedAttrs && s.info.signedAttrs.length).length;
  if (withAttrs !== 0 && withAttrs !== signers.length)
    return verdict('EINVAL', 'signers disagree on signed attributes', ['PKCS7: Inconsistently supplied authAttrs']);
  // verify_pkcs7_message_sig() → pkcs7_supply_detached_data(), pkcs7_verify()
  if (m.sd.encapContentInfo.eContent)
    return verdict('EBADMSG', 'the PKCS#7 carries the content: module signatures must be detached', [
      'PKCS7: PKCS#7 signature with non-detached data',
    ]);
  if (m.ect !== OID.data)
    return verdict('EKEYREJECTED', 'content type is not pkcs7-data', ['PKCS7: Invalid module sig (not pkcs7-data)']);
  if (withAttrs)
    return verdict('EKEYREJECTED', 'the signature has signed attributes (modules must be signed with none)', [
      'PKCS7: Invalid module sig (has authattrs)',
    ]);
  return undefined;
}

/** public_key_verify_signature() of one SignerInfo over the module content with `key`. */
function verifySinfo(s: Signer, key: KeyCert, content: Uint8Array): boolean {
  if (!key.key || key.keyAlgo !== s.pkey) return false;
  const native = s.pkey === 'ecdsa' ? key.nativeVerify?.(s.hash!, content, s.sig) : undefined;
  if (native !== undefined) return native;
  try {
    return crypto.verify(
      s.hash!,
      content,
      s.pkey === 'rsa' ? { key: key.key, padding: crypto.constants.RSA_PKCS1_PADDING } : key.key,
      s.sig,
    );
  } catch {
    return false;
  }
}

/**
 * pkcs7_verify_one() for each signer: digest, embedded signer certificate, embedded chain; returns
 * the x509->signer links of the carried certificates.
 */
function verifySigners(
  signers: Signer[],
  certs: readonly KeyCert[],
  content: Uint8Array,
): Map<KeyCert, KeyCert> | SignatureVerdict {
  const issuerOf = new Map<KeyCert, KeyCert>();
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
      if (!verifySinfo(s, cert, content))
        return verdict(
          'EKEYREJECTED',
          'the signature does not verify with the certificate carried in the PKCS#7 (content changed, or wrong key)',
        );
      s.cert = cert;
      const chain = linkCarriedChain(cert, certs, issuerOf);
      if (chain) return chain;
    }
    anyOk = true;
  }
  if (!anyOk) return verdict('ENOPKG', 'no signer uses supported crypto');
  return issuerOf;
}

/** pkcs7_verify_sig_chain(): link each certificate to its issuer among the carried ones. */
function linkCarriedChain(
  cert: KeyCert,
  certs: readonly KeyCert[],
  issuerOf: Map<KeyCert, KeyCert>,
): SignatureVerdict | undefined {
  const seen = new Set<KeyCert>();
  for (let x: KeyCert | undefined = cert; x && !seen.has(x) && !x.selfSigned;) {
    seen.add(x);
    const cur: KeyCert = x;
    const issuer: KeyCert | undefined = cur.authIds[0]
      ? certs.find((c) => c.id === cur.authIds[0])
      : cur.authIds[1]
        ? certs.find((c) => c.skid === cur.authIds[1])
        : undefined;
    if (!issuer) break;
    if (cur.authIds[1] && issuer.skid && cur.authIds[1] !== issuer.skid)
      return verdict('EKEYREJECTED', "a carried certificate's AKID does not match its issuer");
    if (!verifyCertSig(cur, issuer))
      return verdict('EKEYREJECTED', 'a carried certificate is not signed by its issuer');
    issuerOf.set(cur, issuer);
    x = issuer;
  }
  return undefined;
}

interface TrustResult {
  readonly r: SigResult;
  readonly by?: KeyCert;
  readonly detail: string;
}

/** pkcs7_validate_trust(): the first signer a key in `keys` vouches for (or rejects) decides. */
function validateTrust(
  signers: readonly Signer[],
  issuerOf: ReadonlyMap<KeyCert, KeyCert>,
  content: Uint8Array,
  keys: readonly KeyCert[],
): TrustResult {
  let sawPkg = false;
  let lastDetail = 'no trusted key matches the signer';
  for (const s of signers) {
    const t = trustOne(s, issuerOf, content, keys);
    if (t.r === 'OK') return t;
    if (t.r === 'EKEYREJECTED') return t;
    if (t.r === 'ENOPKG') sawPkg = true;
    lastDetail = t.detail;
  }
  return { r: sawPkg ? 'ENOPKG' : 'ENOKEY', detail: lastDetail };
}

/** pkcs7_validate_trust_one(): walk the signer's carried chain up to a trusted key. */
function trustOne(
  s: Signer,
  issuerOf: ReadonlyMap<KeyCert, KeyCert>,
  content: Uint8Array,
  keys: readonly KeyCert[],
): TrustResult {
  if (s.unsupported) return { r: 'ENOPKG', detail: 'unsupported crypto' };
  let last: KeyCert | undefined;
  for (let x: KeyCert | undefined = s.cert; x; x = issuerOf.get(x)) {
    const k = findKey(keys, x.id, x.skid);
    if (k) {
      const ok = last ? verifyCertSig(last, k) : verifySinfo(s, k, content);
      return ok
        ? {
            r: 'OK',
            by: k,
            detail: `signed by a certificate the kernel trusts${last ? ' (through the carried chain)' : ''}`,
          }
        : { r: 'EKEYREJECTED', detail: 'a trusted key matches but the signature does not verify with it' };
    }
    if (x.selfSigned)
      return { r: 'ENOKEY', detail: 'the carried chain ends in a self-signed certificate the kernel does not trust' };
    last = x;
  }
  if (last && (last.authIds[0] || last.authIds[1])) {
    const k = findKey(keys, last.authIds[0], last.authIds[1]);
    if (k)
      return verifyCertSig(last, k)
        ? { r: 'OK', by: k, detail: 'the carried chain is issued by a certificate the kernel trusts' }
        : { r: 'EKEYREJECTED', detail: "the carried chain's issuer is trusted but its signature does not verify" };
  }
  const k = findKey(keys, s.authId);
  if (k)
    return verifySinfo(s, k, content)
      ? { r: 'OK', by: k, detail: 'signed by a certificate the kernel trusts' }
      : { r: 'EKEYREJECTED', detail: 'the trusted key named by the signature does not verify it (content changed?)' };
  return { r: 'ENOKEY', detail: 'no trusted key matches the signer' };
}
