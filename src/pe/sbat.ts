/**
 * SBAT (Secure Boot Advanced Targeting), read as shim reads it: the `.sbat` section of a PE
 * image, the `SbatLevel` revocation variable, and the verdict shim gives an image under a level.
 * Authority: rhboot/shim 16.1 (the version in Debian 12's shim-unsigned/shim-signed):
 * `SBAT.md`; `csv.c` `parse_csv_data()`/`parse_csv_line()` and `include/str.h` `strntoken()`;
 * `sbat.c` `parse_sbat_section()`, `parse_sbat_var_data()`, `verify_single_entry()`,
 * `verify_sbat_helper()`; `pe.c` `verify_sbat_section()`; `verify.c` `verify_buffer_sbat()`;
 * `SbatLevel_Variable.txt`, `generate_sbat_var_defs.c`, `sbat_var.S` (the `.sbatlevel` section).
 *
 *   .sbat:     component_name,component_generation,vendor_name,vendor_package_name,vendor_version,vendor_url\n ...
 *              first row by convention: sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md
 *   SbatLevel: sbat,1,YYYYMMDDNN\n component,generation\n ...
 *              (efivarfs: u32 attributes, then the payload; GUID 605dab50-e046-4300-abb6-3dd810dd8b23)
 *
 * Shim's rules, reproduced here: rows end at CR or LF (runs of them make no rows); a UTF-8 BOM at
 * the start is skipped; a NUL ends the data (shim reads on only when the NUL follows a line break
 * and more text follows it); a row is split at commas, a row without a comma has no fields, a
 * `.sbat` row needs at least 6 fields and a level row 2, no field may be empty, fields past the
 * 6th (3rd) are ignored; a generation is `AsciiStrDecimalToUintn()` (spaces, tabs and leading
 * zeros skipped, digits read, anything else ends it: junk counts as 0) stored in a UINT16. For each
 * image row the first level row of the same name decides: a lower image generation is revoked.
 * An empty level accepts everything; an image without `.sbat` is refused when shim loads it itself.
 */
import { FormatError, KmodsealError } from '../bytes/errors.js';
import { ByteReader, latin1 } from '../bytes/reader.js';
import { parsePe, type PeImage } from './pe.js';

/** One row of a `.sbat` section. */
export interface SbatEntry {
  readonly component: string;
  /** The generation as written; `sbatGeneration()` gives the number shim compares. */
  readonly generation: string;
  readonly vendorName: string;
  readonly vendorPackage: string;
  readonly vendorVersion: string;
  readonly vendorUrl: string;
  /** Byte offset of the row in the section. */
  readonly offset: number;
}

/** One row of an SbatLevel. */
export interface SbatLevelEntry {
  readonly component: string;
  readonly generation: string;
  /** The third field: the datestamp on the `sbat` row, else usually absent. */
  readonly datestamp: string | undefined;
  readonly offset: number;
}

/** A problem found in SBAT data: `error` means shim refuses the data, `warning` that it reads it otherwise than it looks. */
export interface SbatIssue {
  readonly severity: 'error' | 'warning';
  /** Byte offset in the section (or in the level's payload). */
  readonly offset: number;
  readonly message: string;
}

/** A `.sbat` section as shim's parser reads it: its entries, and what shim would refuse or ignore. */
export interface SbatParse {
  /** The rows shim reads (none when shim refuses the data). */
  readonly entries: readonly SbatEntry[];
  readonly issues: readonly SbatIssue[];
  /** False when shim refuses the data (an `error` issue). */
  readonly valid: boolean;
}

/** An SbatLevel (revocation level): its date line and the minimum generation of each component. */
export interface SbatLevel {
  readonly entries: readonly SbatLevelEntry[];
  /** `sbat,1,DATESTAMP` of the first row, when it is the `sbat` row. */
  readonly version: string | undefined;
  readonly datestamp: string | undefined;
  readonly issues: readonly SbatIssue[];
}

const CR = 0x0d;
const LF = 0x0a;
const COMMA = 0x2c;
/** Columns of a `.sbat` row (`SBAT_SECTION_COLUMNS`) and of a level row (`SBAT_VAR_COLUMNS`, 2 required). */
const SECTION_COLUMNS = 6;
const LEVEL_COLUMNS = 3;
const LEVEL_REQUIRED_COLUMNS = 2;

