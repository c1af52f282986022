/** `efi sign` (Authenticode, byte-identical to sbsign) and `efi verify` (EDK2's db verdict). */
import { sourceDateEpochFromEnv } from '../../io/env.js';
import crypto from 'node:crypto';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { KmodsealError } from '../../bytes/errors.js';
import { readCertificateFile } from '../../keys/key-file.js';
import { openSigner } from '../../keys/open-signer.js';
import { parseCertificate } from '../../pki/certificate.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { readFileBytes } from '../../io/files.js';
import {
  attachAuthenticodeSignature,
  authenticodeSignedAttributes,
  encodeAuthenticodeSignedData,
  preparePeImage,
} from '../../pe/authenticode-sign.js';
import { verifyPeSignatures } from '../../pe/authenticode-verify.js';
import { efiVerifyJson, efiVerifyText } from '../../report/efi.js';

/**
 * The signing time: `--signing-time` (RFC 3339, or @SECONDS since the epoch), else
 * SOURCE_DATE_EPOCH, else now (what sbsign puts in its signingTime attribute).
 */
export function signingTime(option: string | undefined, sourceDateEpoch: string | undefined, now = new Date()): Date {
  const epoch = (s: string, what: string): Date => {
    if (!/^-?\d+$/.test(s)) throw new KmodsealError('E_USAGE', `${what}: expected seconds since the epoch, got '${s}'`);
    return new Date(Number(s) * 1000);
  };
  if (option !== undefined) {
    if (option.startsWith('@')) return epoch(option.slice(1), '--signing-time');
    if (!/^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$/.test(option))
      throw new KmodsealError(
        'E_USAGE',
        `--signing-time: expected RFC 3339 (2024-01-02T03:04:05Z) or @SECONDS, got '${option}'`,
      );
    const d = new Date(option.replace(' ', 'T'));
    if (Number.isNaN(d.getTime())) throw new KmodsealError('E_USAGE', `--signing-time: invalid time '${option}'`);
    return d;
  }
  if (sourceDateEpoch !== undefined && sourceDateEpoch !== '') return epoch(sourceDateEpoch, 'SOURCE_DATE_EPOCH');
  return now;
}

/** `efi sign`: the signed image (or, with --detached, the PKCS#7) written atomically to --output. */
export async function efiSignCommand(
  input: string,
  o: {
    key?: string;
    cert?: string;
    addcert?: string[];
    signingTime?: string;
    detached?: true;
    output?: string;
    pkcs11Module?: string;
  },
  io: Io,
): Promise<ExitCode> {
  if (!o.key || !o.cert || !o.output)
    throw new KmodsealError('E_USAGE', 'efi sign needs --key (PEM file or pkcs11: URI), --cert and --output');
  const time = signingTime(o.signingTime, sourceDateEpochFromEnv());
  const certificate = readCertificateFile(o.cert)[0]!;
  const extra = (o.addcert ?? []).flatMap(readCertificateFile);
  const prepared = preparePeImage(readFileBytes(input), input);
  const key = o.key.startsWith('pkcs11:') ? o.key : Buffer.from(readFileBytes(o.key)).toString('latin1');
  const signer = openSigner(key, certificate, o.pkcs11Module);
  let signature: Uint8Array;
  try {
    const attrs = authenticodeSignedAttributes(prepared.digest, time);
    signature = signer.signContent
      ? await signer.signContent('sha256', attrs)
      : await signer.sign('sha256', new Uint8Array(crypto.createHash('sha256').update(attrs).digest()));
  } finally {
    await signer.close?.();
  }
  const pkcs7 = encodeAuthenticodeSignedData({
    digest: prepared.digest,
    signer: parseCertificate(certificate, { file: o.cert }),
    extraCertificates: extra,
    signingTime: time,
    keyAlgorithm: signer.algorithm,
    signature,
  });
  writeFileAtomic(o.output, o.detached ? pkcs7 : attachAuthenticodeSignature(prepared, pkcs7));
  if (prepared.existingEntries.length && !o.detached)
    io.stderr(`kmodseal: ${input} was already signed; adding an additional signature\n`);
  return EXIT.OK;
}

/** `efi verify`: 0 when some signature would be accepted, 4 when none would. */
export function efiVerifyCommand(input: string, o: { cert?: string[]; json?: true }, io: Io): ExitCode {
  const trusted = (o.cert ?? []).flatMap(readCertificateFile);
  const result = verifyPeSignatures(readFileBytes(input), input, trusted);
  io.stdout(o.json ? efiVerifyJson(input, result) : efiVerifyText(input, result));
  return result.accepted ? EXIT.OK : EXIT.CHECK_FAILED;
}
