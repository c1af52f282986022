/** `efi sign` (Authenticode, byte-identical to sbsign) and `efi verify` (EDK2's db verdict). */
import { sourceDateEpochFromEnv } from '../../io/env.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { KmodsealError } from '../../bytes/errors.js';
import { readCertificateFile } from '../../keys/key-file.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { readFileBytes } from '../../io/files.js';
import { attachAuthenticodeSignature, preparePeImage } from '../../pe/authenticode-sign.js';
import { signAuthenticode } from '../../sign/authenticode.js';
import { verifyPeImage } from '../../pe/authenticode-verify.js';
import { parsePe } from '../../pe/pe.js';
import { imageSbat, judgeImageSbat, parseSbatLevelVariable } from '../../pe/sbat.js';
import type { SbatLevelSource } from '../../report/sbat.js';
import { loadSbatLevel } from './efi-sbat.js';
import {
  EFI_GLOBAL_VARIABLE_GUID,
  EFI_IMAGE_SECURITY_DATABASE_GUID,
  parseEfiVariableFile,
  parseSignatureDatabase,
  x509SignatureList,
  type EfiSignatureList,
} from '../../pe/signature-list.js';
import {
  checkEfivarsDirectory,
  DEFAULT_EFIVARS,
  efiVariablePath,
  readEfiVariable,
  readSbatLevelRT,
} from '../../io/efivars.js';
import { efiVerifyJson, efiVerifyText, type EfiDatabaseSummary, type EfiSbatJudgement } from '../../report/efi.js';

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
    chain?: string[];
    signingTime?: string;
    detached?: true;
    output?: string;
    out?: string;
    pkcs11Module?: string;
  },
  io: Io,
): Promise<ExitCode> {
  if (o.output !== undefined && o.out !== undefined && o.output !== o.out)
    throw new KmodsealError('E_USAGE', 'efi sign: --out and --output name two different files');
  const output = o.output ?? o.out;
  if (!o.key || !o.cert || !output)
    throw new KmodsealError('E_USAGE', 'efi sign needs --key (PEM file or pkcs11: URI), --cert and --output');
  const time = signingTime(o.signingTime, sourceDateEpochFromEnv());
  const certificate = readCertificateFile(o.cert)[0]!;
  const extra = [...(o.addcert ?? []), ...(o.chain ?? [])].flatMap(readCertificateFile);
  const prepared = preparePeImage(readFileBytes(input), input);
  const key = o.key.startsWith('pkcs11:') ? o.key : Buffer.from(readFileBytes(o.key)).toString('latin1');
  const pkcs7 = await signAuthenticode(prepared, {
    key,
    certificate,
    certFile: o.cert,
    extraCertificates: extra,
    pkcs11Module: o.pkcs11Module,
    time,
  });
  writeFileAtomic(output, o.detached ? pkcs7 : attachAuthenticodeSignature(prepared, pkcs7));
  if (prepared.existingEntries.length && !o.detached)
    io.stderr(`kmodseal: ${input} was already signed; adding an additional signature\n`);
  return EXIT.OK;
}

/**
 * `efi verify`: 0 when EDK2 with this db and dbx would run the image, 4 when it would not. db is
 * the machine's (--running) then --cert then --db, in order; dbx the machine's then --dbx.
 */
export function efiVerifyCommand(
  input: string,
  o: {
    cert?: string[];
    db?: string[];
    dbx?: string[];
    running?: true;
    efivars?: string;
    sbatLevel?: string;
    json?: true;
  },
  io: Io,
): ExitCode {
  // a certificate (PEM or DER), an EFI signature list, an .auth file or an efivarfs variable file
  const databaseFile = (file: string): EfiSignatureList[] => {
    const bytes = readFileBytes(file);
    if (Buffer.from(bytes.subarray(0, 4096)).toString('latin1').includes('-----BEGIN'))
      return readCertificateFile(file).map(x509SignatureList);
    return [...parseSignatureDatabase(bytes, file).lists];
  };
  const db: EfiSignatureList[] = [];
  const dbx: EfiSignatureList[] = [];
  const dbSources: string[] = [];
  const dbxSources: string[] = [];
  let running: EfiDatabaseSummary['running'];
  if (o.running || o.efivars) {
    const dir = o.efivars ?? DEFAULT_EFIVARS;
    checkEfivarsDirectory(dir);
    const variable = (name: string, guid: string): EfiSignatureList[] | undefined => {
      const bytes = readEfiVariable(dir, name, guid);
      return bytes ? [...parseEfiVariableFile(bytes, efiVariablePath(dir, name, guid)).lists] : undefined;
    };
    const flag = (name: string): boolean | undefined => {
      const bytes = readEfiVariable(dir, name, EFI_GLOBAL_VARIABLE_GUID);
      return bytes && bytes.length >= 5 ? bytes[4] !== 0 : undefined;
    };
    const vdb = variable('db', EFI_IMAGE_SECURITY_DATABASE_GUID);
    const vdbx = variable('dbx', EFI_IMAGE_SECURITY_DATABASE_GUID);
    if (vdb) {
      db.push(...vdb);
      dbSources.push(efiVariablePath(dir, 'db', EFI_IMAGE_SECURITY_DATABASE_GUID));
    }
    if (vdbx) {
      dbx.push(...vdbx);
      dbxSources.push(efiVariablePath(dir, 'dbx', EFI_IMAGE_SECURITY_DATABASE_GUID));
    }
    running = { efivars: dir, secureBoot: flag('SecureBoot'), setupMode: flag('SetupMode') };
  }
  for (const f of o.cert ?? []) {
    db.push(...readCertificateFile(f).map(x509SignatureList));
    dbSources.push(f);
  }
  for (const f of o.db ?? []) {
    db.push(...databaseFile(f));
    dbSources.push(f);
  }
  for (const f of o.dbx ?? []) {
    dbx.push(...databaseFile(f));
    dbxSources.push(f);
  }
  const count = (lists: readonly EfiSignatureList[]): Record<string, number> => {
    const c: Record<string, number> = {};
    for (const l of lists) c[l.kind] = (c[l.kind] ?? 0) + l.signatures.length;
    return c;
  };
  // EDK2 reads dbx only when the variable exists, and an existing variable is never empty
  const dbxPresent = dbx.length > 0;
  const summary: EfiDatabaseSummary = {
    dbSources,
    dbxSources,
    dbxPresent,
    db: count(db),
    dbx: count(dbx),
    running,
  };
  const data = readFileBytes(input);
  const result = verifyPeImage(data, input, { db, dbx: dbxPresent ? dbx : undefined });
  let sbat: EfiSbatJudgement | undefined;
  if (o.sbatLevel !== undefined) {
    let level: SbatLevelSource;
    if (o.sbatLevel === 'running') {
      const v = readSbatLevelRT(o.efivars ?? DEFAULT_EFIVARS);
      level = { source: v.file, level: parseSbatLevelVariable(v.bytes, v.file).level };
    } else level = loadSbatLevel(o.sbatLevel);
    sbat = { source: level.source, verdict: judgeImageSbat(imageSbat(data, input, parsePe(data, input)), level.level) };
  }
  io.stdout(o.json ? efiVerifyJson(input, result, summary, sbat) : efiVerifyText(input, result, summary, sbat));
  return result.accepted && (!sbat || sbat.verdict.allowed) ? EXIT.OK : EXIT.CHECK_FAILED;
}
