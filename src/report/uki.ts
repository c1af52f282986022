/** What `uki build` and `uki inspect` print, as text or JSON. */
import type { PeImage } from '../pe/pe.js';
import { scrapeUname, sectionText, type BuiltUki, type UkiSection } from '../pe/uki.js';
import { jsonText } from './seal.js';

/** What `uki build` made. */
export interface UkiBuildSummary {
  readonly out: string;
  readonly stub: string;
  readonly size: number;
  readonly signed: boolean;
  /** Whether the kernel was unsigned and kmodseal signed it before embedding it (as ukify does). */
  readonly kernelSigned: boolean;
  readonly built: BuiltUki;
  readonly sections: readonly UkiSection[];
}

const hex = (n: number): string => `0x${n.toString(16)}`;

function sectionLines(sections: readonly UkiSection[]): string[] {
  return sections.map(
    (s) =>
      `  ${s.name.padEnd(9)} va ${hex(s.virtualAddress).padStart(9)}  offset ${hex(s.offset).padStart(9)}  ` +
      `size ${String(s.size).padStart(10)}  sha256 ${s.sha256}`,
  );
}

const sectionJson = (s: UkiSection): Record<string, unknown> => ({
  name: s.name,
  uki: s.uki,
  virtualAddress: s.virtualAddress,
  virtualSize: s.virtualSize,
  offset: s.offset,
  sizeOfRawData: s.sizeOfRawData,
  size: s.size,
  sha256: s.sha256,
});

/** The text of `uki build`. */
export function ukiBuildText(r: UkiBuildSummary): string {
  const lines = [
    `${r.out}: ${r.signed ? 'signed' : 'unsigned'} UKI, ${r.size} bytes (stub ${r.stub})`,
    ...(r.kernelSigned ? ['  the kernel was unsigned: signed it with the same key before embedding it'] : []),
    `  uname: ${r.built.uname ?? '(not found)'}`,
    'sections (measurement order, then the stub):',
    ...sectionLines(r.sections),
  ];
  return lines.join('\n') + '\n';
}

/** The JSON of `uki build`. */
export function ukiBuildJson(r: UkiBuildSummary): string {
  return jsonText({
    out: r.out,
    stub: r.stub,
    size: r.size,
    signed: r.signed,
    kernelSigned: r.kernelSigned,
    uname: r.built.uname ?? null,
    sbat: r.built.sbat,
    added: r.built.sections,
    sections: r.sections.map(sectionJson),
  });
}

interface UkiTexts {
  uname: string | null;
  osrel: string | null;
  cmdline: string | null;
  sbat: string | null;
  kernelRelease: string | null;
}

function texts(data: Uint8Array, sections: readonly UkiSection[]): UkiTexts {
  const text = (name: string): string | null => {
    const s = sections.find((x) => x.name === name);
    return s ? sectionText(data, s) : null;
  };
  const linux = sections.find((s) => s.name === '.linux');
  return {
    uname: text('.uname'),
    osrel: text('.osrel'),
    cmdline: text('.cmdline'),
    sbat: text('.sbat'),
    kernelRelease: linux ? (scrapeUname(data.subarray(linux.offset, linux.offset + linux.size)) ?? null) : null,
  };
}

/** The text of `uki inspect`. */
export function ukiInspectText(file: string, data: Uint8Array, pe: PeImage, sections: readonly UkiSection[]): string {
  const t = texts(data, sections);
  const pretty = t.osrel ? /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(t.osrel)?.[1] : undefined;
  const lines = [
    `${file}: UKI, ${data.length} bytes, ${pe.certificates.length} signature${pe.certificates.length === 1 ? '' : 's'}`,
    `  kernel release: ${t.kernelRelease ?? '(not found)'}`,
    `  .uname: ${t.uname ?? '(none)'}`,
    `  .osrel: ${t.osrel === null ? '(none)' : (pretty ?? `${t.osrel.length} bytes`)}`,
    `  .cmdline: ${t.cmdline ?? '(none)'}`,
    'sections (measurement order, then the stub):',
    ...sectionLines(sections),
  ];
  if (t.sbat !== null)
    lines.push(
      '.sbat:',
      ...t.sbat
        .replace(/\n$/, '')
        .split('\n')
        .map((l) => `  ${l}`),
    );
  return lines.join('\n') + '\n';
}

/** The JSON of `uki inspect`. */
export function ukiInspectJson(file: string, data: Uint8Array, pe: PeImage, sections: readonly UkiSection[]): string {
  return jsonText({
    file,
    size: data.length,
    signatures: pe.certificates.length,
    ...texts(data, sections),
    sections: sections.map(sectionJson),
  });
}
