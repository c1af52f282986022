/**
 * The signature appended to a kernel module.
 * Authority: include/linux/module_signature.h, kernel/module_signature.c (mod_check_sig),
 * scripts/sign-file.c; kmod libkmod/libkmod-signature.c for what modinfo shows.
 *
 *   [ module ELF                ]
 *   [ signer name  (signer_len) ]   both empty for PKCS#7 (id_type 2)
 *   [ key id       (key_id_len) ]
 *   [ signature    (sig_len)    ]   PKCS#7 / CMS SignedData, DER
 *   [ struct module_signature   ]   u8 algo, hash, id_type, signer_len, key_id_len; u8 pad[3]; be32 sig_len
 *   [ "~Module signature appended~\n" ]   28 bytes
 */
import type { SignerInfo } from '@peculiar/asn1-cms';
import type { Name } from '@peculiar/asn1-x509';
import { ByteReader, copyBytes, latin1 } from '../bytes/reader.js';
import { FormatError } from '../bytes/errors.js';
import { nameAttributes } from '../pki/certificate.js';
import { decodePkcs7 } from '../pki/pkcs7.js';
import { findSignatureTrailer, type ModuleSignatureRaw } from './trailer.js';
import { OID_CN } from '../pki/oids.js';

export {
  MODULE_SIG_STRING,
  MODULE_SIG_MAGIC,
  MODULE_SIGNATURE_SIZE,
  findSignatureTrailer,
  type ModuleSignatureRaw,
  type SignatureTrailer,
} from './trailer.js';

export const PKEY_ID_PGP = 0;
export const PKEY_ID_X509 = 1;
export const PKEY_ID_PKCS7 = 2;

/** kmod's tables (libkmod-signature.c), indexed by the trailer's fields. */
const PKEY_ALGO = ['DSA', 'RSA'] as const;
const PKEY_HASH_ALGO = ['md4', 'md5', 'sha1', 'rmd160', 'sha256', 'sha384', 'sha512', 'sha224', 'sm3'] as const;
const PKEY_ID_TYPE = ['PGP', 'X509', 'PKCS#7'] as const;

/** OpenSSL long names (what OBJ_obj2txt prints) of digest OIDs seen in module signatures. */
const DIGEST_NAMES: Record<string, string> = {
  '1.2.840.113549.2.4': 'md4',
  '1.2.840.113549.2.5': 'md5',
  '1.3.14.3.2.26': 'sha1',
  '1.3.36.3.2.1': 'ripemd160',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.5': 'sha512-224',
  '2.16.840.1.101.3.4.2.6': 'sha512-256',
  '2.16.840.1.101.3.4.2.7': 'sha3-224',
  '2.16.840.1.101.3.4.2.8': 'sha3-256',
  '2.16.840.1.101.3.4.2.9': 'sha3-384',
  '2.16.840.1.101.3.4.2.10': 'sha3-512',
  '2.16.840.1.101.3.4.2.11': 'shake128',
  '2.16.840.1.101.3.4.2.12': 'shake256',
  '1.2.156.10197.1.401': 'sm3',
};

/** Names of signature-algorithm OIDs (for display and JSON). */
const SIG_ALGO_NAMES: Record<string, string> = {
  '1.2.840.113549.1.1.1': 'rsaEncryption',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.10045.2.1': 'ecPublicKey',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.3.101.112': 'ED25519',
  '1.2.156.10197.1.501': 'SM2-with-SM3',
};

export function digestName(oid: string): string {
  return DIGEST_NAMES[oid] ?? oid;
}

/** What the PKCS#7 SignedData says about its (first) signer. */
export interface Pkcs7Info {
  /** Issuer common name of the first SignerInfo (raw bytes as a latin1 string, cut at NUL like kmod). */
  readonly issuerCN: string | undefined;
  /** Whole issuer DN in RFC 4514-ish form. */
  readonly issuer: string | undefined;
  /** Serial number magnitude, big-endian, no leading zeros (kmod's sig_key). */
  readonly serial: Uint8Array | undefined;
  /** Subject key identifier when the signer is identified that way (CMS sid [0]). */
  readonly subjectKeyId: Uint8Array | undefined;
  readonly digestAlgorithm: string;
  readonly digestAlgorithmName: string;
  readonly signatureAlgorithm: string;
  readonly signatureAlgorithmName: string;
  readonly signature: Uint8Array;
  readonly signerCount: number;
  readonly certificateCount: number;
  readonly signedAttributes: boolean;
  readonly detached: boolean;
  readonly version: number;
}

