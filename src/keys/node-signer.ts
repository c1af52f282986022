/**
 * {@link Signer} over a private key held in memory.
 *
 * When the native signer is built (native/crypto.c, see ./native-crypto.ts) the key is handed
 * to the system libcrypto once (DER PKCS#8, in memory) and every signature is made there:
 * EVP_DigestSign over the content, or EVP_PKEY_sign over a precomputed digest (RSA PKCS#1
 * v1.5 over the DigestInfo; ECDSA in DER). Otherwise node:crypto signs: `crypto.sign(hash,
 * content, key)`, or `privateEncrypt` over the DigestInfo for an RSA digest (the same type-1
 * block); node:crypto cannot sign an ECDSA digest, and an in-memory key never needs to: the
 * content is at hand. Either way OpenSSL does the cryptography, nothing is done by hand, and
 * RSA PKCS#1 v1.5 being deterministic, the signature (and the PKCS#7) equals sign-file's byte
 * for byte.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { KmodsealError } from '../bytes/errors.js';
import { bytesEqual, certificateToDer } from './certificate.js';
import { parseCertificate } from '../pki/certificate.js';
import { encodeDigestInfo, type HashAlgorithm, type Signer } from './signer.js';
import { loadNativeCrypto, nativeError, type NativeCrypto, type NativeKeyHandle } from './native-crypto.js';

function toPrivateKey(k: KeyObject | string | Uint8Array): KeyObject {
  if (typeof k === 'string') return crypto.createPrivateKey(k);
  if (k instanceof Uint8Array) {
    const isDer = k[0] === 0x30;
    return crypto.createPrivateKey(
      isDer ? { key: Buffer.from(k), format: 'der', type: 'pkcs8' } : { key: Buffer.from(k), format: 'pem' },
    );
  }
  return k;
}

const ECDSA_DIGEST_ERROR = (): KmodsealError =>
  new KmodsealError('E_UNSUPPORTED', 'an in-memory ECDSA key signs content (signContent), not a precomputed digest');
const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** A signer whose signatures the system libcrypto makes (the key is loaded there once). */
function createLibcryptoSigner(
  n: NativeCrypto,
  key: KeyObject,
  algorithm: 'rsa' | 'ecdsa',
  certificate: Uint8Array,
): Signer {
  let handle: NativeKeyHandle;
  try {
    handle = n.loadKey(key.export({ format: 'der', type: 'pkcs8' }));
  } catch (e) {
    throw nativeError(e, 'the system libcrypto cannot load the private key');
  }
  return {
    algorithm,
    certificate,
    signatureLength: algorithm === 'rsa' ? n.keySize(handle) : undefined,
    backend: 'libcrypto',
    sign(hash: HashAlgorithm, digest: Uint8Array): Uint8Array {
      // The same capabilities with or without the addon: node:crypto cannot sign an ECDSA
      // digest, so neither does this signer (callers sign content; see createNodeSigner).
      if (algorithm === 'ecdsa') throw ECDSA_DIGEST_ERROR();
      try {
        return u8(n.sign(handle, hash, digest));
      } catch (e) {
        throw nativeError(e, `${hash} ${algorithm} signature`);
      }
    },
    signContent(hash: HashAlgorithm, content: Uint8Array): Uint8Array {
      try {
        return u8(n.signContent(handle, hash, content));
      } catch (e) {
        throw nativeError(e, `${hash} ${algorithm} signature`);
      }
    },
  };
}

/**
 * A signer over an in-memory private key: through the system libcrypto when the native signer
 * is built, else node:crypto (`options.native: false` forces node:crypto).
 * @param privateKey KeyObject, or PEM/DER (PKCS#8, PKCS#1 or SEC 1) as accepted by crypto.createPrivateKey
 * @param certificate the matching X.509 certificate, DER or PEM
 * @throws KmodsealError E_UNSUPPORTED (key type other than RSA/EC), E_FORMAT (certificate does not match the key)
 */
export function createNodeSigner(
  privateKey: KeyObject | string | Uint8Array,
  certificate: Uint8Array | string,
  options: { native?: boolean } = {},
): Signer {
  const key = toPrivateKey(privateKey);
  if (key.type !== 'private') throw new KmodsealError('E_UNSUPPORTED', 'a private key is required');
  const der = certificateToDer(certificate);
  const certKey = crypto.createPublicKey({ key: Buffer.from(parseCertificate(der).spki), format: 'der', type: 'spki' });
  const pub = crypto.createPublicKey(key);
  if (!bytesEqual(pub.export({ format: 'der', type: 'spki' }), certKey.export({ format: 'der', type: 'spki' }))) {
    throw new KmodsealError('E_FORMAT', 'the certificate does not belong to the private key');
  }
  const type = key.asymmetricKeyType;
  const n = options.native === false ? null : loadNativeCrypto(type === 'ec' ? 'ec' : 'rsa');
  if (n && (type === 'rsa' || type === 'ec'))
    return createLibcryptoSigner(n, key, type === 'rsa' ? 'rsa' : 'ecdsa', der);
  if (type === 'rsa') {
    const modulusBits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return {
      algorithm: 'rsa',
      certificate: der,
      signatureLength: Math.ceil(modulusBits / 8),
      backend: 'node',
      sign(hash: HashAlgorithm, digest: Uint8Array): Uint8Array {
        const info = encodeDigestInfo(hash, digest);
        return new Uint8Array(crypto.privateEncrypt({ key, padding: crypto.constants.RSA_PKCS1_PADDING }, info));
      },
      signContent(hash: HashAlgorithm, content: Uint8Array): Uint8Array {
        return new Uint8Array(crypto.sign(hash, content, { key, padding: crypto.constants.RSA_PKCS1_PADDING }));
      },
    };
  }
  if (type === 'ec') {
    return {
      algorithm: 'ecdsa',
      certificate: der,
      signatureLength: undefined,
      backend: 'node',
      sign(): Uint8Array {
        throw ECDSA_DIGEST_ERROR();
      },
      signContent(hash: HashAlgorithm, content: Uint8Array): Uint8Array {
        return new Uint8Array(crypto.sign(hash, content, { key, dsaEncoding: 'der' }));
      },
    };
  }
  throw new KmodsealError('E_UNSUPPORTED', `key type ${type ?? '?'} cannot sign modules (RSA or ECDSA only)`);
}