interface CsvField {
  readonly offset: number;
  readonly text: string;
}
interface CsvRow {
  readonly offset: number;
  readonly fields: readonly CsvField[];
  /** Comma-separated pieces in the row, counting those past the last column shim keeps. */
  readonly pieces: number;
}
interface Csv {
  readonly rows: CsvRow[];
  /** Where shim stopped reading: the offset of the terminating NUL (or the end). */
  readonly stop: number;
  /** NULs shim read past (a NUL after a line break followed by more text): the first and how many. */
  readonly nulPassed: { readonly first: number; readonly count: number } | undefined;
  readonly bom: boolean;
}

/**
 * `parse_csv_data()` over `bytes` followed by the NUL shim appends: the rows and their fields
 * with offsets. Linear in the input.
 */
function shimCsv(bytes: Uint8Array, columns: number): Csv {
  const n = bytes.length; // index n is shim's appended NUL
  const at = (i: number): number => (i < n ? bytes[i]! : 0);
  const rows: CsvRow[] = [];
  let nulPassed: { first: number; count: number } | undefined;
  let line = 0;
  // is_utf8_bom(line, max) compares MIN(3, max) bytes; max counts the appended NUL, so a BOM needs 3 real bytes
  const bom = n >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  if (bom) line = 3;
  while (line <= n && at(line) !== 0) {
    while (at(line) === CR || at(line) === LF) line++;
    let end = line;
    while (end < n && bytes[end] !== 0 && bytes[end] !== CR && bytes[end] !== LF) end++;
    const eof = at(end) === 0;
    if (end === line) {
      // a NUL right after line breaks: shim goes on after it when something other than NUL follows
      if (line + 1 <= n && at(line + 1) !== 0)
        nulPassed = nulPassed ? { first: nulPassed.first, count: nulPassed.count + 1 } : { first: line, count: 1 };
      line = end + 1;
      continue;
    }
    rows.push(splitRow(bytes, line, end, columns));
    if (eof) {
      line = end;
      break;
    }
    line = end + 1;
  }
  return { rows, stop: Math.min(line, n), nulPassed, bom };
}

/** `parse_csv_line()`: the row [start, end) split at commas into at most `columns` fields; no comma, no field. */
function splitRow(bytes: Uint8Array, start: number, end: number, columns: number): CsvRow {
  const fields: CsvField[] = [];
  let pieces = 1;
  for (let i = start; i < end; i++) if (bytes[i] === COMMA) pieces++;
  if (pieces > 1) {
    let p = start;
    while (fields.length < columns && p <= end) {
      let q = p;
      while (q < end && bytes[q] !== COMMA) q++;
      fields.push({ offset: p, text: latin1(bytes, p, q) });
      p = q + 1;
    }
  }
  return { offset: start, fields, pieces: pieces > 1 ? pieces : 0 };
}

/**
 * A generation as shim compares it: `AsciiStrDecimalToUintn()` (leading spaces and tabs, then
 * digits; anything else ends the number, so junk is 0) truncated to UINT16.
 */
export function sbatGeneration(text: string): number {
  let i = 0;
  while (text[i] === ' ' || text[i] === '\t') i++;
  let v = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    v = (v * 10 + (c - 0x30)) % 65536;
  }
  return v;
}

/** At most this many issues about rows are listed; the rest are counted in one closing issue. */
const MAX_ROW_ISSUES = 32;

/** The issues about rows: the first {@link MAX_ROW_ISSUES} kept, the rest counted (so hostile input stays small). */
class RowIssues {
  readonly items: SbatIssue[] = [];
  errors = 0;
  private dropped: { first: number; count: number; error: boolean } | undefined;
  push(i: SbatIssue): void {
    if (i.severity === 'error') this.errors++;
    if (this.items.length < MAX_ROW_ISSUES) this.items.push(i);
    else if (this.dropped) {
      this.dropped.count++;
      this.dropped.error ||= i.severity === 'error';
    } else this.dropped = { first: i.offset, count: 1, error: i.severity === 'error' };
  }
  /** The kept issues, a closing one for those dropped, and `more`, by offset. */
  done(more: SbatIssue[]): SbatIssue[] {
    const all = [...this.items, ...more];
    const d = this.dropped;
    if (d)
      all.push({
        severity: d.error ? 'error' : 'warning',
        offset: d.first,
        message: `${d.count} more ${d.count === 1 ? 'issue' : 'issues'} in the rows from here on`,
      });
    return all.sort((a, b) => a.offset - b.offset);
  }
}

