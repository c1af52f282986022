/** What `efi sbat` prints: the image's `.sbat` as shim reads it, the level, and shim's verdict, as text or JSON. */
import {
  formatSbat,
  type ImageSbat,
  type SbatCheck,
  type SbatIssue,
  type SbatLevel,
  type SbatVerdict,
  type SbatVerdictReason,
} from '../pe/sbat.js';
import { jsonText } from './seal.js';

/** A level and where it came from (a file, `shim:latest`, the running machine's SbatLevelRT). */
export interface SbatLevelSource {
  readonly source: string;
  readonly level: SbatLevel;
  /** efivarfs attributes, when the level was read as a variable. */
  readonly attributes?: number;
}

export interface SbatReport {
  readonly file: string;
  readonly image: ImageSbat;
  readonly level: SbatLevelSource | undefined;
  readonly verdict: SbatVerdict | undefined;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

const REASONS: Record<SbatVerdictReason, string> = {
  'not-revoked': 'every component is at or above the level',
  'empty-level': 'the level has no entries: shim checks nothing',
  revoked: '',
  'no-sbat':
    'the image has no usable .sbat: shim refuses it when it loads it itself ' +
    "(GRUB verifying it through shim's protocol would accept it)",
  malformed: 'shim cannot parse its .sbat',
  'refused-section': 'shim refuses its .sbat section',
};

function issueLine(i: SbatIssue, base: number): string {
  return `  ${i.severity} at ${hex(base + i.offset)}: ${i.message}`;
}

function checkLine(c: SbatCheck): string {
  const own = `${c.entry.component},${c.entry.generation}`;
  if (!c.levelEntry) return `  ${own}: not in the level`;
  const rule = `${c.levelEntry.component},${c.levelEntry.generation}`;
  return `  ${own}: level ${rule}: ${c.revoked ? `revoked (${c.generation} < ${c.minimum})` : 'ok'}`;
}

/** The text of `efi sbat`. */
export function sbatText(r: SbatReport): string {
  const lines: string[] = [];
  const img = r.image;
  switch (img.status) {
    case 'absent':
      lines.push(`${r.file}: no .sbat section`);
      break;
    case 'ignored':
      lines.push(
        `${r.file}: .sbat at ${hex(img.offset)} ignored by shim ` +
          `(SizeOfRawData ${img.size} is ${img.size === 0 ? 'zero' : `below VirtualSize ${img.virtualSize}`})`,
      );
      break;
    case 'refused':
      lines.push(`${r.file}: ${hex(img.headerOffset)}: ${img.reason}: shim refuses the image`);
      break;
    case 'present': {
      const s = img.sbat;
      const n = s.entries.length;
      lines.push(
        `${r.file}: .sbat at ${hex(img.offset)}, ${img.size} bytes` +
          (s.valid ? `, ${n} ${n === 1 ? 'entry' : 'entries'}` : ': malformed'),
      );
      if (s.valid && n)
        lines.push(
          ...formatSbat(s.entries)
            .trimEnd()
            .split('\n')
            .map((l) => `  ${l}`),
        );
      lines.push(...s.issues.map((i) => issueLine(i, img.offset)));
      break;
    }
  }
  if (r.level) {
    const l = r.level.level;
    const head = l.datestamp ? `sbat,${l.version},${l.datestamp}` : 'no sbat header';
    lines.push(
      `level: ${r.level.source} (${head}; ${l.entries.length} ${l.entries.length === 1 ? 'entry' : 'entries'})`,
    );
    lines.push(...l.issues.map((i) => issueLine(i, 0)));
  }
  const v = r.verdict;
  if (v) {
    lines.push(...v.checks.map(checkLine));
    lines.push(`${r.file}: ${sbatVerdictText(v)}`);
  }
  return lines.join('\n') + '\n';
}

const issueJson = (i: SbatIssue, base: number): object => ({
  severity: i.severity,
  offset: base + i.offset,
  message: i.message,
});

/** The JSON of `efi sbat`: offsets of issues are file offsets for the image, payload offsets for the level. */
export function sbatJson(r: SbatReport): string {
  const img = r.image;
  const sbat =
    img.status === 'present'
      ? {
          status: img.status,
          offset: img.offset,
          size: img.size,
          virtualSize: img.virtualSize,
          valid: img.sbat.valid,
          entries: img.sbat.entries.map((e) => ({ ...e, offset: img.offset + e.offset })),
          issues: img.sbat.issues.map((i) => issueJson(i, img.offset)),
        }
      : img.status === 'ignored'
        ? { status: img.status, offset: img.offset, size: img.size, virtualSize: img.virtualSize }
        : img.status === 'refused'
          ? { status: img.status, offset: img.headerOffset, reason: img.reason }
          : { status: img.status };
  const level = r.level
    ? {
        source: r.level.source,
        attributes: r.level.attributes ?? null,
        version: r.level.level.version ?? null,
        datestamp: r.level.level.datestamp ?? null,
        entries: r.level.level.entries.map((e) => ({
          component: e.component,
          generation: e.generation,
          datestamp: e.datestamp ?? null,
          offset: e.offset,
        })),
        issues: r.level.level.issues.map((i) => issueJson(i, 0)),
      }
    : null;
  const v = r.verdict;
  const check = (c: SbatCheck): object => ({
    component: c.entry.component,
    generation: c.generation,
    minimum: c.minimum ?? null,
    revoked: c.revoked,
  });
  const verdict = v
    ? {
        allowed: v.allowed,
        allowedViaProtocol: v.allowedViaProtocol,
        reason: v.reason,
        revoked: v.revoked ? check(v.revoked) : null,
        checks: v.checks.map(check),
      }
    : null;
  return jsonText({ file: r.file, sbat, level, verdict });
}

/** "allowed: ..." or "refused: ..." for a verdict: why shim would or would not run the image. */
export function sbatVerdictText(v: SbatVerdict): string {
  if (v.allowed) return `allowed: ${REASONS[v.reason]}`;
  if (!v.revoked) return `refused: ${REASONS[v.reason]}`;
  const c = v.revoked;
  return (
    `refused: ${c.entry.component} generation ${c.generation} is below ` +
    `${c.minimum} (level entry ${c.levelEntry!.component},${c.levelEntry!.generation})`
  );
}

/** The JSON of a verdict (as `efi sbat` and `efi verify --sbat-level` print it). */
export function sbatVerdictJson(v: SbatVerdict): object {
  return {
    allowed: v.allowed,
    allowedViaProtocol: v.allowedViaProtocol,
    reason: v.reason,
    revoked: v.revoked
      ? { component: v.revoked.entry.component, generation: v.revoked.generation, minimum: v.revoked.minimum }
      : null,
  };
}
