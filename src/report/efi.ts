/** What `efi verify` prints: the databases used, one block per signature and the verdict, as text or JSON. */
import type { SbatVerdict } from '../pe/sbat.js';
import { sbatVerdictJson, sbatVerdictText } from './sbat.js';
import type { EfiImageVerdict, EfiVerifyResult } from '../pe/authenticode-verify.js';
import { jsonText } from './seal.js';

/** Each verdict in words (the image's line after "rejected:" or "accepted"). */
export const EFI_VERDICT_TEXT: Record<EfiImageVerdict, string> = {
  accepted: 'a signature verifies against a db certificate',
  'allowed-by-digest': "the image's digest is in db",
  'no-signature':
    'the image carries no Authenticode signature EDK2 reads (an unsigned image runs only when its digest is in db)',
  'digest-mismatch': "the signed digest is not the image's Authenticode digest",
  'bad-signature': "the signer's signature does not verify",
  'untrusted-signer': 'no db certificate is the signer or in its chain',
  'unsupported-key': "the signer's key is not RSA (EDK2 as OVMF builds it verifies only RSA signatures)",
  'signer-not-carried':
    "the signer's certificate is not in the signature (EDK2 fetches nothing; with dbx set it counts as forbidden)",
  'malformed-signature': 'the signature does not decode as Authenticode',
  'db-certificate-in-dbx': 'the db certificate the signature verifies against has its TBS hash in dbx',
  'signer-in-dbx': "the signature verifies against a dbx certificate, or the signer certificate's TBS hash is in dbx",
  'image-in-dbx': "the image's digest is in dbx",
  'unsupported-digest': 'EDK2 skips the signature: digest algorithm not supported or not found at byte 32',
  'unhashable-image': 'EDK2 cannot hash the image (sections and certificate table overrun the file)',
  'bad-certificate-table': 'the certificate table entries do not fill the table exactly',
};

/** What the databases were, for the report: where they came from and how many entries of each kind. */
export interface EfiDatabaseSummary {
  /** Where db came from (files, 'efivarfs'), in order. */
  readonly dbSources: readonly string[];
  /** Where dbx came from; empty with `dbxPresent` false when there is no dbx. */
  readonly dbxSources: readonly string[];
  readonly dbxPresent: boolean;
  /** Entries per kind ('x509', 'sha256', 'x509-sha256', ...). */
  readonly db: Readonly<Record<string, number>>;
  readonly dbx: Readonly<Record<string, number>>;
  /** With --running: the efivarfs directory and the SecureBoot / SetupMode variables (undefined when absent). */
  readonly running:
    | { readonly efivars: string; readonly secureBoot: boolean | undefined; readonly setupMode: boolean | undefined }
    | undefined;
}

function counts(c: Readonly<Record<string, number>>): string {
  const parts = Object.entries(c).map(([k, n]) => `${n} ${k}`);
  return parts.length ? parts.join(', ') : 'empty';
}

/** The text of `efi verify`: the databases, each signature (signer, digests, verdict), then the image's verdict. */
export function efiVerifyText(
  file: string,
  r: EfiVerifyResult,
  dbs?: EfiDatabaseSummary,
  sbat?: EfiSbatJudgement,
): string {
  const lines: string[] = [`${file}: Authenticode sha256 ${r.imageDigest ?? '(EDK2 cannot hash this image)'}`];
  if (dbs) {
    if (dbs.running) {
      const sb =
        dbs.running.secureBoot === undefined
          ? 'no SecureBoot variable'
          : `SecureBoot ${dbs.running.secureBoot ? 'on' : 'off'}`;
      const sm = dbs.running.setupMode ? ', setup mode (nothing is checked)' : '';
      lines.push(`running machine: ${dbs.running.efivars} (${sb}${sm})`);
    }
    lines.push(`db: ${counts(dbs.db)}`);
    lines.push(dbs.dbxPresent ? `dbx: ${counts(dbs.dbx)}` : 'dbx: none');
  }
  r.checks.forEach((c, i) => {
    const type = c.certificateType === 0x0ef1 ? ', WIN_CERT_TYPE_EFI_GUID' : '';
    lines.push(`signature ${i + 1} (offset 0x${c.signature.offset.toString(16)}${type}):`);
    if (c.signer) {
      lines.push(`  subject: ${c.signer.subject}`, `  issuer: ${c.signer.issuer}`, `  serial: ${c.signer.serial}`);
      if (c.signerKey && c.signerKey !== 'rsa') lines.push(`  key: ${c.signerKey}`);
    } else if (!c.problem) lines.push('  signer: certificate not carried');
    if (c.signature.signedDigest) {
      const match = c.signature.digestMatches ? 'matches the image' : 'does not match the image';
      lines.push(`  digest: ${c.signature.digestAlgorithm} ${c.signature.signedDigest} (${match})`);
    }
    if (c.problem) lines.push(`  problem: ${c.problem}`);
    const why = c.trustedBy ? ` (trusted through ${c.trustedBy})` : c.match ? ` (${c.match})` : '';
    lines.push(`  verdict: ${c.verdict}${why}${c.forbidden ? ': forbids the image' : ''}`);
  });
  for (const n of r.notes) lines.push(`note: ${n}`);
  lines.push(
    r.accepted
      ? `${file}: ${r.verdict === 'allowed-by-digest' ? 'accepted: its digest is in db' : 'accepted'}`
      : `${file}: rejected: ${EFI_VERDICT_TEXT[r.reason!]}`,
  );
  if (sbat) lines.push(`${file}: shim under SbatLevel ${sbat.source}: ${sbatVerdictText(sbat.verdict)}`);
  return lines.join('\n') + '\n';
}

/** shim's SBAT verdict on the image under a level (`efi verify --sbat-level`). */
export interface EfiSbatJudgement {
  /** Where the level came from: a file, `shim:NAME`, or the SbatLevelRT variable's path. */
  readonly source: string;
  readonly verdict: SbatVerdict;
}

/** The JSON of `efi verify`. */
export function efiVerifyJson(
  file: string,
  r: EfiVerifyResult,
  dbs?: EfiDatabaseSummary,
  sbat?: EfiSbatJudgement,
): string {
  return jsonText({
    file,
    imageDigest: r.imageDigest ?? null,
    accepted: r.accepted,
    sbat: sbat ? { level: sbat.source, ...sbatVerdictJson(sbat.verdict) } : null,
    verdict: r.verdict,
    reason: r.reason ?? null,
    tableMalformed: r.tableMalformed,
    notes: r.notes,
    databases: dbs
      ? {
          db: { sources: dbs.dbSources, entries: dbs.db },
          dbx: dbs.dbxPresent ? { sources: dbs.dbxSources, entries: dbs.dbx } : null,
          running: dbs.running
            ? {
                efivars: dbs.running.efivars,
                secureBoot: dbs.running.secureBoot ?? null,
                setupMode: dbs.running.setupMode ?? null,
              }
            : null,
        }
      : null,
    signatures: r.checks.map((c) => ({
      offset: c.signature.offset,
      certificateType: c.certificateType,
      subject: c.signer?.subject ?? null,
      issuer: c.signer?.issuer ?? null,
      serial: c.signer?.serial ?? null,
      signerKey: c.signerKey ?? null,
      digestAlgorithm: c.signature.digestAlgorithm,
      signedDigest: c.signature.signedDigest,
      digestMatches: c.signature.digestMatches,
      signatureValid: c.signatureValid,
      trustedBy: c.trustedBy ?? null,
      match: c.match ?? null,
      problem: c.problem ?? null,
      forbidden: c.forbidden,
      verdict: c.verdict,
    })),
  });
}
