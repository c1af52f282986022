/** What `efi verify` prints: one block per signature and the verdict, as text or JSON. */
import type { EfiVerifyResult } from '../pe/authenticode-verify.js';
import { jsonText } from './seal.js';

const REASONS: Record<NonNullable<EfiVerifyResult['reason']>, string> = {
  'no-signature': 'the image carries no Authenticode signature',
  'digest-mismatch': "the signed digest is not the image's Authenticode digest",
  'bad-signature': "the signer's signature does not verify",
  'untrusted-signer': 'no given certificate is the signer or in its chain',
};

/** The text of `efi verify`: each signature (signer, digests, verdict), then the image's verdict. */
export function efiVerifyText(file: string, r: EfiVerifyResult): string {
  const lines: string[] = [`${file}: Authenticode sha256 ${r.imageDigest}`];
  r.checks.forEach((c, i) => {
    lines.push(`signature ${i + 1} (offset 0x${c.signature.offset.toString(16)}):`);
    if (c.signer) {
      lines.push(`  subject: ${c.signer.subject}`, `  issuer: ${c.signer.issuer}`, `  serial: ${c.signer.serial}`);
    } else lines.push('  signer: certificate not carried');
    const match = c.signature.digestMatches ? 'matches the image' : 'does not match the image';
    lines.push(`  digest: ${c.signature.digestAlgorithm} ${c.signature.signedDigest} (${match})`);
    lines.push(`  verdict: ${c.verdict}${c.trustedBy ? ` (trusted through ${c.trustedBy})` : ''}`);
  });
  lines.push(r.accepted ? `${file}: accepted` : `${file}: rejected: ${REASONS[r.reason!]}`);
  return lines.join('\n') + '\n';
}

/** The JSON of `efi verify`. */
export function efiVerifyJson(file: string, r: EfiVerifyResult): string {
  return jsonText({
    file,
    imageDigest: r.imageDigest,
    accepted: r.accepted,
    reason: r.reason ?? null,
    signatures: r.checks.map((c) => ({
      offset: c.signature.offset,
      subject: c.signer?.subject ?? null,
      issuer: c.signer?.issuer ?? null,
      serial: c.signer?.serial ?? null,
      digestAlgorithm: c.signature.digestAlgorithm,
      signedDigest: c.signature.signedDigest,
      digestMatches: c.signature.digestMatches,
      signatureValid: c.signatureValid,
      trustedBy: c.trustedBy ?? null,
      verdict: c.verdict,
    })),
  });
}
