/** What `efi detach` and `efi attach` print: the signature moved, its signer and digest, as text or JSON. */
import type { PeSignatureOperation } from '../pe/authenticode-attach.js';
import { jsonText } from './seal.js';

/** One `efi detach` / `efi attach` result and where its outputs went. */
export interface EfiAttachReport {
  readonly action: 'detach' | 'attach';
  readonly image: string;
  readonly signum: number | undefined;
  /** The signature file written (detach) or read (attach). */
  readonly signatureFile: string | undefined;
  /** Where the image was written, when it was (attach, detach --remove). */
  readonly imageWritten: string | undefined;
  readonly op: PeSignatureOperation;
}

function signerText(op: PeSignatureOperation): string {
  const s = op.signature.signers[0];
  return s ? (s.subject ?? `issuer ${s.issuer}, serial ${s.serial}`) : 'no signer';
}

/** The text of `efi detach` / `efi attach`: one line per thing done. */
export function efiAttachText(r: EfiAttachReport): string {
  const sig = r.op.signature;
  const digest = `${sig.digestAlgorithm} ${sig.signedDigest}${sig.digestMatches ? '' : ' (not this image)'}`;
  const lines: string[] = [];
  if (r.action === 'detach') {
    if (r.signatureFile) lines.push(`${r.image}: signature ${r.signum} (${signerText(r.op)}) -> ${r.signatureFile}`);
    if (r.imageWritten) lines.push(`${r.imageWritten}: signature ${r.signum} removed; ${r.op.remaining} left`);
  } else {
    lines.push(`${r.imageWritten}: ${r.signatureFile} attached as signature ${r.op.remaining} (${signerText(r.op)})`);
  }
  lines.push(`  digest: ${digest}`);
  return lines.join('\n') + '\n';
}

/** The JSON of `efi detach` / `efi attach`. */
export function efiAttachJson(r: EfiAttachReport): string {
  const sig = r.op.signature;
  return jsonText({
    action: r.action,
    image: r.image,
    signum: r.action === 'attach' ? r.op.remaining : (r.signum ?? null),
    signatureFile: r.signatureFile ?? null,
    imageWritten: r.imageWritten ?? null,
    signatures: r.op.remaining,
    signers: sig.signers.map((s) => ({ subject: s.subject ?? null, issuer: s.issuer, serial: s.serial })),
    digestAlgorithm: sig.digestAlgorithm,
    signedDigest: sig.signedDigest,
    digestMatches: sig.digestMatches,
  });
}
