/**
 * The one way a command turns its key into a Signer: an RFC 7512 `pkcs11:` URI opens the token
 * (src/keys/pkcs11-signer.ts), anything else is a PEM private key signed in memory
 * (src/keys/node-signer.ts).
 */
import { createNodeSigner } from './node-signer.js';
import { openPkcs11Signer } from './pkcs11-signer.js';
import type { Signer } from './signer.js';

/** A `pkcs11:` URI, or the text of a PEM private key; `pkcs11Module` overrides the URI's module. */
export function openSigner(key: string, certificate: Uint8Array, pkcs11Module?: string): Signer {
  return key.startsWith('pkcs11:')
    ? openPkcs11Signer(key, { certificate, ...(pkcs11Module ? { modulePath: pkcs11Module } : {}) })
    : createNodeSigner(key, certificate);
}
