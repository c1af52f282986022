/**
 * The PKCS#7 / CMS SignedData scripts/sign-file.c appends to a module, built byte for byte,
 * and the module trailer around it.
 *
 * Authority: scripts/sign-file.c (CMS_sign with CMS_NOCERTS | CMS_BINARY | CMS_DETACHED, signer
 * added with CMS_NOATTR | CMS_NOSMIMECAP, CMS_USE_KEYID with -k); include/linux/module_signature.h;
 * OpenSSL crypto/cms/cms_sd.c (versions) — RFC 5652 §5.
 *
 *   ContentInfo SEQUENCE {
 *     contentType OID signedData,
 *     [0] EXPLICIT SignedData SEQUENCE {
 *       version INTEGER (1; 3 when the signer is identified by SKID),
 *       digestAlgorithms SET { SEQUENCE { OID hash } },          -- parameters absent
 *       encapContentInfo SEQUENCE { OID data },                  -- detached: no eContent
 *       [0] IMPLICIT certificates SET OF Certificate OPTIONAL,   -- only with a carried chain
 *       signerInfos SET { SEQUENCE {
 *         version INTEGER (1 | 3),
 *         sid  issuerAndSerialNumber SEQUENCE { issuer Name, serial INTEGER } | [0] IMPLICIT OCTET STRING skid,
 *         digestAlgorithm SEQUENCE { OID hash },
 *         signatureAlgorithm SEQUENCE { OID rsaEncryption, NULL } | SEQUENCE { OID ecdsa-with-SHAxxx },
 *         signature OCTET STRING } } } }
 *
 *   module := ELF ‖ PKCS#7 ‖ struct module_signature {0,0,2,0,0,{0,0,0}, be32 sig_len} ‖ "~Module signature appended~\n"
 *
 * The signature value is the last bytes of the DER, so for a given (certificate, hash, sid
 * form, chain, signature length) everything before it is constant: {@link Pkcs7Template}
 * builds that prefix once and each module only appends its signature value.
 */
import crypto from 'node:crypto';
import { FormatError, KmodsealError } from '../bytes/errors.js';
import { ByteWriter } from '../bytes/reader.js';
import {
  findModuleSignature,
  findSignatureTrailer,
  MODULE_SIG_MAGIC,
  MODULE_SIGNATURE_SIZE,
  PKEY_ID_PKCS7,
  probeModuleSignature,
} from '../modsig/signature.js';
import { parseCertificate, type ParsedCertificate } from '../pki/certificate.js';
import {
  DER_NULL,
  encodeOid,
  encodeSmallInteger,
  encodeTlv,
  sortSetOf,
  TAG_OCTET_STRING,
  TAG_SEQUENCE,
  TAG_SET,
} from '../pki/der.js';
import { HASH_OID, type HashAlgorithm, type Signer, type SignerAlgorithm } from '../keys/signer.js';
import { OID_DATA, OID_RSA_ENCRYPTION, OID_SIGNED_DATA } from '../pki/oids.js';

const OID_ECDSA_WITH: Record<HashAlgorithm, string> = {
  sha1: '1.2.840.10045.4.1',
  sha224: '1.2.840.10045.4.3.1',
  sha256: '1.2.840.10045.4.3.2',
  sha384: '1.2.840.10045.4.3.3',
  sha512: '1.2.840.10045.4.3.4',
};

/** How the SignerInfo names its certificate: sign-file's default, or `sign-file -k`. */
export type KeyIdForm = 'issuer-serial' | 'skid';

/** Most signatures stacked by older tools that a re-sign removes. */
export const MAX_STACKED_SIGNATURES = 16;

/** How the PKCS#7 signature is built: digest, signer identifier, extra certificates (sign-file's options). */
export interface Pkcs7Options {
  /** Digest algorithm (sign-file's first argument). Default sha256. */
  readonly hash?: HashAlgorithm;
  /** Signer identifier. Default 'issuer-serial' (sign-file without -k). */
  readonly keyIdForm?: KeyIdForm;
  /**
   * Certificates to carry in SignedData.certificates (intermediates, in any order). When given
   * (even empty), the signer's own certificate is carried too, so a verifier can build
   * signer → intermediates → trusted root without extra files. sign-file never carries any.
   */
  readonly chain?: readonly Uint8Array[];
}

/** The 12-byte struct module_signature for a PKCS#7 of `sigLen` bytes. */
export function encodeModuleSignatureInfo(sigLen: number): Uint8Array {
  const b = new Uint8Array(MODULE_SIGNATURE_SIZE);
  const w = new ByteWriter(b, { file: '<module>', format: 'modsig', littleEndian: false });
  b[2] = PKEY_ID_PKCS7;
  w.setU32(8, sigLen, 'sig_len');
  return b;
}

