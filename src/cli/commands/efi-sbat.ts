/** `efi sbat`: an image's `.sbat` as shim reads it and, with a level, whether shim would refuse the image. */
import path from 'node:path';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { FormatError, KmodsealError } from '../../bytes/errors.js';
import { readFileBytes } from '../../io/files.js';
import { DEFAULT_EFIVARS, readSbatLevelRT, SHIM_LOCK_GUID } from '../../io/efivars.js';
import { parsePe } from '../../pe/pe.js';
import { addPeSections } from '../../pe/sections.js';
import { writeFileAtomic } from '../../io/atomic.js';
import {
  builtinSbatLevel,
  imageSbat,
  judgeImageSbat,
  looksLikeEfiVariable,
  parseSbat,
  parseSbatLevel,
  parseSbatLevelVariable,
  PUBLISHED_SBAT_LEVELS,
} from '../../pe/sbat.js';
import { sbatJson, sbatText, type SbatLevelSource } from '../../report/sbat.js';

/**
 * The level named by `--level`: `shim:NAME` (automatic, previous, latest, original, or a
 * published datestamp), else a file holding the payload or an efivarfs copy of the variable.
 */
export function loadSbatLevel(value: string): SbatLevelSource {
  if (value.startsWith('shim:')) {
    const name = value.slice(5);
    const text = builtinSbatLevel(name);
    if (text === undefined) {
      const dates = [...new Set(PUBLISHED_SBAT_LEVELS.map((l) => l.datestamp))].join(', ');
      throw new KmodsealError(
        'E_USAGE',
        `--level ${value}: unknown built-in level (automatic, previous, latest, original, or one of ${dates})`,
      );
    }
    return { source: value, level: parseSbatLevel(text, value) };
  }
  const bytes = readFileBytes(value);
  if (path.basename(value).endsWith(`-${SHIM_LOCK_GUID}`) || looksLikeEfiVariable(bytes)) {
    const v = parseSbatLevelVariable(bytes, value);
    return { source: value, level: v.level, attributes: v.attributes };
  }
  return { source: value, level: parseSbatLevel(bytes, value) };
}

/**
 * `efi sbat`: 0 when the image's `.sbat` reads well (and, with a level, shim allows it); 4 when
 * shim refuses it under the level; 1 when its `.sbat` is malformed or refused by shim whatever the level.
 */
export function efiSbatCommand(
  input: string,
  o: { level?: string; running?: true; efivars?: string; set?: string; output?: string; json?: true },
  io: Io,
): ExitCode {
  if (o.output !== undefined && o.set === undefined)
    throw new KmodsealError('E_USAGE', 'efi sbat: --output goes with --set');
  const running = o.running || o.efivars !== undefined;
  if (o.level !== undefined && running)
    throw new KmodsealError('E_USAGE', 'efi sbat: give --level or --running (--efivars), not both');
  let level: SbatLevelSource | undefined;
  if (o.level !== undefined) level = loadSbatLevel(o.level);
  else if (running) {
    const v = readSbatLevelRT(o.efivars ?? DEFAULT_EFIVARS);
    const parsed = parseSbatLevelVariable(v.bytes, v.file);
    level = { source: v.file, level: parsed.level, attributes: parsed.attributes };
  }
  let data = readFileBytes(input);
  if (o.set !== undefined) data = setSbat(data, input, o.set, o.output ?? input);
  const out = o.set !== undefined ? (o.output ?? input) : input;
  const image = imageSbat(data, out, parsePe(data, out));
  const verdict = level ? judgeImageSbat(image, level.level) : undefined;
  const report = { file: out, image, level, verdict };
  io.stdout(o.json ? sbatJson(report) : sbatText(report));
  if (image.status === 'refused') {
    const err = new FormatError('E_FORMAT', {
      file: input,
      offset: image.headerOffset,
      format: 'pe',
      detail: image.reason,
    });
    io.stderr(`kmodseal: ERROR: ${err.message}\n`);
    return EXIT.BAD_INPUT;
  }
  if (image.status === 'present' && !image.sbat.valid) {
    const e = image.sbat.issues.find((i) => i.severity === 'error')!;
    const err = new FormatError('E_FORMAT', {
      file: input,
      offset: image.offset + e.offset,
      format: 'sbat',
      detail: e.message,
    });
    io.stderr(`kmodseal: ERROR: ${err.message}\n`);
    return EXIT.BAD_INPUT;
  }
  return verdict && !verdict.allowed ? EXIT.CHECK_FAILED : EXIT.OK;
}

/**
 * `--set`: the image with its `.sbat` replaced by (or, without one, added as) the CSV in `csvFile`,
 * laid out as ukify lays out sections, written atomically to `output`. The CSV must read as shim
 * reads it; a signed image is refused (its signatures would no longer match: detach them first).
 */
function setSbat(data: Uint8Array, input: string, csvFile: string, output: string): Uint8Array {
  const csv = readFileBytes(csvFile);
  const parsed = parseSbat(csv);
  const error = parsed.issues.find((i) => i.severity === 'error');
  if (error || !parsed.valid)
    throw new FormatError('E_FORMAT', {
      file: csvFile,
      offset: error?.offset ?? 0,
      format: 'sbat',
      detail: error?.message ?? 'shim would not read this SBAT',
    });
  if (parsed.entries.length === 0 || parsed.entries[0]!.component !== 'sbat')
    throw new FormatError('E_FORMAT', {
      file: csvFile,
      offset: 0,
      format: 'sbat',
      detail: "the first row must be the 'sbat,1,...' row (shim's SBAT.md)",
    });
  const pe = parsePe(data, input);
  if (pe.certTable)
    throw new KmodsealError(
      'E_USAGE',
      `${input}: the image is signed; remove its signatures first (efi detach --remove), set .sbat, then sign it`,
    );
  const out = addPeSections(data, input, [{ name: '.sbat', data: csv }]);
  writeFileAtomic(output, out);
  return out;
}
