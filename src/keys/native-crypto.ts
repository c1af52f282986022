/**
 * The optional native signer (native/crypto.c): module signatures made by the system
 * libcrypto (the library sign-file uses) instead of the OpenSSL copy bundled into node.
 * Built by scripts/build-native.sh when libssl-dev is present; without it (or with
 * KMODSEAL_NO_NATIVE=1, or KMODSEAL_NO_NATIVE_CRYPTO=1 for this addon alone) node:crypto signs.
 * The addon only wraps OpenSSL's EVP calls: key loading from DER and EVP_PKEY_sign /
 * EVP_DigestSign. Keys reach it in memory, never through a file.
 */
import { createRequire } from 'node:module';
import { KmodsealError } from '../bytes/errors.js';
import type { HashAlgorithm } from './signer.js';

const require = createRequire(import.meta.url);

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
}

let native: NativeCrypto | null | undefined;

/** The addon, or null when it is not built or disabled. Loaded once per thread. */
export function loadNativeCrypto(): NativeCrypto | null {
  if (native !== undefined) return native;
  if (process.env.KMODSEAL_NO_NATIVE === '1' || process.env.KMODSEAL_NO_NATIVE_CRYPTO === '1') return (native = null);
  // src/keys/ under tsx and dist/bundle/ are two levels below the root, dist/src/keys/ three
  for (const p of ['../../native/build/Release/kmodseal_crypto.node', '../../../native/build/Release/kmodseal_crypto.node']) {
    let mod: NativeCrypto;
    try {
      mod = require(p) as NativeCrypto;
    } catch {
      continue;
    }
    try {
      mod.version(); // opens the system libcrypto: a missing libcrypto.so.3 means no native path
    } catch {
      return (native = null);
    }
    return (native = mod);
  }
  return (native = null);
}

/** Whether signers made by createNodeSigner sign through the system libcrypto. */
export function nativeSignerAvailable(): boolean {
  return loadNativeCrypto() !== null;
}

/** The system libcrypto the native signer uses (version string and file), or undefined without it. */
export function nativeSignerLibrary(): { version: string; library: string } | undefined {
  return loadNativeCrypto()?.version();
}

/** Rewraps an addon failure ({code, message} with OpenSSL's reason) as a typed error. */
export function nativeError(e: unknown, what: string): KmodsealError {
  const err = e as Error & { code?: string };
  const code = err.code === 'E_FORMAT' || err.code === 'E_UNSUPPORTED' || err.code === 'E_USAGE' ? err.code : 'E_UNSUPPORTED';
  return new KmodsealError(code, `${what}: ${err.message}`, { cause: e });
}
