/**
 * `btf check`'s text and JSON: per module the kernel's BTF verdict and its consequence, the
 * kernel's log lines, the distilled base's mapping, and the base-type comparison (exact with
 * --built-against, else a heuristic).
 */
import type { BtfCheckJson } from '../check/btf-check.js';
import type { KernelSeries } from '../kernel/series.js';
import { renderBaseMismatches } from './btf-mismatch.js';
import { btfText } from './counts.js';

export type { BtfCheckJson } from '../check/btf-check.js';

/** The `kernel` object of `btf check --json`. */
export interface BtfCheckKernelJson {
  readonly source: string;
  readonly release: string | null;
  readonly series: KernelSeries;
  readonly allowBtfMismatch: boolean;
}

/** `btf check --json`: `{"kernel": {...}, "modules": [...]}`, UTF-8. */
export function renderBtfCheckJson(kernel: BtfCheckKernelJson, results: readonly BtfCheckJson[]): Uint8Array {
  return Buffer.from(JSON.stringify({ kernel, modules: results }, null, 2) + '\n', 'utf8');
}

/** `btf check`'s text: the modules that could be read, each on its lines. */
export function renderBtfCheckText(results: readonly BtfCheckJson[]): string {
  return results.map((r) => (r.error ? '' : moduleText(r))).join('');
}

/** One module's verdict line and the lines under it. */
function moduleText(r: BtfCheckJson): string {
  let text = '';
  const out = (line: string): void => {
    text += line;
  };
  const consequence =
    r.status === 'ok' || r.status === 'relocatable' || r.status === 'no-btf'
      ? 'loads'
      : r.loads
        ? 'loads without BTF (MODULE_ALLOW_BTF_MISMATCH=y)'
        : `rejected (${r.errno})`;
  const d = r.distilledBase;
  const what =
    r.status === 'ok'
      ? 'BTF valid'
      : r.status === 'relocatable'
        ? btfText.relocatable((d?.types ?? 1) - 1)
        : r.status === 'no-btf'
          ? 'no .BTF'
          : r.status === 'unsupported'
            ? `not predictable: ${r.reason}`
            : `BTF mismatch${r.typeId ? ` at ${d?.used ? '.BTF.base ' : ''}type [${r.typeId}]` : ''}: ${r.reason}`;
  out(`${r.file}: ${r.module}: ${what} -> ${consequence}\n`);
  for (const l of r.kernelLog) out(`    kernel: ${l}\n`);
  if (d && !d.used) out('    .BTF.base: ignored by this kernel series (6.1); .BTF is checked against vmlinux\n');
  if (d?.mappings && r.status !== 'relocatable') out(`    ${btfText.mapped(d.mappings.length, (d.types ?? 1) - 1)}\n`);
  if (r.heuristic) {
    const h = r.heuristic;
    if (h.status === 'no-evidence')
      out(`    base types (heuristic, no --built-against): ${btfText.noEvidence(h.namesChecked, h.refsChecked)}\n`);
    else {
      out(
        `    base types (heuristic, no --built-against): ${btfText.evidence(h.misplacedNameCount, h.badKindCount)}\n`,
      );
      for (const n of h.misplacedNames)
        out(`      [${n.id}] name offset ${n.nameOff} lands inside a string (reads '${n.reads}')\n`);
      for (const b of h.badKinds) out(`      [${b.id}] ${b.from} -> [${b.ref}] ${b.kind}\n`);
    }
  }
  if (r.semantic) {
    if (r.semantic.status === 'compatible')
      out(`    base types: compatible (${r.semantic.referenced} referenced, all equal to the target's)\n`);
    else {
      out(
        `    base types: ${btfText.mismatched(r.semantic.mismatches.length, r.semantic.truncated, r.semantic.referenced)}\n`,
      );
      for (const l of renderBaseMismatches(r.semantic.mismatches)) out(`      ${l}\n`);
    }
  }
  return text;
}