/** ELF ‖ PKCS#7 ‖ struct module_signature ‖ magic, as a new array (the input is not modified). */
export function appendModuleSignature(content: Uint8Array, pkcs7: Uint8Array): Uint8Array {
  const out = new Uint8Array(content.length + pkcs7.length + MODULE_SIGNATURE_SIZE + MODULE_SIG_MAGIC.length);
  out.set(content, 0);
  out.set(pkcs7, content.length);
  out.set(encodeModuleSignatureInfo(pkcs7.length), content.length + pkcs7.length);
  out.set(MODULE_SIG_MAGIC, content.length + pkcs7.length + MODULE_SIGNATURE_SIZE);
  return out;
}

/**
 * The unsigned module: `data` without any appended signature (all stacked ones). Zero-copy
 * view into `data`.
 * @throws FormatError E_SIG when a trailer is present but its lengths are impossible.
 */
export function stripModuleSignature(data: Uint8Array, file = '<module>'): Uint8Array {
  let view = data;
  for (let i = 0; i < MAX_STACKED_SIGNATURES && probeModuleSignature(view); i++) {
    view = view.subarray(0, signedContentLength(view, file));
  }
  if (probeModuleSignature(view))
    throw new FormatError('E_LIMIT', {
      file,
      offset: view.length,
      format: 'modsig',
      detail: `more than ${MAX_STACKED_SIGNATURES} stacked signatures`,
    });
  return view;
}

function signedContentLength(data: Uint8Array, file: string): number {
  try {
    return findModuleSignature(data, file)!.moduleLength;
  } catch (e) {
    // An undecodable PKCS#7 is still removable: the trailer lengths were checked before the
    // blob was parsed, so recompute the span from them.
    if (!(e instanceof FormatError) || e.code !== 'E_ASN1') throw e;
    const { infoOffset, info } = findSignatureTrailer(data)!;
    return infoOffset - info!.sig_len - info!.signer_len - info!.key_id_len;
  }
}

function signatureAlgorithmIdentifier(algorithm: SignerAlgorithm, hash: HashAlgorithm): Uint8Array {
  // OpenSSL writes rsaEncryption with NULL parameters and ecdsa-with-SHAxxx without any (RFC 5758 §3.2).
  return algorithm === 'rsa'
    ? encodeTlv(TAG_SEQUENCE, encodeOid(OID_RSA_ENCRYPTION), DER_NULL)
    : encodeTlv(TAG_SEQUENCE, encodeOid(OID_ECDSA_WITH[hash]));
}

/**
 * Everything but the signature value, for one (certificate, algorithm, options, signature length).
 * `build(signature)` concatenates the cached prefix with the value: identical to a full encode.
 */
export class Pkcs7Template {
  readonly prefix: Uint8Array;
  readonly signatureLength: number;

  constructor(
    cert: ParsedCertificate,
    algorithm: SignerAlgorithm,
    signatureLength: number,
    options: Pkcs7Options = {},
  ) {
    const full = encodePkcs7(cert, algorithm, new Uint8Array(signatureLength), options);
    this.prefix = full.subarray(0, full.length - signatureLength);
    this.signatureLength = signatureLength;
  }

  build(signature: Uint8Array): Uint8Array {
    if (signature.length !== this.signatureLength)
      throw new RangeError(`template is for ${this.signatureLength}-byte signatures, got ${signature.length}`);
    const out = new Uint8Array(this.prefix.length + signature.length);
    out.set(this.prefix, 0);
    out.set(signature, this.prefix.length);
    return out;
  }
}

/**
 * Encodes the module PKCS#7 around a signature value (full encode; see {@link Pkcs7Template}
 * for the cached form).
 * @throws KmodsealError E_UNSUPPORTED when keyIdForm is 'skid' and the certificate has no SKID (sign-file fails the same way).
 */
export function encodePkcs7(
  cert: ParsedCertificate,
  algorithm: SignerAlgorithm,
  signature: Uint8Array,
  options: Pkcs7Options = {},
): Uint8Array {
  const hash = options.hash ?? 'sha256';
  const form = options.keyIdForm ?? 'issuer-serial';
  const digestAlg = encodeTlv(TAG_SEQUENCE, encodeOid(HASH_OID[hash]));
  let sid: Uint8Array;
  let version: number;
  if (form === 'skid') {
    if (!cert.subjectKeyId)
      throw new KmodsealError(
        'E_UNSUPPORTED',
        'the certificate has no subjectKeyIdentifier; cannot identify the signer by key id',
      );
    sid = encodeTlv(0x80, cert.subjectKeyId);
    version = 3;
  } else {
    sid = encodeTlv(TAG_SEQUENCE, cert.issuerDer, cert.serialDer);
    version = 1;
  }
  const signerInfo = encodeTlv(
    TAG_SEQUENCE,
    encodeSmallInteger(version),
    sid,
    digestAlg,
    signatureAlgorithmIdentifier(algorithm, hash),
    encodeTlv(TAG_OCTET_STRING, signature),
  );
  const parts: Uint8Array[] = [
    encodeSmallInteger(version),
    encodeTlv(TAG_SET, digestAlg),
    encodeTlv(TAG_SEQUENCE, encodeOid(OID_DATA)),
  ];
  if (options.chain) {
    const seen = new Set<string>();
    const certs: Uint8Array[] = [];
    for (const c of [cert.der, ...options.chain]) {
      const key = Buffer.from(c).toString('base64');
      if (seen.has(key)) continue;
      seen.add(key);
      certs.push(c);
    }
    parts.push(encodeTlv(0xa0, ...sortSetOf(certs))); // DER SET OF order, as OpenSSL writes it
  }
  parts.push(encodeTlv(TAG_SET, signerInfo));
  return encodeTlv(TAG_SEQUENCE, encodeOid(OID_SIGNED_DATA), encodeTlv(0xa0, encodeTlv(TAG_SEQUENCE, ...parts)));
}

