/**
 * Text for `btf check --built-against` mismatches. Many referenced types usually differ for one
 * reason deep down (a struct that gained a member, reached through dozens of pointers and
 * members), so the text names each such type once: how it differs, its description in each
 * base, which referenced types reach it, and the shortest path to it with its middle elided.
 * `--json` keeps every mismatch with its whole path.
 */
import type { BaseTypeMismatch } from '../btf/compare.js';

/** Steps kept at each end of a long path. */
const PATH_ENDS = 3;
/** Referenced types named per difference before "and N more". */
const MAX_REFS = 4;

/** `a -> b -> c -> ... (N more) ... -> x -> y -> z` for paths longer than 2 × PATH_ENDS + 1 steps. */
export function elidePath(steps: readonly string[]): string {
  if (steps.length <= 2 * PATH_ENDS + 1) return steps.join(' -> ');
  return [
    ...steps.slice(0, PATH_ENDS),
    `... (${steps.length - 2 * PATH_ENDS} more) ...`,
    ...steps.slice(-PATH_ENDS),
  ].join(' -> ');
}

/** Lines (without indentation) describing `mismatches`, one group per differing pair of types, in order of first appearance. */
export function renderBaseMismatches(mismatches: readonly BaseTypeMismatch[]): string[] {
  const groups = new Map<string, BaseTypeMismatch[]>();
  for (const m of mismatches) {
    const key = `${m.differsAt.buildId}:${m.differsAt.targetId}:${m.reason}`;
    const g = groups.get(key);
    if (g) g.push(m);
    else groups.set(key, [m]);
  }
  const lines: string[] = [];
  for (const g of groups.values()) {
    const { differsAt: at, reason } = g[0]!;
    const ids = at.buildId === at.targetId ? `[${at.buildId}]` : `[${at.buildId}] vs [${at.targetId}]`;
    lines.push(`${ids} ${reason}`, `  built against: ${at.build}`, `  target:        ${at.target}`);
    const via = g.filter((m) => m.id !== at.buildId || m.id !== at.targetId || m.path.includes(' -> '));
    if (!via.length) continue;
    const refs = via.map((m) => `[${m.id}] ${m.build}`);
    lines.push(
      `  reached from ${refs.length === 1 ? 'the referenced type' : `${refs.length} referenced types:`} ` +
        `${refs.slice(0, MAX_REFS).join(', ')}${refs.length > MAX_REFS ? `, and ${refs.length - MAX_REFS} more` : ''}`,
    );
    const shortest = via.reduce((a, b) => (b.path.split(' -> ').length < a.path.split(' -> ').length ? b : a));
    const steps = shortest.path.split(' -> ');
    lines.push(`  by ${elidePath(steps)}${steps.length > 2 * PATH_ENDS + 1 ? ` (${steps.length} steps)` : ''}`);
  }
  return lines;
}