function fieldWarnings(fields: readonly CsvField[], generation: number, issues: RowIssues): void {
  const g = fields[generation];
  if (g && !/^[0-9]+$/.test(g.text))
    issues.push({
      severity: 'warning',
      offset: g.offset,
      message: `generation '${g.text}' is not a decimal number: shim reads it as ${sbatGeneration(g.text)}`,
    });
  else if (g && Number(g.text) > 65535)
    issues.push({
      severity: 'warning',
      offset: g.offset,
      message: `generation ${g.text} does not fit shim's UINT16: shim reads it as ${sbatGeneration(g.text)}`,
    });
}

function commonWarnings(bytes: Uint8Array, csv: Csv, issues: SbatIssue[]): void {
  if (csv.bom) issues.push({ severity: 'warning', offset: 0, message: 'a UTF-8 byte order mark (shim skips it)' });
  if (csv.nulPassed)
    issues.push({
      severity: 'warning',
      offset: csv.nulPassed.first,
      message:
        'a NUL after a line break, with more text after it: shim reads on past it' +
        (csv.nulPassed.count > 1 ? ` (and past ${csv.nulPassed.count - 1} more)` : ''),
    });
  let trailing = -1;
  for (let i = csv.stop; i < bytes.length; i++)
    if (bytes[i] !== 0) {
      trailing = i;
      break;
    }
  if (trailing >= 0)
    issues.push({
      severity: 'warning',
      offset: trailing,
      message: `bytes after the NUL at 0x${csv.stop.toString(16)} are ignored by shim`,
    });
  for (let i = 0; i < csv.stop; i++)
    if (bytes[i]! >= 0x80 && !(csv.bom && i < 3)) {
      issues.push({ severity: 'warning', offset: i, message: 'a byte outside ASCII (SBAT.md: the CSV is ASCII)' });
      break;
    }
}

/**
 * Parses `.sbat` data (the section's bytes, zero padding included) as shim does. Never throws;
 * what shim refuses is an `error` issue and `valid: false`.
 */
export function parseSbat(data: Uint8Array | string): SbatParse {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  const csv = shimCsv(bytes, SECTION_COLUMNS);
  const issues = new RowIssues();
  const entries: SbatEntry[] = [];
  for (const row of csv.rows) {
    if (row.fields.length < SECTION_COLUMNS) {
      issues.push({
        severity: 'error',
        offset: row.offset,
        message:
          row.fields.length === 0
            ? 'a row without a comma (shim needs 6 comma-separated fields)'
            : `a row of ${row.fields.length} fields (shim needs 6)`,
      });
      continue;
    }
    const empty = row.fields.find((f) => f.text === '');
    if (empty) {
      issues.push({
        severity: 'error',
        offset: empty.offset,
        message: `field ${row.fields.indexOf(empty) + 1} is empty`,
      });
      continue;
    }
    if (row.pieces > SECTION_COLUMNS)
      issues.push({
        severity: 'warning',
        offset: row.fields[SECTION_COLUMNS - 1]!.offset,
        message: `a row of ${row.pieces} fields: shim ignores those after the 6th`,
      });
    fieldWarnings(row.fields, 1, issues);
    const f = row.fields.map((x) => x.text);
    entries.push({
      component: f[0]!,
      generation: f[1]!,
      vendorName: f[2]!,
      vendorPackage: f[3]!,
      vendorVersion: f[4]!,
      vendorUrl: f[5]!,
      offset: row.offset,
    });
  }
  const more: SbatIssue[] = [];
  commonWarnings(bytes, csv, more);
  const valid = issues.errors === 0;
  if (valid) {
    const first = entries[0];
    if (!first)
      more.push({
        severity: 'warning',
        offset: 0,
        message: 'no entries: shim accepts this image under any level',
      });
    else if (first.component !== 'sbat' || sbatGeneration(first.generation) !== 1)
      more.push({
        severity: 'warning',
        offset: first.offset,
        message: `the first row is '${first.component},${first.generation},...', not 'sbat,1,...' (SBAT.md)`,
      });
  }
  return { entries: valid ? entries : [], issues: issues.done(more), valid };
}

