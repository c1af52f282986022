/**
 * Authenticode signing of a PE image with a key file or an HSM, as `sbsign` signs: the one path
 * behind `efi sign`, `uki build --key` and the UKI's inner kernel. The PKCS#7 layout is
 * `src/pe/authenticode-sign.ts`'s; the key is opened by `src/keys/open-signer.ts`.
 */
import crypto from 'node:crypto';
import { parseCertificate } from '../pki/certificate.js';
import { openSigner } from '../keys/open-signer.js';
import {
  authenticodeSignedAttributes,
  encodeAuthenticodeSignedData,
  type PreparedPeImage,
} from '../pe/authenticode-sign.js';

/** Who signs, and when. */
export interface AuthenticodeKey {
  /** A PEM private key's text, or an RFC 7512 `pkcs11:` URI. */
  readonly key: string;
  /** The signer's certificate (DER) and the file it came from (for messages). */
  readonly certificate: Uint8Array;
  readonly certFile: string;
  /** Intermediates to carry after the signer's certificate (DER), as sbsign --addcert. */
  readonly extraCertificates?: readonly Uint8Array[];
  readonly pkcs11Module: string | undefined;
  /** The signingTime attribute. */
  readonly time: Date;
}

/** The detached Authenticode signature (PKCS#7 DER) of a prepared image, as `sbsign --detached` writes it. */
export async function signAuthenticode(prepared: PreparedPeImage, k: AuthenticodeKey): Promise<Uint8Array> {
  const signer = openSigner(k.key, k.certificate, k.pkcs11Module);
  let signature: Uint8Array;
  try {
    const attrs = authenticodeSignedAttributes(prepared.digest, k.time);
    signature = signer.signContent
      ? await signer.signContent('sha256', attrs)
      : await signer.sign('sha256', new Uint8Array(crypto.createHash('sha256').update(attrs).digest()));
  } finally {
    await signer.close?.();
  }
  return encodeAuthenticodeSignedData({
    digest: prepared.digest,
    signer: parseCertificate(k.certificate, { file: k.certFile }),
    extraCertificates: k.extraCertificates ?? [],
    signingTime: k.time,
    keyAlgorithm: signer.algorithm,
    signature,
  });
}
