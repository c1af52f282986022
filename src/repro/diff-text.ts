/**
 * `diff`'s text: one line per difference, then the summary line. Beside `diff` (floor 10), since
 * the renderers of src/report sit below the DiffEntry type they would have to name.
 */
import { agree, count, diffSummary } from '../report/counts.js';
import type { DiffEntry, DiffResult } from './diff.js';

const sections = (names: readonly string[], sep = ' '): string =>
  `${agree(names.length, 'section', 'sections')}${sep}${names.join(', ')}`;

/** One difference as the line `diff` prints for it. */
export function describeDifference(d: DiffEntry): string {
  switch (d.kind) {
    case 'only-in-a':
    case 'only-in-b':
      return `${d.path}: only in ${d.kind === 'only-in-a' ? 'A' : 'B'} (${d.type})`;
    case 'type':
      return `${d.path}: ${d.a} in A, ${d.b} in B`;
    case 'mode':
      return `${d.path}: mode ${d.a} != ${d.b}`;
    case 'link-target':
      return `${d.path}: link to ${d.a} != ${d.b}`;
    case 'content': {
      const what = d.compared === 'module-content' ? 'module content differs' : 'bytes differ';
      const where = d.sections?.length
        ? `; ${sections(
            d.sections.map((s) => s.name),
            ': ',
          )}`
        : '';
      return `${d.path}: ${what} at 0x${d.firstDifference.toString(16)} (${d.sizeA} vs ${d.sizeB} bytes)${where}`;
    }
    case 'compression':
      return `${d.path}: compression ${d.a} vs ${d.b}: ${d.detail}`;
    case 'kernel': {
      const k = d.kernel.kernel;
      const where = k?.sections.length
        ? sections([...new Set(k.sections.map((s) => s.name))])
        : `${count(d.kernel.image.regionCount, 'region')} of the image`;
      return `${d.path}: kernel differs beyond certificates, build id and Secure Boot signature: ${where}`;
    }
    case 'error':
      return `${d.path}: ${d.detail}`;
  }
}

/** The whole text output of `diff`: every difference, then how many of what were ignored. */
export function renderDiffText(r: DiffResult): string {
  const signatures = r.ignored.filter((x) => x.kind === 'signature').length;
  const summary = diffSummary({
    ...r,
    differences: r.differences.length,
    signatures,
    certificates: r.ignored.length - signatures,
  });
  return r.differences.map((d) => describeDifference(d) + '\n').join('') + summary + '\n';
}