export interface ModuleSignature {
  readonly raw: ModuleSignatureRaw;
  /** Length of the module proper: the bytes the signature covers. */
  readonly moduleLength: number;
  /** Offset of the signature blob (after signer and key id). */
  readonly sigOffset: number;
  /** Offset of struct module_signature. */
  readonly trailerOffset: number;
  /** Zero-copy view of the signature blob. */
  readonly sigData: Uint8Array;
  readonly signerName: Uint8Array;
  readonly keyId: Uint8Array;
  /** Present when id_type is PKCS#7. */
  readonly pkcs7: Pkcs7Info | undefined;
}

/** True when the data ends with the signature magic. Never throws. */
export function probeModuleSignature(data: Uint8Array): boolean {
  return findSignatureTrailer(data) !== undefined;
}

/**
 * Finds and parses the appended signature of a (decompressed) module.
 * @returns undefined when the module is unsigned (no magic).
 * @throws FormatError E_SIG (trailer fields out of range, sig_len past the start of the file),
 *         E_ASN1 (the PKCS#7 blob does not decode)
 */
export function findModuleSignature(data: Uint8Array, file: string): ModuleSignature | undefined {
  const trailer = findSignatureTrailer(data);
  if (!trailer) return undefined;
  const r = new ByteReader(data, { file, format: 'modsig', littleEndian: false });
  const raw = trailer.info;
  if (!raw) throw r.error('E_SIG', 0, 'signature magic present but no room for struct module_signature');
  const t = trailer.infoOffset;
  if (raw.sig_len === 0) throw r.error('E_SIG', t + 8, 'sig_len is 0');
  const total = raw.sig_len + raw.signer_len + raw.key_id_len;
  if (total > t)
    throw r.error(
      'E_SIG',
      t + 8,
      `sig_len ${raw.sig_len} (+ signer ${raw.signer_len} + key id ${raw.key_id_len}) exceeds the ${t} bytes before the trailer`,
    );
  const sigOffset = t - raw.sig_len;
  const keyIdOffset = sigOffset - raw.key_id_len;
  const moduleLength = keyIdOffset - raw.signer_len;
  const sigData = r.bytes(sigOffset, raw.sig_len, 'signature');
  let pkcs7: Pkcs7Info | undefined;
  if (raw.id_type === PKEY_ID_PKCS7) pkcs7 = parsePkcs7(sigData, file, sigOffset);
  return {
    raw,
    moduleLength,
    sigOffset,
    trailerOffset: t,
    sigData,
    signerName: r.bytes(moduleLength, raw.signer_len),
    keyId: r.bytes(keyIdOffset, raw.key_id_len),
    pkcs7,
  };
}

/** Serial number magnitude as kmod prints it (BN_bn2bin of the INTEGER). */
function serialMagnitude(der: ArrayBuffer): Uint8Array {
  const b = copyBytes(new Uint8Array(der));
  if (b.length === 0) return b;
  if (b[0]! & 0x80) {
    // negative: magnitude of the two's complement value
    let v = 0n;
    for (const x of b) v = (v << 8n) | BigInt(x);
    v = (1n << BigInt(b.length * 8)) - v;
    const hex = v.toString(16);
    return Uint8Array.from(Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex'));
  }
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.slice(i);
}

/** First CN value's raw bytes, up to the first NUL (what kmod's strlen sees), as latin1. */
function firstCommonName(nameDer: Uint8Array, file: string, base: number): string | undefined {
  const cn = nameAttributes(nameDer, file, base).find((a) => a.oid === OID_CN);
  if (!cn) return undefined;
  let end = cn.value.indexOf(0);
  if (end < 0) end = cn.value.length;
  return latin1(cn.value, 0, end);
}

const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '2.5.4.5': 'serialNumber',
};

/** A distinguished name as "CN=..., O=..." in certificate order. */
export function formatName(name: Name): string {
  const parts: string[] = [];
  for (const rdn of name) {
    for (const atv of rdn) {
      const v = atv.value;
      const s =
        v.utf8String ??
        v.printableString ??
        v.ia5String ??
        v.teletexString ??
        v.universalString ??
        v.bmpString ??
        (v.anyValue ? Buffer.from(v.anyValue).toString('hex') : '');
      parts.push(`${SHORT_NAMES[atv.type] ?? atv.type}=${s}`);
    }
  }
  return parts.join(', ');
}

