/**
 * Counted phrases of the text outputs, with number agreement ("1 module", "2 modules",
 * "1 differs", "0 differ"), and the count-bearing summary lines built from them.
 */

/** `n` and the noun in agreement with it: count(1, 'entry', 'entries') = "1 entry". */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/** The form agreeing with `n` as subject: agree(1, 'differs', 'differ') = "differs". */
export function agree(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}

const entries = (n: number): string => count(n, 'entry', 'entries');

/** What `diff` counted. `ignored` counts: module signatures, kernel certificate areas. */
export interface DiffCounts {
  readonly identical: boolean;
  readonly equalModuloSignatures: boolean;
  readonly compared: number;
  readonly differences: number;
  readonly signatures: number;
  readonly certificates: number;
}

/** The last line of `diff`'s text output. */
export function diffSummary(c: DiffCounts): string {
  const { signatures: s, certificates: k } = c;
  if (c.identical) return `identical (${entries(c.compared)})`;
  if (c.equalModuloSignatures) {
    const sigs = count(s, 'signature');
    const areas = count(k, 'certificate area');
    const what = !k
      ? `${sigs} ${agree(s, 'differs', 'differ')}`
      : !s
        ? `${areas} ${agree(k, 'differs', 'differ')}`
        : `${sigs} and ${areas} differ`;
    return `equal modulo signatures and embedded certificates (${entries(c.compared)}; ${what})`;
  }
  const certs = k ? `, ${k} only in ${agree(k, 'its certificate area', 'their certificate areas')}` : '';
  return (
    `${count(c.differences, 'difference')} besides signatures (${entries(c.compared)} compared; ` +
    `${s} more ${agree(s, 'differs only in its signature', 'differ only in their signatures')}${certs})`
  );
}

/** `detach`'s one line. */
export function detachSummary(
  r: { signed: number; bundle: string; rewritten: number; unsigned: number },
  keep: boolean,
): string {
  const tree = keep ? ' (tree left signed)' : `; ${count(r.rewritten, 'module')} left unsigned`;
  const unsigned = r.unsigned ? `; ${count(r.unsigned, 'module')} had no signature` : '';
  return `detached ${count(r.signed, 'signature')} into ${r.bundle}${tree}${unsigned}`;
}

/** `attach`'s one line. */
export function attachSummary(r: { attached: number; tree: string; unchanged: number }): string {
  return `attached ${count(r.attached, 'signature')} to ${r.tree}${r.unchanged ? ` (${r.unchanged} unchanged)` : ''}`;
}

/** `sign`'s and `seal`'s summary: "signed 2 of 3 modules; 1 failed and was left as it was". */
export function signSummary(verb: string, total: number, failed: number): string {
  const left = agree(failed, 'was left as it was', 'were left as they were');
  return `${verb} ${total - failed} of ${count(total, 'module')}${failed ? `; ${failed} failed and ${left}` : ''}`;
}

/** `check`'s last line: "3 modules: 1 loads, 2 load tainted, 0 rejected". */
export function checkSummary(total: number, loads: number, tainted: number, rejected: number): string {
  const load = (n: number): string => `${n} ${agree(n, 'loads', 'load')}`;
  return `${count(total, 'module')}: ${load(loads)}, ${load(tainted)} tainted, ${rejected} rejected`;
}

/** `btf check`'s count-bearing phrases. */
export const btfText = {
  relocatable: (types: number): string =>
    `BTF valid, relocatable: all ${count(types, 'type')} of its .BTF.base ${agree(types, 'maps', 'map')} onto the kernel's vmlinux BTF`,
  mapped: (mapped: number, types: number): string =>
    `.BTF.base: ${mapped} of ${count(types, 'type')} mapped before the failure`,
  noEvidence: (names: number, refs: number): string =>
    `no evidence of another base (${count(names, 'name')}, ${count(refs, 'reference')} checked)`,
  evidence: (names: number, refs: number): string =>
    `EVIDENCE of another base: ${count(names, 'name')} ${agree(names, 'does', 'do')} not start a string of this base, ` +
    `${count(refs, 'reference')} ${agree(refs, 'points', 'point')} at kinds that cannot be referenced so`,
  mismatched: (n: number, truncated: boolean, referenced: number): string =>
    `MISMATCHED (${n}${truncated ? '+' : ''} of ${referenced} referenced ${agree(truncated ? 2 : n, 'differs', 'differ')})`,
};
