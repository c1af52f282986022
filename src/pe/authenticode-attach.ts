/**
 * The multi-stage flow for PE images: take a signature out of an image (detach), take it off
 * (remove) and put a signature made elsewhere on (attach), byte for byte as sbsigntools'
 * `sbattach` does (`--detach`, `--remove`, `--attach`, `--signum`).
 *
 * Authority: sbsigntools 0.9.4 `src/sbattach.c`, `src/image.c` (image_load pads the data to 8,
 * image_remove_signature, image_add_signature, image_write: DataDirectory[4] = {data size,
 * table size}, or {0, 0} when no entry is left; CheckSum recomputed).
 */
import { KmodsealError } from '../bytes/errors.js';
import { toHex } from '../bytes/reader.js';
import { concatBytes } from '../pki/der.js';
import { decodeAuthenticodeSignature, imageDigester, type AuthenticodeSignature } from './authenticode.js';
import { attachAuthenticodeSignature, preparePeImage, withCertificateTable } from './authenticode-sign.js';

const align8 = (n: number): number => (n + 7) & ~7;

/** The certificate-table entries of a prepared image, each with its padding, in table order. */
function entries(data: Uint8Array, file: string): { prepared: ReturnType<typeof preparePeImage>; list: Uint8Array[] } {
  const prepared = preparePeImage(data, file);
  const base = prepared.pe.certTable?.offset ?? 0;
  const list = prepared.pe.certificates.map((c) =>
    prepared.existingEntries.subarray(c.offset - base, c.offset - base + align8(c.length)),
  );
  return { prepared, list };
}

function pick(count: number, signum: number, file: string): number {
  if (!Number.isInteger(signum) || signum < 1)
    throw new KmodsealError('E_USAGE', `--signum: expected a number from 1, got ${signum}`);
  if (count === 0) throw new KmodsealError('E_NOTFOUND', `${file}: the image carries no signature`);
  if (signum > count)
    throw new KmodsealError(
      'E_NOTFOUND',
      `${file}: the image carries ${count} signature${count === 1 ? '' : 's'}, not ${signum}`,
    );
  return signum - 1;
}

/** What a detached or attached signature is, read with the image it belongs to. */
export interface PeSignatureOperation {
  /** The PKCS#7 DER (what `sbattach --detach` writes / what `--attach` reads). */
  readonly pkcs7: Uint8Array;
  /** Its signers and signed digest, against the image's Authenticode digest. */
  readonly signature: AuthenticodeSignature;
  /** The image after the operation (remove/attach), or undefined (detach only). */
  readonly image: Uint8Array | undefined;
  /** Signatures the image carries afterwards. */
  readonly remaining: number;
}

/**
 * Signature `signum` (from 1) of the image, as `sbattach --detach [--signum N]` writes it; with
 * `remove`, also the image without it, as `sbattach --detach --remove` / `--remove` leave it.
 * @throws KmodsealError E_NOTFOUND (no such signature), E_USAGE; FormatError for a malformed image.
 */
export function detachPeSignature(data: Uint8Array, file: string, signum = 1, remove = false): PeSignatureOperation {
  const { prepared, list } = entries(data, file);
  const i = pick(list.length, signum, file);
  const cert = prepared.pe.certificates[i]!;
  const pkcs7 = cert.data.slice();
  const signature = decodeAuthenticodeSignature(pkcs7, file, cert.offset + 8, imageDigester(data, prepared.pe));
  const image = remove ? withCertificateTable(prepared, concatBytes(list.filter((_, j) => j !== i))) : undefined;
  return { pkcs7, signature, image, remaining: remove ? list.length - 1 : list.length };
}

/**
 * The image with `pkcs7` (a detached Authenticode signature, as `sbsign --detached` or
 * `efi sign --detached` write it) appended as one more entry, as `sbattach --attach` appends it.
 * sbattach checks only that the blob parses; here the signed digest must also be the image's
 * (a signature over another image is refused) unless `force`.
 * @throws KmodsealError E_SIG when the digest differs; FormatError for a malformed image or signature.
 */
export function attachPeSignature(
  data: Uint8Array,
  file: string,
  pkcs7: Uint8Array,
  signatureFile: string,
  force = false,
): PeSignatureOperation {
  const prepared = preparePeImage(data, file);
  // the digest of the image as it will be hashed: padded to 8, without a certificate table
  // (the SHA-256 one preparePeImage computed; any other algorithm a signature names, computed here)
  const other = imageDigester(prepared.body, { ...prepared.pe, certTable: undefined });
  const sha256 = toHex(prepared.digest);
  const digester = (alg: string): string => (alg === 'sha256' ? sha256 : other(alg));
  const signature = decodeAuthenticodeSignature(pkcs7, signatureFile, 0, digester);
  if (!signature.digestMatches && !force)
    throw new KmodsealError(
      'E_SIG',
      `${signatureFile}: the signature is over another image (signed ${signature.digestAlgorithm} ` +
        `${signature.signedDigest}, ${file} is ${signature.imageDigest}); --force attaches it anyway`,
    );
  return {
    pkcs7,
    signature,
    image: attachAuthenticodeSignature(prepared, pkcs7),
    remaining: prepared.pe.certificates.length + 1,
  };
}