/** Per-signer cache of parsed certificates and templates (bulk signing). */
interface SignerCache {
  readonly cert: ParsedCertificate;
  readonly templates: Map<string, Pkcs7Template>;
}
const signerCaches = new WeakMap<Signer, SignerCache>();
const MAX_TEMPLATES_PER_SIGNER = 64;

function cacheFor(signer: Signer): SignerCache {
  let c = signerCaches.get(signer);
  if (!c)
    signerCaches.set(
      signer,
      (c = { cert: parseCertificate(signer.certificate, { file: '<signer certificate>' }), templates: new Map() }),
    );
  return c;
}

function chainKey(chain: readonly Uint8Array[] | undefined): string {
  if (!chain) return '-';
  const h = crypto.createHash('sha256');
  for (const c of chain) h.update(c).update('|');
  return h.digest('hex');
}

/**
 * The module PKCS#7 for a signature value, from a cached template (byte-identical to
 * {@link encodePkcs7}; templates are keyed by signer, hash, sid form, chain and length, so
 * ECDSA's few DER lengths each get one).
 */
export function buildModulePkcs7(signer: Signer, signature: Uint8Array, options: Pkcs7Options = {}): Uint8Array {
  const cache = cacheFor(signer);
  const key = `${options.hash ?? 'sha256'}/${options.keyIdForm ?? 'issuer-serial'}/${chainKey(options.chain)}/${signature.length}`;
  let t = cache.templates.get(key);
  if (!t) {
    if (cache.templates.size >= MAX_TEMPLATES_PER_SIGNER) cache.templates.clear();
    t = new Pkcs7Template(cache.cert, signer.algorithm, signature.length, options);
    cache.templates.set(key, t);
  }
  return t.build(signature);
}

/**
 * The detached PKCS#7 for already-unsigned module content (sign-file -d: the `.p7s`).
 * Does not strip: pass {@link stripModuleSignature}'s result.
 */
export async function signModuleContent(
  content: Uint8Array,
  signer: Signer,
  options: Pkcs7Options = {},
): Promise<Uint8Array> {
  const hash = options.hash ?? 'sha256';
  let signature: Uint8Array;
  if (signer.signContent) signature = await signer.signContent(hash, content);
  else {
    const digest = crypto.createHash(hash).update(content).digest();
    signature = await signer.sign(hash, new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength));
  }
  return buildModulePkcs7(signer, signature, options);
}

/** What is appended to the unsigned ELF: PKCS#7 ‖ struct module_signature ‖ magic. New array. */
export function moduleSignatureTail(pkcs7: Uint8Array): Uint8Array {
  const out = new Uint8Array(pkcs7.length + MODULE_SIGNATURE_SIZE + MODULE_SIG_MAGIC.length);
  out.set(pkcs7, 0);
  out.set(encodeModuleSignatureInfo(pkcs7.length), pkcs7.length);
  out.set(MODULE_SIG_MAGIC, pkcs7.length + MODULE_SIGNATURE_SIZE);
  return out;
}

/**
 * {@link signModuleBytes} without joining the result: the signed module is `content ‖ tail`,
 * `content` being a zero-copy view into `data` (every appended signature removed). Bulk
 * signing writes both pieces with one writev instead of copying the module.
 */
export async function signModuleParts(
  data: Uint8Array,
  signer: Signer,
  options: Pkcs7Options & { file?: string } = {},
): Promise<{ content: Uint8Array; tail: Uint8Array }> {
  const content = stripModuleSignature(data, options.file);
  return { content, tail: moduleSignatureTail(await signModuleContent(content, signer, options)) };
}

/**
 * Signs a (decompressed) module the way sign-file does, replacing any signature already
 * appended (all stacked ones), never adding a second.
 * @returns a new array: unsigned ELF ‖ PKCS#7 ‖ trailer ‖ magic.
 * @throws FormatError E_SIG (existing trailer malformed); KmodsealError from the signer.
 */
export async function signModuleBytes(
  data: Uint8Array,
  signer: Signer,
  options: Pkcs7Options & { file?: string } = {},
): Promise<Uint8Array> {
  const content = stripModuleSignature(data, options.file);
  const pkcs7 = await signModuleContent(content, signer, options);
  return appendModuleSignature(content, pkcs7);
}
