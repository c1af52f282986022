/**
 * The optional native signer (native/crypto.c): module signatures made by the system
 * libcrypto (the library sign-file uses) instead of the OpenSSL copy bundled into node, and for
 * EC keys by a newer OpenSSL when scripts/build-openssl.sh built one.
 * Built by scripts/build-native.sh when libssl-dev is present; without it (or with
 * KMODSEAL_NO_NATIVE=1, or KMODSEAL_NO_NATIVE_CRYPTO=1 for this addon alone) node:crypto signs.
 * The addon only wraps OpenSSL's EVP calls: key loading from DER and EVP_PKEY_sign /
 * EVP_DigestSign, and EVP_DigestVerify (`check` verifies ECDSA module signatures through the
 * newer OpenSSL: twice as fast for P-384). Keys reach it in memory, never through a file.
 */
import { KmodsealError } from '../bytes/errors.js';
import type { HashAlgorithm } from './signer.js';
import { loadAddon } from '../io/addon.js';
import { noNative, noNativeCrypto, systemLibcrypto } from '../io/env.js';

/** An EVP_PKEY held by the addon; freed when this value is garbage-collected. */
export type NativeKeyHandle = { readonly __nativeKey: unique symbol };

export interface NativeCrypto {
  /** The libcrypto actually in use: OpenSSL_version() and the file its functions come from. */
  version(): { version: string; library: string };
  /** A private key from DER (PKCS#8, or PKCS#1 / SEC 1). */
  loadKey(der: Uint8Array): NativeKeyHandle;
  keyType(handle: NativeKeyHandle): 'rsa' | 'ec';
  /** The largest signature in bytes (RSA: the modulus size). */
  keySize(handle: NativeKeyHandle): number;
  /** EVP_PKEY_sign over a precomputed digest: RSA PKCS#1 v1.5 over the DigestInfo, or DER ECDSA. */
  sign(handle: NativeKeyHandle, hash: HashAlgorithm, digest: Uint8Array): Buffer;
  /** EVP_DigestSign over the content (libcrypto hashes it): the same signature values. */
  signContent(handle: NativeKeyHandle, hash: HashAlgorithm, content: Uint8Array): Buffer;
  /** A public key from DER SubjectPublicKeyInfo (absent in an addon built before it existed). */
  loadPublicKey?(spki: Uint8Array): NativeKeyHandle;
  /** EVP_DigestVerify: RSA PKCS#1 v1.5 or DER ECDSA over the content; false when it does not verify. */
  verifyContent?(handle: NativeKeyHandle, hash: string, content: Uint8Array, signature: Uint8Array): boolean;
}

const usable = new Map<string, NativeCrypto | null>();

function loadCryptoAddon(name: string): NativeCrypto | null {
  if (usable.has(name)) return usable.get(name)!;
  let found = loadAddon<NativeCrypto>(name);
  try {
    found?.version(); // opens its libcrypto: a missing library means no native path
  } catch {
    found = null;
  }
  usable.set(name, found);
  return found;
}

/**
 * The addon for a key type, or null when it is not built or disabled. Loaded once per thread.
 * EC keys sign through kmodseal_crypto_new (the newer OpenSSL scripts/build-openssl.sh built:
 * its 64-bit P-384 is about 3.5x as fast) unless KMODSEAL_SYSTEM_LIBCRYPTO=1; RSA keys through
 * the system libcrypto (the newer one is no faster there).
 */
export function loadNativeCrypto(keyType: 'rsa' | 'ec' = 'rsa'): NativeCrypto | null {
  if (noNative() || noNativeCrypto()) return null;
  const newer = keyType === 'ec' && !systemLibcrypto() ? loadCryptoAddon('kmodseal_crypto_new') : null;
  return newer ?? loadCryptoAddon('kmodseal_crypto');
}

/** Digests every libcrypto the addons open has (the newer one is built without MD4 and SM3). */
const NATIVE_VERIFY_HASHES = new Set([
  'sha1',
  'sha224',
  'sha256',
  'sha384',
  'sha512',
  'sha3-256',
  'sha3-384',
  'sha3-512',
]);

/**
 * A verifier for an EC public key (DER SubjectPublicKeyInfo) through the addon that signs EC
 * keys, or undefined (no addon, disabled, or one built before verification existed). The
 * verifier answers undefined for a digest it leaves to node:crypto. Belongs to this thread.
 */
export function nativeEcVerifier(
  spki: Uint8Array,
): ((hash: string, content: Uint8Array, signature: Uint8Array) => boolean | undefined) | undefined {
  const n = loadNativeCrypto('ec');
  if (!n?.loadPublicKey || !n.verifyContent) return undefined;
  let handle: NativeKeyHandle;
  try {
    handle = n.loadPublicKey(spki);
  } catch {
    return undefined;
  }
  const verify = n.verifyContent.bind(n);
  return (hash, content, signature) => {
    if (!NATIVE_VERIFY_HASHES.has(hash)) return undefined;
    try {
      return verify(handle, hash, content, signature);
    } catch {
      return false;
    }
  };
}

/** Whether signers made by createNodeSigner sign through a native libcrypto. */
export function nativeSignerAvailable(): boolean {
  return loadNativeCrypto() !== null;
}

/** The libcrypto the native signer uses for a key type (version string and file), or undefined without it. */
export function nativeSignerLibrary(keyType: 'rsa' | 'ec' = 'rsa'): { version: string; library: string } | undefined {
  return loadNativeCrypto(keyType)?.version();
}

/** Rewraps an addon failure ({code, message} with OpenSSL's reason) as a typed error. */
export function nativeError(e: unknown, what: string): KmodsealError {
  const err = e as Error & { code?: string };
  const code =
    err.code === 'E_FORMAT' || err.code === 'E_UNSUPPORTED' || err.code === 'E_USAGE' ? err.code : 'E_UNSUPPORTED';
  return new KmodsealError(code, `${what}: ${err.message}`, { cause: e });
}
