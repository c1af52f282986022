/**
 * `check`'s text and JSON: the kernel's facts and policy, then the verdicts grouped by outcome
 * (rejected, tainted, loading) with the reason that decides each, and the summary line.
 */
import type { ModuleVerdict } from '../check/check.js';
import type { CheckTarget } from '../check/target.js';
import { checkSummary } from './counts.js';

/** The `kernel` object of `check --json` (and of the HTML report). */
export interface CheckKernelJson {
  readonly source: string;
  readonly release: string | null;
  readonly vermagic: string | null;
  readonly series: CheckTarget['series'];
  readonly structModuleSize: number | null;
  readonly trusted: readonly string[];
  readonly policy: CheckTarget['policy'];
  readonly unreadable?: CheckTarget['unreadable'];
}

/** What `check` reports of its target. */
export function checkKernelJson(target: CheckTarget): CheckKernelJson {
  return {
    source: target.description,
    release: target.release ?? null,
    vermagic: target.vermagic ?? null,
    series: target.series,
    structModuleSize: target.structModuleSize ?? null,
    trusted: target.trusted.map((c) => c.kernelName),
    policy: target.policy,
    ...(target.unreadable.length ? { unreadable: target.unreadable } : {}),
  };
}

/** `check --json`: `{"kernel": {...}, "modules": [...]}`, UTF-8. */
export function renderCheckJson(kernel: CheckKernelJson, verdicts: readonly ModuleVerdict[]): Uint8Array {
  return Buffer.from(JSON.stringify({ kernel, modules: verdicts }, null, 2) + '\n', 'utf8');
}

/** `check`'s text, UTF-8. */
export function renderCheckText(kernel: CheckKernelJson, verdicts: readonly ModuleVerdict[]): Uint8Array {
  const lines: string[] = [];
  const pol = kernel.policy;
  lines.push(`kernel: ${kernel.release ?? '?'} (${kernel.source})`);
  lines.push(
    `policy: sig_enforce=${pol.sigEnforce ? 1 : 0} lockdown=${pol.lockdown ? 1 : 0} modversions=${pol.modversions ? 1 : 0} ` +
      `allow_btf_mismatch=${pol.allowBtfMismatch ? 1 : 0} force=${pol.force ? 1 : 0}`,
  );
  for (const outcome of ['rejected', 'loads-tainted', 'loads'] as const) {
    const group = verdicts.filter((v) => v.outcome === outcome);
    if (!group.length) continue;
    lines.push('', `${outcome} (${group.length}):`);
    for (const v of group) lines.push(...verdictLines(v));
  }
  const n = (o: string): number => verdicts.filter((v) => v.outcome === o).length;
  lines.push('', checkSummary(verdicts.length, n('loads'), n('loads-tainted'), n('rejected')));
  return Buffer.from(lines.join('\n') + '\n', 'utf8');
}

/** One module: its verdict line, the checks a part of the kernel left undone, and (unless it loads) its file and kernel log. */
function verdictLines(v: ModuleVerdict): string[] {
  const lines: string[] = [];
  const outcome = v.outcome;
  const head = outcome === 'rejected' ? v.errno! : outcome === 'loads-tainted' ? `taint ${v.taints}` : 'ok';
  const fatal = v.reasons.find((r) => r.fatal);
  lines.push(
    `  ${v.name.padEnd(24)} ${head.padEnd(13)} ${
      fatal
        ? fatal.message
        : v.reasons
            .filter((r) => r.check === 'taint' || r.code === 'unsigned' || r.code === 'untrusted-key')
            .map((r) => r.message)
            .join('; ')
    }`,
  );
  // verdicts made without a part of the kernel image say so, and which checks were left undone
  const undone = v.reasons.filter((r) => r.code === 'kernel-unreadable');
  if (undone.length)
    lines.push(
      `    not checked (kernel part unreadable): ${undone.map((r) => `${r.check} (${r.unreadable!.part})`).join(', ')}`,
    );
  if (outcome !== 'loads') {
    lines.push(`    ${v.file}`);
    for (const r of v.reasons)
      if (r.log && (r.fatal || outcome === 'rejected'))
        for (const l of r.log.split('\n')) lines.push(`    kernel: ${l}`);
  }
  return lines;
}
