/**
 * The file edge for keys: the only place in src/keys/ that touches the file system.
 * Private keys are written only when a caller asks, created 0600 from the first byte
 * (temp file opened 'wx' with mode 0o600, then renamed into place).
 */
import fs from 'node:fs';
import crypto, { type KeyObject } from 'node:crypto';
import { KmodsealError } from '../bytes/errors.js';
import { writeFileAtomic } from '../node/atomic.js';
import { readFileBytes } from '../node/files.js';

export const PRIVATE_KEY_MODE = 0o600;

/**
 * Writes a private key (PEM text) to `file` with mode 0600.
 * @param options.overwrite replace an existing file (default false: E_IO if it exists)
 * @throws KmodsealError E_IO
 */
export function writePrivateKeyFile(file: string, pem: string, options: { overwrite?: boolean } = {}): void {
  if (!options.overwrite && fs.existsSync(file)) throw new KmodsealError('E_IO', `${file}: already exists (refusing to overwrite a key)`);
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
export function readPrivateKeyFile(file: string, passphrase = process.env.KBUILD_SIGN_PIN): KeyObject {
  const bytes = readFileBytes(file);
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    const pem = data.subarray(0, 11).toString('latin1') === '-----BEGIN ';
    return crypto.createPrivateKey(pem ? { key: data, format: 'pem', passphrase } : { key: data, format: 'der', type: 'pkcs8', passphrase });
  } catch (e) {
    throw new KmodsealError('E_FORMAT', `${file}: not a usable private key: ${(e as Error).message}`, { cause: e });
  }
}
