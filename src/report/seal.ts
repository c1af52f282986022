/** What `keygen`, `verify` and `seal` print, besides the summary lines of counts.ts. */
import type { VerifyResult } from '../sign/verify.js';

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
