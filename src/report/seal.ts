/** What `keygen`, `verify` and `seal` print, besides the summary lines of counts.ts. */
import type { VerifyResult } from '../sign/verify.js';
import { count } from './counts.js';

/** `keygen`'s line: the key type, the certificate, and where the private key went. */
export function keygenText(k: { type: string; subject: string; serial: string; keyOut: string | null }): string {
  return (
    `${k.type} key, certificate ${k.subject} (serial ` +
    `${k.serial})${k.keyOut ? `; private key in ${k.keyOut} (mode 0600)` : '; private key not kept'}\n`
  );
}

/** `verify`'s line for one module: its status, the errno, and what decided it. */
export function verifyLine(file: string, r: VerifyResult): string {
  return `${file}: ${r.status}${r.errno ? ` (${r.errno})` : ''}: ${r.detail}\n`;
}

/** `seal`'s line: the key that signed, which is gone. */
export function sealText(keyType: string, certificate: { subject: string; serial: string }): string {
  return `sealed with ${keyType} key ${certificate.subject} serial ${certificate.serial}; the private key is discarded\n`;
}

/** Any JSON kmodseal prints: two-space indentation and a final newline. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** What `seal` made besides the modules: each boot artefact, then the count of long-term-key signatures. */
export interface SealBootSummary {
  readonly image: { path: string; sbat: boolean } | undefined;
  readonly initrds: readonly { file: string; modules: number; compression: string }[];
  readonly ukis: readonly string[];
  readonly longTermSigner: string | undefined;
  readonly longTermSignatures: number;
}

/** `seal`'s lines for the kernel image, the initramfs images and the UKIs, and the long-term-key count. */
export function sealBootText(s: SealBootSummary): string {
  const lines: string[] = [];
  for (const r of s.initrds)
    lines.push(
      `initrd ${r.file}: ${count(r.modules, 'module')} re-signed with the ephemeral key, re-packed (${r.compression})`,
    );
  if (s.image)
    lines.push(
      `image ${s.image.path}: ${s.image.sbat ? '.sbat set, ' : ''}signed with the long-term key ${s.longTermSigner}`,
    );
  for (const u of s.ukis) lines.push(`uki ${u}: built and signed with the long-term key ${s.longTermSigner}`);
  lines.push(`long-term key signatures: ${s.longTermSignatures}`);
  return lines.join('\n') + '\n';
}
