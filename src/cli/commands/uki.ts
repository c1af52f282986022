/** `uki build` (a UKI laid out as ukify lays it out, optionally signed as sbsign signs) and `uki inspect`. */
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { FormatError, KmodsealError } from '../../bytes/errors.js';
import { sourceDateEpochFromEnv } from '../../io/env.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { readFileBytes } from '../../io/files.js';
import { readCertificateFile } from '../../keys/key-file.js';
import type { AuthenticodeKey } from '../../sign/authenticode.js';
import { ukiSections, type NamedBytes } from '../../pe/uki.js';
import { buildUkiImage, readUkiInputs } from '../../run/uki-build.js';
import { ukiBuildJson, ukiBuildText, ukiInspectJson, ukiInspectText } from '../../report/uki.js';
import { signingTime } from './efi.js';

export interface UkiBuildOptions {
  linux?: string;
  initrd?: string[];
  cmdline?: string;
  osRelease?: string | boolean;
  uname?: string;
  sbat?: string[];
  stub?: string;
  out?: string;
  key?: string;
  cert?: string;
  pkcs11Module?: string;
  signingTime?: string;
  json?: true;
}

/** `uki build`: the UKI written atomically to --out; signed (and its kernel first, when unsigned) with --key/--cert. */
export async function ukiBuildCommand(o: UkiBuildOptions, io: Io): Promise<ExitCode> {
  if (!o.linux || !o.out) throw new KmodsealError('E_USAGE', 'uki build needs --linux and --out');
  if (Boolean(o.key) !== Boolean(o.cert)) throw new KmodsealError('E_USAGE', 'uki build: --key and --cert go together');
  const linux: NamedBytes = { file: o.linux, data: readFileBytes(o.linux) };
  const inputs = readUkiInputs(
    {
      ...(o.stub !== undefined ? { stub: o.stub } : {}),
      ...(o.cmdline !== undefined ? { cmdline: o.cmdline } : {}),
      ...(o.osRelease !== undefined ? { osRelease: o.osRelease } : {}),
      ...(o.uname !== undefined ? { uname: o.uname } : {}),
      ...(o.sbat !== undefined ? { sbat: o.sbat } : {}),
    },
    linux,
  );
  const signing: AuthenticodeKey | undefined =
    o.key && o.cert
      ? {
          key: o.key.startsWith('pkcs11:') ? o.key : Buffer.from(readFileBytes(o.key)).toString('latin1'),
          certFile: o.cert,
          certificate: readCertificateFile(o.cert)[0]!,
          pkcs11Module: o.pkcs11Module,
          time: signingTime(o.signingTime, sourceDateEpochFromEnv()),
        }
      : undefined;
  const initrds = (o.initrd ?? []).map((f) => ({ file: f, data: readFileBytes(f) }));
  const { built, image, kernelSigned } = await buildUkiImage(inputs, linux, initrds, o.out, signing);
  writeFileAtomic(o.out, image, 0o755);
  const { sections } = ukiSections(image, o.out);
  const summary = {
    out: o.out,
    stub: inputs.stubFile,
    size: image.length,
    signed: Boolean(signing),
    kernelSigned,
    built,
    sections,
  };
  io.stdout(o.json ? ukiBuildJson(summary) : ukiBuildText(summary));
  return EXIT.OK;
}

/** `uki inspect`: the sections (canonical order first), their digests, the texts and the inner kernel's release. */
export function ukiInspectCommand(file: string, o: { json?: true }, io: Io): ExitCode {
  const data = readFileBytes(file);
  const { pe, sections } = ukiSections(data, file);
  if (!sections.some((s) => s.name === '.linux'))
    throw new FormatError('E_FORMAT', { file, offset: 0, format: 'uki', detail: 'no .linux section: not a UKI' });
  io.stdout(o.json ? ukiInspectJson(file, data, pe, sections) : ukiInspectText(file, data, pe, sections));
  return EXIT.OK;
}
