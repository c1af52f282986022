/**
 * A module file split into what a detached-signature bundle records: the compression, the
 * unsigned ELF, and the one appended PKCS#7 (what `sign-file -d` writes as `<module>.p7s`).
 *
 *   file bytes --decompress--> [ unsigned ELF ][ PKCS#7 DER ][ struct module_signature ][ magic ]
 *                                 content          pkcs7          (12 bytes)            (28 bytes)
 *
 * Authority: scripts/sign-file.c (-d writes the bare CMS; -s appends a given CMS with id_type
 * PKEY_ID_PKCS7 and zero signer/key-id lengths); kernel-load-checks §1.1, §1.7, §5.
 */
import crypto from 'node:crypto';
import { FormatError } from '../bytes/errors.js';
import { copyBytes, toHex } from '../bytes/reader.js';
import { decompressModule, type Compression } from '../compress/index.js';
import { findModuleSignature, probeModuleSignature, PKEY_ID_PKCS7, type Pkcs7Info } from '../modsig/signature.js';
import { appendModuleSignature } from '../sign/cms.js';

/** How a PKCS#7 names its signer: issuer + serial (sign-file default) or subjectKeyIdentifier (sign-file -k). */
export interface SignerId {
  readonly keyIdType: 'issuer-serial' | 'skid';
  /** Serial magnitude (issuer-serial) or SKID, lowercase hex. */
  readonly keyId: string;
  /** Issuer DN for issuer-serial signers. */
  readonly issuer: string | undefined;
  /** Digest algorithm name (OpenSSL long name, e.g. "sha256"). */
  readonly hashAlgorithm: string;
}

export interface ModuleParts {
  readonly compression: Compression;
  /** The decompressed file (signed ELF when signed). May be the input itself for an uncompressed module. */
  readonly decompressed: Uint8Array;
  /** Unsigned ELF: a view into `decompressed`. */
  readonly content: Uint8Array;
  /** The PKCS#7 DER, a copy; undefined when the module is unsigned. */
  readonly pkcs7: Uint8Array | undefined;
  readonly signer: SignerId | undefined;
}

/** The signer of a decoded PKCS#7, as recorded in a bundle manifest. */
export function signerId(p: Pkcs7Info): SignerId {
  if (p.subjectKeyId)
    return { keyIdType: 'skid', keyId: toHex(p.subjectKeyId), issuer: undefined, hashAlgorithm: p.digestAlgorithmName };
  return {
    keyIdType: 'issuer-serial',
    keyId: p.serial ? toHex(p.serial) : '',
    issuer: p.issuer,
    hashAlgorithm: p.digestAlgorithmName,
  };
}

/**
 * Decompresses a module file and splits off its signature.
 * `exact` (default true) requires that `content ‖ pkcs7 ‖ canonical trailer ‖ magic` rebuilds the
 * decompressed bytes exactly (sign-file's layout), so that a later attach reproduces the file.
 * @throws FormatError E_COMPRESS/E_TRUNCATED/E_LIMIT (stream), E_SIG (malformed trailer, more than one
 *         signature, non-canonical trailer), E_UNSUPPORTED (id_type other than PKCS#7), E_ASN1
 */
export async function splitModule(
  data: Uint8Array,
  file: string,
  options: { exact?: boolean } = {},
): Promise<ModuleParts> {
  const { data: decompressed, compression } = await decompressModule(data, file);
  const sig = findModuleSignature(decompressed, file);
  if (!sig) return { compression, decompressed, content: decompressed, pkcs7: undefined, signer: undefined };
  const fail = (code: 'E_SIG' | 'E_UNSUPPORTED', offset: number, detail: string): FormatError =>
    new FormatError(code, { file, offset, format: 'modsig', detail });
  if (sig.raw.id_type !== PKEY_ID_PKCS7 || !sig.pkcs7)
    throw fail(
      'E_UNSUPPORTED',
      sig.trailerOffset + 2,
      `id_type ${sig.raw.id_type} is not PKCS#7: a bundle holds only PKCS#7 signatures`,
    );
  const content = decompressed.subarray(0, sig.moduleLength);
  if (probeModuleSignature(content))
    throw fail(
      'E_SIG',
      sig.moduleLength,
      'more than one signature is appended (stacked signatures cannot be detached one by one)',
    );
  const pkcs7 = copyBytes(sig.sigData);
  if (
    options.exact !== false &&
    (sig.raw.signer_len !== 0 ||
      sig.raw.key_id_len !== 0 ||
      !bytesEqual(
        appendModuleSignature(content, pkcs7).subarray(sig.moduleLength),
        decompressed.subarray(sig.moduleLength),
      ))
  ) {
    throw fail(
      'E_SIG',
      sig.trailerOffset,
      'the signature trailer is not the canonical sign-file one; re-attaching would not reproduce the file',
    );
  }
  return { compression, decompressed, content, pkcs7, signer: signerId(sig.pkcs7) };
}

export function sha256Hex(data: Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.length === b.length &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
  );
}

/** A module path without its compression suffix ("a/b.ko.xz" → "a/b.ko"): the pairing key across builds. */
export function moduleKey(relPath: string): string {
  return relPath.replace(/\.ko\.(xz|zst|gz)$/, '.ko');
}
