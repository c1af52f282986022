/**
 * {@link Signer} over a node:crypto private key held in memory.
 *
 * It signs module content with `crypto.sign(hash, content, key)`: OpenSSL hashes and signs,
 * nothing cryptographic is done by hand. RSA PKCS#1 v1.5 is deterministic, so the signature
 * (and the PKCS#7) equals sign-file's byte for byte. RSA can also sign a precomputed digest
 * (`privateEncrypt` over the DigestInfo is the same type-1 block); ECDSA cannot with
 * node:crypto, and an in-memory key never needs to: the content is at hand.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { KmodsealError } from '../bytes/errors.js';
import { bytesEqual, certificateToDer } from './certificate.js';
import { encodeDigestInfo, type HashAlgorithm, type Signer } from './signer.js';

function toPrivateKey(k: KeyObject | string | Uint8Array): KeyObject {
  if (typeof k === 'string') return crypto.createPrivateKey(k);
  if (k instanceof Uint8Array) {
    const isDer = k[0] === 0x30;
    return crypto.createPrivateKey(isDer ? { key: Buffer.from(k), format: 'der', type: 'pkcs8' } : { key: Buffer.from(k), format: 'pem' });
  }
  return k;
}

/**
 * A signer over an in-memory private key.
 * @param privateKey KeyObject, or PEM/DER (PKCS#8, PKCS#1 or SEC 1) as accepted by crypto.createPrivateKey
 * @param certificate the matching X.509 certificate, DER or PEM
 * @throws KmodsealError E_UNSUPPORTED (key type other than RSA/EC), E_FORMAT (certificate does not match the key)
 */
export function createNodeSigner(privateKey: KeyObject | string | Uint8Array, certificate: Uint8Array | string): Signer {
  const key = toPrivateKey(privateKey);
  if (key.type !== 'private') throw new KmodsealError('E_UNSUPPORTED', 'a private key is required');
  const der = certificateToDer(certificate);
  const certKey = new crypto.X509Certificate(Buffer.from(der)).publicKey;
  const pub = crypto.createPublicKey(key);
  if (!bytesEqual(pub.export({ format: 'der', type: 'spki' }), certKey.export({ format: 'der', type: 'spki' }))) {
    throw new KmodsealError('E_FORMAT', 'the certificate does not belong to the private key');
  }
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const modulusBits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return {
      algorithm: 'rsa',
      certificate: der,
      signatureLength: Math.ceil(modulusBits / 8),
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
      sign(): Uint8Array {
        throw new KmodsealError('E_UNSUPPORTED', 'an in-memory ECDSA key signs content (signContent), not a precomputed digest');
      },
      signContent(hash: HashAlgorithm, content: Uint8Array): Uint8Array {
        return new Uint8Array(crypto.sign(hash, content, { key, dsaEncoding: 'der' }));
      },
    };
  }
  throw new KmodsealError('E_UNSUPPORTED', `key type ${type ?? '?'} cannot sign modules (RSA or ECDSA only)`);
}