/** What a decoded SignerInfo says, kept per decode (src/pki/pkcs7.ts shares decodes between a build's modules). */
const described = new WeakMap<SignerInfo, Omit<Pkcs7Info, 'signature'>>();

/**
 * Decodes a PKCS#7 SignedData as found in a module signature (src/pki/pkcs7.ts, the one decoder).
 * @throws FormatError E_ASN1 with the absolute offset of the blob.
 */
export function parsePkcs7(der: Uint8Array, file: string, base: number): Pkcs7Info {
  const msg = decodePkcs7(der, file, base);
  const signer = msg.signers[0];
  if (!signer)
    throw new FormatError('E_ASN1', { file, offset: base, format: 'pkcs7', detail: 'SignedData has no SignerInfo' });
  const si = signer.info;
  let info = described.get(si);
  if (!info) {
    const sd = msg.signedData;
    const ias = si.sid.issuerAndSerialNumber;
    const digestAlgorithm = si.digestAlgorithm.algorithm;
    const signatureAlgorithm = si.signatureAlgorithm.algorithm;
    info = {
      issuerCN: ias && signer.issuerDer ? firstCommonName(signer.issuerDer, file, base) : undefined,
      issuer: ias ? formatName(ias.issuer) : undefined,
      serial: ias ? serialMagnitude(ias.serialNumber) : undefined,
      subjectKeyId: si.sid.subjectKeyIdentifier
        ? copyBytes(new Uint8Array(si.sid.subjectKeyIdentifier.buffer))
        : undefined,
      digestAlgorithm,
      digestAlgorithmName: digestName(digestAlgorithm),
      signatureAlgorithm,
      signatureAlgorithmName: SIG_ALGO_NAMES[signatureAlgorithm] ?? signatureAlgorithm,
      signerCount: sd.signerInfos.length,
      certificateCount: sd.certificates?.length ?? 0,
      signedAttributes: (si.signedAttrs?.length ?? 0) > 0,
      detached: sd.encapContentInfo.eContent === undefined,
      version: sd.version,
    };
    described.set(si, info);
  }
  // The key order of a full decode (Pkcs7Info is printed as JSON).
  const { signerCount, certificateCount, signedAttributes, detached, version, ...head } = info;
  return {
    ...head,
    signature: copyBytes(signer.signature),
    signerCount,
    certificateCount,
    signedAttributes,
    detached,
    version,
  };
}

/** The five signature fields modinfo prints, computed exactly as kmod 30 does. */
export interface ModinfoSignatureFields {
  sig_id: string;
  signer: string;
  sig_key: Uint8Array;
  sig_hashalgo: string;
  signature: Uint8Array;
}

/**
 * kmod's view of a signature (kmod_module_signature_info): undefined where kmod shows no
 * signature fields at all (bad trailer enums, or a PKCS#7 that OpenSSL cannot read).
 */
export function modinfoSignatureFields(sig: ModuleSignature): ModinfoSignatureFields | undefined {
  const { raw } = sig;
  if (raw.algo >= PKEY_ALGO.length || raw.hash >= PKEY_HASH_ALGO.length || raw.id_type >= PKEY_ID_TYPE.length)
    return undefined;
  if (raw.id_type === PKEY_ID_PKCS7) {
    const p = sig.pkcs7;
    if (!p || !p.serial) return undefined;
    return {
      sig_id: PKEY_ID_TYPE[raw.id_type]!,
      signer: p.issuerCN ?? '',
      sig_key: p.serial,
      sig_hashalgo: p.digestAlgorithmName,
      signature: p.signature,
    };
  }
  return {
    sig_id: PKEY_ID_TYPE[raw.id_type]!,
    signer: latin1(sig.signerName, 0, sig.signerName.length),
    sig_key: sig.keyId,
    sig_hashalgo: PKEY_HASH_ALGO[raw.hash]!,
    signature: sig.sigData,
  };
}

/** Describes the algo field (for JSON). */
export function pkeyAlgoName(algo: number): string | undefined {
  return PKEY_ALGO[algo];
}