/** Every issue shim or SBAT.md finds in `.sbat` data, by offset (empty: canonical and accepted). */
export function validateSbat(data: Uint8Array | string): readonly SbatIssue[] {
  return parseSbat(data).issues;
}

/**
 * The entries of `.sbat` data, or a FormatError at the first thing shim refuses (`base`: the
 * data's offset in `file`, so the error names the absolute offset).
 * @throws FormatError E_FORMAT
 */
export function readSbat(data: Uint8Array | string, file: string, base = 0): readonly SbatEntry[] {
  const p = parseSbat(data);
  const e = p.issues.find((i) => i.severity === 'error');
  if (e) throw new FormatError('E_FORMAT', { file, offset: base + e.offset, format: 'sbat', detail: e.message });
  return p.entries;
}

const FIELD = /^[^,\r\n\0]+$/;

/**
 * `.sbat` text for entries: one row per entry, fields joined by commas, each row ending in LF
 * (what SBAT.md shows; `formatSbat(parseSbat(x).entries) === x` for such text).
 * @throws KmodsealError E_FORMAT for an empty field or one holding a comma, CR, LF or NUL
 */
export function formatSbat(entries: readonly Omit<SbatEntry, 'offset'>[]): string {
  return entries
    .map((e, i) => {
      const f = [e.component, e.generation, e.vendorName, e.vendorPackage, e.vendorVersion, e.vendorUrl];
      for (const [k, v] of f.entries())
        if (!FIELD.test(v))
          throw new KmodsealError(
            'E_FORMAT',
            `sbat entry ${i + 1}, field ${k + 1}: ${v === '' ? 'empty' : `'${v}' holds a comma, line break or NUL`}`,
          );
      return f.join(',') + '\n';
    })
    .join('');
}

/** The efivarfs name of the level shim mirrors for the OS. */
export const SBAT_LEVEL_GUID = '605dab50-e046-4300-abb6-3dd810dd8b23';
export const SBAT_LEVEL_RT_VARIABLE = `SbatLevelRT-${SBAT_LEVEL_GUID}`;

/**
 * Parses an SbatLevel payload (`sbat,1,DATE\ncomponent,gen\n...`) as `parse_sbat_var_data()`
 * does; shim appends a NUL, so the payload ends at its first NUL.
 * @throws FormatError E_FORMAT where shim refuses it (no bytes at all, a row of fewer than 2 fields, an
 *   empty field); a payload of line breaks alone has no entries and revokes nothing
 */
export function parseSbatLevel(data: Uint8Array | string, file: string, base = 0): SbatLevel {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  const r = new ByteReader(bytes, { file, format: 'sbat-level', base });
  // parse_sbat_var_data(data, size + 1) hands parse_csv_data() an end equal to its start
  if (bytes.length === 0) throw r.error('E_FORMAT', 0, 'an empty SbatLevel (shim cannot parse it)');
  const csv = shimCsv(bytes, LEVEL_COLUMNS);
  const rowIssues = new RowIssues();
  const issues: SbatIssue[] = [];
  const entries: SbatLevelEntry[] = [];
  for (const row of csv.rows) {
    if (row.fields.length < LEVEL_REQUIRED_COLUMNS)
      throw r.error('E_FORMAT', row.offset, 'a row without a comma (shim needs component,generation)');
    const empty = row.fields.find((f) => f.text === '');
    if (empty) throw r.error('E_FORMAT', empty.offset, `field ${row.fields.indexOf(empty) + 1} is empty`);
    fieldWarnings(row.fields, 1, rowIssues);
    entries.push({
      component: row.fields[0]!.text,
      generation: row.fields[1]!.text,
      datestamp: row.fields[2]?.text,
      offset: row.offset,
    });
  }
  commonWarnings(bytes, csv, issues);
  const first = entries[0];
  const header = first?.component === 'sbat' ? first : undefined;
  if (!first) issues.push({ severity: 'warning', offset: 0, message: 'no entries: shim revokes nothing' });
  else if (!header || !header.datestamp || !/^[0-9]{10}$/.test(header.datestamp))
    issues.push({
      severity: 'warning',
      offset: first.offset,
      message: "the first row is not 'sbat,1,YYYYMMDDNN' (shim's own variables always start so)",
    });
  return { entries, version: header?.generation, datestamp: header?.datestamp, issues: rowIssues.done(issues) };
}

