/**
 * The file edge for keys and certificates: the only place in src/keys/ that touches the file
 * system (besides loading the libcrypto addon).
 * Private keys are written only when a caller asks, created 0600 from the first byte
 * (temp file opened 'wx' with mode 0o600, then renamed into place).
 */
import fs from 'node:fs';
import crypto, { type KeyObject } from 'node:crypto';
import { KmodsealError } from '../bytes/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readFileBytes } from '../io/files.js';
import { certificatesFromPem } from './certificate.js';
import { parseCertificate } from '../pki/certificate.js';
import { signPinFromEnv } from '../io/env.js';

export const PRIVATE_KEY_MODE = 0o600;

/**
 * Writes a private key (PEM text) to `file` with mode 0600.
 * @param options.overwrite replace an existing file (default false: E_IO if it exists)
 * @throws KmodsealError E_IO
 */
export function writePrivateKeyFile(file: string, pem: string, options: { overwrite?: boolean } = {}): void {
  if (!options.overwrite && fs.existsSync(file))
    throw new KmodsealError('E_IO', `${file}: already exists (refusing to overwrite a key)`);
  writeFileAtomic(file, pem, PRIVATE_KEY_MODE);
}

/** Writes a certificate or other public data (mode 0644). */
export function writePublicFile(file: string, data: Uint8Array | string): void {
  writeFileAtomic(file, data, 0o644);
}

/**
 * Reads a private key file (PEM or DER; PKCS#8, PKCS#1 or SEC 1). `passphrase` defaults to
 * KBUILD_SIGN_PIN, like sign-file.
 * @throws KmodsealError E_IO (unreadable), E_FORMAT (not a key / wrong passphrase)
 */
export function readPrivateKeyFile(file: string, passphrase = signPinFromEnv()): KeyObject {
  const bytes = readFileBytes(file);
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    const pem = data.subarray(0, 11).toString('latin1') === '-----BEGIN ';
    return crypto.createPrivateKey(
      pem ? { key: data, format: 'pem', passphrase } : { key: data, format: 'der', type: 'pkcs8', passphrase },
    );
  } catch (e) {
    throw new KmodsealError('E_FORMAT', `${file}: not a usable private key: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The DER certificates in a file: one DER certificate, or every CERTIFICATE block of a PEM
 * file. Each must parse as X.509 (the one certificate parser of src/pki, which accepts what the
 * kernel's x509_cert_parse accepts).
 * @throws KmodsealError E_USAGE (PEM without certificates), E_IO; FormatError E_ASN1/E_TRUNCATED (not X.509)
 */
export function readCertificateFile(file: string): Uint8Array[] {
  const bytes = readFileBytes(file);
  const text = Buffer.from(bytes).toString('latin1');
  const ders = text.includes('-----BEGIN') ? certificatesFromPem(text) : [bytes];
  if (!ders.length) throw new KmodsealError('E_USAGE', `${file}: no certificate in this PEM file`);
  // A FormatError names the file and the offset of the first byte the parser refused.
  for (const der of ders) parseCertificate(der, { file });
  return ders;
}
