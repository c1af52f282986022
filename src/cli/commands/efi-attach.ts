/** `efi detach` and `efi attach`: sbattach's multi-stage flow for PE images, bit-exact. */
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { KmodsealError } from '../../bytes/errors.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { readFileBytes } from '../../io/files.js';
import { attachPeSignature, detachPeSignature } from '../../pe/authenticode-attach.js';
import { efiAttachJson, efiAttachText } from '../../report/efi-attach.js';

function signumOption(v: string | undefined): number {
  if (v === undefined) return 1;
  if (!/^\d+$/.test(v)) throw new KmodsealError('E_USAGE', `--signum: expected a number from 1, got '${v}'`);
  return Number(v);
}

/** `efi detach`: writes signature N's PKCS#7 to --output and/or (--remove) rewrites the image without it. */
export function efiDetachCommand(
  image: string,
  o: { output?: string; remove?: true; signum?: string; json?: true },
  io: Io,
): ExitCode {
  if (!o.output && !o.remove) throw new KmodsealError('E_USAGE', 'efi detach needs --output SIG, --remove, or both');
  const signum = signumOption(o.signum);
  const op = detachPeSignature(readFileBytes(image), image, signum, o.remove === true);
  if (o.output) writeFileAtomic(o.output, op.pkcs7);
  if (op.image) writeFileAtomic(image, op.image);
  const report = {
    action: 'detach' as const,
    image,
    signum,
    signatureFile: o.output,
    imageWritten: op.image ? image : undefined,
    op,
  };
  io.stdout(o.json ? efiAttachJson(report) : efiAttachText(report));
  return EXIT.OK;
}

/** `efi attach`: appends a detached signature to the image (in place, or to --output). */
export function efiAttachCommand(
  image: string,
  o: { signature?: string; output?: string; force?: true; json?: true },
  io: Io,
): ExitCode {
  if (!o.signature) throw new KmodsealError('E_USAGE', 'efi attach needs --signature SIG');
  const op = attachPeSignature(readFileBytes(image), image, readFileBytes(o.signature), o.signature, o.force === true);
  const out = o.output ?? image;
  writeFileAtomic(out, op.image!);
  const report = {
    action: 'attach' as const,
    image,
    signum: undefined,
    signatureFile: o.signature,
    imageWritten: out,
    op,
  };
  io.stdout(o.json ? efiAttachJson(report) : efiAttachText(report));
  return EXIT.OK;
}