/** EFI variable attributes (UEFI spec). */
export const EFI_VARIABLE_NON_VOLATILE = 1;
export const EFI_VARIABLE_BOOTSERVICE_ACCESS = 2;
export const EFI_VARIABLE_RUNTIME_ACCESS = 4;

/**
 * An SbatLevel as efivarfs presents it (`/sys/firmware/efi/efivars/SbatLevelRT-605dab50-...`):
 * a little-endian u32 of attributes, then the payload.
 * @throws FormatError E_TRUNCATED (under 4 bytes), E_FORMAT (see parseSbatLevel)
 */
export function parseSbatLevelVariable(data: Uint8Array, file: string): { attributes: number; level: SbatLevel } {
  const r = new ByteReader(data, { file, format: 'efivar', littleEndian: true });
  const attributes = r.u32(0, 'attributes');
  return { attributes, level: parseSbatLevel(data.subarray(4), file, 4) };
}

/**
 * True when a level file looks like an efivarfs copy (attributes first) rather than the payload:
 * a payload is ASCII text, while the attributes' high bytes are zero.
 */
export function looksLikeEfiVariable(data: Uint8Array): boolean {
  return data.length >= 4 && data[2] === 0 && data[3] === 0 && data[0] !== 0x73; /* 's' */
}

/** The level text for a datestamp and its revocations (`sbat,1,DATE\n` + rows). */
function levelText(date: string, revocations: string): string {
  return `sbat,1,${date}\n${revocations}`;
}

/** A revocation published in shim's SbatLevel_Variable.txt (shim 16.1), in file order. */
export interface PublishedSbatLevel {
  readonly datestamp: string;
  /** The payload, as shim writes it into SbatLevel. */
  readonly text: string;
  readonly why: string;
}

/** The revocations of shim 16.1's SbatLevel_Variable.txt, in file order (2022052400 appears twice, as there). */
export const PUBLISHED_SBAT_LEVELS: readonly PublishedSbatLevel[] = [
  ['2021030218', '', 'initialized, no revocations'],
  ['2022052400', 'grub,2\n', 'GRUB2 CVE-2021-3695/3696/3697, CVE-2022-28733/28734/28735/28736'],
  ['2022052400', 'shim,2\ngrub,2\n', 'the same, and shim CVE-2022-28737 (delivered as the opt-in latest)'],
  ['2022111500', 'shim,2\ngrub,3\n', 'GRUB2 CVE-2022-2601, CVE-2022-3775'],
  ['2023012900', 'shim,2\ngrub,3\ngrub.debian,4\n', "Debian's grub.3 that missed the patches"],
  ['2023012950', 'shim,3\ngrub,3\ngrub.debian,4\n', 'a non-exploitable shim bug (never delivered)'],
  ['2023091900', 'shim,2\ngrub,4\n', 'GRUB2 ntfs CVE-2023-4692, CVE-2023-4693 (not delivered at the time)'],
  ['2024010900', 'shim,4\ngrub,3\ngrub.debian,4\n', 'shim CVE-2023-40546/40547/40548/40549/40550/40551'],
  ['2024040900', 'shim,4\ngrub,4\ngrub.peimage,2\n', 'January 2024 shim, October 2023 GRUB, CVE-2024-2312 (peimage)'],
  ['2025021800', 'shim,4\ngrub,5\n', 'February 2025 GRUB CVEs'],
  ['2025051000', 'shim,4\ngrub,5\ngrub.proxmox,2\n', 'Proxmox GRUB PSA-2025-00012-1'],
].map(([datestamp, revocations, why]) => ({
  datestamp: datestamp!,
  text: levelText(datestamp!, revocations!),
  why: why!,
}));

/**
 * The built-in levels of shim 16.1-2~deb12u1 (Debian 12's shim-unsigned and shim-signed), as its
 * `.sbatlevel` section carries them: `automatic` (called "previous" up to shim 15.7; Debian builds
 * with SBAT_AUTOMATIC_DATE=2025021800, upstream's default is 2024040900), what shim applies by
 * default in Secure Boot mode, and `latest` (`mokutil --set-sbat-policy latest`). `original` is
 * SBAT_VAR_ORIGINAL, what shim writes outside Secure Boot (no revocations).
 */
export const SHIM_SBAT_LEVELS = {
  shimVersion: '16.1-2~deb12u1',
  original: levelText('2021030218', ''),
  automatic: levelText('2025021800', 'shim,4\ngrub,5\n'),
  latest: levelText('2025051000', 'shim,4\ngrub,5\ngrub.proxmox,2\n'),
} as const;

/**
 * A built-in level by name: `automatic` (alias `previous`), `latest`, `original`, or the
 * datestamp of a published revocation (the first one of that date, as shim's generator takes).
 */
export function builtinSbatLevel(name: string): string | undefined {
  if (name === 'automatic' || name === 'previous') return SHIM_SBAT_LEVELS.automatic;
  if (name === 'latest') return SHIM_SBAT_LEVELS.latest;
  if (name === 'original') return SHIM_SBAT_LEVELS.original;
  return PUBLISHED_SBAT_LEVELS.find((l) => l.datestamp === name)?.text;
}

/**
 * The two levels a shim binary carries in its `.sbatlevel` section (shim ≥ 15.8, `sbat_var.S`):
 * u32 format version (0), then u32 offsets of the automatic and latest payloads relative to
 * byte 4, each a NUL-terminated string.
 * @throws FormatError E_FORMAT, E_RANGE, E_TRUNCATED
 */
export function parseSbatLevelSection(data: Uint8Array, file: string, base = 0): { automatic: string; latest: string } {
  const r = new ByteReader(data, { file, format: 'sbatlevel', base, littleEndian: true });
  const version = r.u32(0, 'format version');
  if (version !== 0) throw r.error('E_FORMAT', 0, `format version ${version} (only 0 is known)`);
  const text = (field: number, what: string): string => {
    const off = r.u32(field, `${what} offset`) + 4;
    if (off >= data.length)
      throw r.error('E_RANGE', field, `${what} payload offset 0x${off.toString(16)} outside the section`);
    const end = data.indexOf(0, off);
    if (end < 0) throw r.error('E_TRUNCATED', off, `${what} payload has no terminating NUL`);
    return latin1(data, off, end);
  };
  return { automatic: text(4, 'automatic'), latest: text(8, 'latest') };
}

/** One image row against the level. */
export interface SbatCheck {
  readonly entry: SbatEntry;
  /** The first level row of the same component: the one shim compares with. */
  readonly levelEntry: SbatLevelEntry | undefined;
  readonly generation: number;
  readonly minimum: number | undefined;
  readonly revoked: boolean;
}

/**
 * `verify_sbat_helper()`: each image row against the first level row of the same name; the first
 * row whose generation is lower is the revocation (shim stops there). An empty level revokes nothing.
 */
export function judgeSbatEntries(
  entries: readonly SbatEntry[],
  level: SbatLevel,
): { allowed: boolean; revoked: SbatCheck | undefined; checks: SbatCheck[] } {
  const checks = entries.map((entry): SbatCheck => {
    const levelEntry = level.entries.find((l) => l.component === entry.component);
    const generation = sbatGeneration(entry.generation);
    const minimum = levelEntry ? sbatGeneration(levelEntry.generation) : undefined;
    return { entry, levelEntry, generation, minimum, revoked: minimum !== undefined && generation < minimum };
  });
  const revoked = checks.find((c) => c.revoked);
  return { allowed: !revoked, revoked, checks };
}

/** The `.sbat` section of an image as shim finds it (`verify_buffer_sbat()`). */
export type ImageSbat =
  | {
      readonly status: 'present';
      /** File offset and size of what shim reads (SizeOfRawData bytes). */
      readonly offset: number;
      readonly size: number;
      readonly virtualSize: number;
      readonly sbat: SbatParse;
    }
  /** No section named exactly `.sbat`. */
  | { readonly status: 'absent' }
  /** SizeOfRawData is 0 or below VirtualSize: shim ignores the section, as if absent. */
  | { readonly status: 'ignored'; readonly offset: number; readonly size: number; readonly virtualSize: number }
  /** Two `.sbat` sections, or relocations in it: shim refuses the image whatever the level. */
  | { readonly status: 'refused'; readonly headerOffset: number; readonly reason: string };

/**
 * Finds and parses the image's `.sbat` the way shim does: the section header named exactly
 * `.sbat\0\0\0`; a second one, or one with relocations, makes shim refuse the image; one whose
 * SizeOfRawData is 0 or smaller than its VirtualSize is ignored; otherwise SizeOfRawData bytes
 * from PointerToRawData are parsed. `pe` is the image parsed by `parsePe()`.
 */
export function imageSbat(data: Uint8Array, file: string, pe: PeImage = parsePe(data, file)): ImageSbat {
  const r = new ByteReader(data, { file, format: 'pe', littleEndian: true });
  const coff = r.u32(0x3c, 'e_lfanew') + 4;
  const table = coff + 20 + r.u16(coff + 16, 'SizeOfOptionalHeader');
  let found: { h: number; index: number } | undefined;
  for (let i = 0; i < pe.sections.length; i++) {
    const h = table + i * 40;
    if (!r.startsWith(h, SBAT_NAME)) continue;
    if (found) return { status: 'refused', headerOffset: h, reason: 'the image has two .sbat sections' };
    found = { h, index: i };
  }
  if (!found) return { status: 'absent' };
  const relocPointer = r.u32(found.h + 24, 'PointerToRelocations');
  const relocCount = r.u16(found.h + 32, 'NumberOfRelocations');
  if (relocPointer !== 0 || relocCount !== 0)
    return { status: 'refused', headerOffset: found.h, reason: 'the .sbat section has relocations' };
  const s = pe.sections[found.index]!;
  const where = { offset: s.pointerToRawData, size: s.sizeOfRawData, virtualSize: s.virtualSize };
  if (s.sizeOfRawData === 0 || s.sizeOfRawData < s.virtualSize) return { status: 'ignored', ...where };
  const bytes = r.bytes(s.pointerToRawData, s.sizeOfRawData, '.sbat');
  return { status: 'present', ...where, sbat: parseSbat(bytes) };
}

const SBAT_NAME = [0x2e, 0x73, 0x62, 0x61, 0x74, 0, 0, 0]; // ".sbat\0\0\0"

/** Why shim allows or refuses an image under a level. */
export type SbatVerdictReason =
  | 'not-revoked' // every row is at or above the level
  | 'empty-level' // the level has no rows: shim checks nothing
  | 'revoked' // a row's generation is below the level's
  | 'no-sbat' // no usable .sbat: refused when shim loads the image, allowed through the shim_lock protocol
  | 'malformed' // shim cannot parse the .sbat
  | 'refused-section'; // two .sbat sections, or relocations in it

/** Whether shim would run an image under a level, and which entry decides. */
export interface SbatVerdict {
  /** Whether shim starts the image when it loads it itself (GRUB, systemd-boot, a UKI started by shim). */
  readonly allowed: boolean;
  /** Whether shim's verify protocol (GRUB verifying a kernel) accepts it: differs only for `no-sbat`. */
  readonly allowedViaProtocol: boolean;
  readonly reason: SbatVerdictReason;
  readonly revoked: SbatCheck | undefined;
  readonly checks: readonly SbatCheck[];
}

/**
 * `verify_buffer_sbat()` + `verify_sbat_section()`: the verdict of shim with `level` in its
 * SbatLevel variable on an image whose `.sbat` is `image`.
 */
export function judgeImageSbat(image: ImageSbat, level: SbatLevel): SbatVerdict {
  const none = { revoked: undefined, checks: [] };
  if (image.status === 'refused')
    return { allowed: false, allowedViaProtocol: false, reason: 'refused-section', ...none };
  if (level.entries.length === 0) {
    const checks = image.status === 'present' ? judgeSbatEntries(image.sbat.entries, level).checks : [];
    return { allowed: true, allowedViaProtocol: true, reason: 'empty-level', revoked: undefined, checks };
  }
  if (image.status !== 'present') return { allowed: false, allowedViaProtocol: true, reason: 'no-sbat', ...none };
  if (!image.sbat.valid) return { allowed: false, allowedViaProtocol: false, reason: 'malformed', ...none };
  const j = judgeSbatEntries(image.sbat.entries, level);
  return {
    allowed: j.allowed,
    allowedViaProtocol: j.allowed,
    reason: j.allowed ? 'not-revoked' : 'revoked',
    revoked: j.revoked,
    checks: j.checks,
  };
}
