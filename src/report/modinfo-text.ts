/**
 * modinfo's text output, byte for byte (kmod 30 tools/modinfo.c: modinfo_do and
 * modinfo_params_do). Strings are "binary" (one char per byte); write them as latin1.
 */
import type { ModinfoEntry } from '../modinfo/modinfo.js';

/** Options of {@link renderModinfo}: modinfo's `-F` and `-0`. */
export interface ModinfoTextOptions {
  /** Print only this field's values (`-F`), as modinfo does. */
  readonly field?: string | undefined;
  /** `-0`: NUL instead of newline, and "key=value" lines. */
  readonly nul?: boolean;
}

/** C's printf("%s") stops at the first NUL. */
function cstr(s: string): string {
  const z = s.indexOf('\0');
  return z < 0 ? s : s.slice(0, z);
}

interface Param {
  name: string;
  param: string | undefined;
  type: string | undefined;
}

/**
 * parm/parmtype entries merged per parameter name, in the order modinfo prints them: kmod keeps
 * a linked list with new names pushed at the head, so the output is the reverse of first appearance.
 */
function collectParams(entries: readonly ModinfoEntry[]): Param[] {
  const list: Param[] = [];
  const byName = new Map<string, Param>();
  for (const { key, value } of entries) {
    if (key !== 'parm' && key !== 'parmtype') continue;
    const v = cstr(value);
    const colon = v.indexOf(':');
    if (colon < 0) continue; // kmod: "Found invalid ...: missing ':'" on stderr, then skipped
    const name = v.slice(0, colon);
    let p = byName.get(name);
    if (!p) {
      p = { name, param: undefined, type: undefined };
      byName.set(name, p);
      list.push(p);
    }
    if (key === 'parm') p.param = v.slice(colon + 1);
    else p.type = v.slice(colon + 1);
  }
  return list.reverse();
}

/** The text modinfo prints for one module file. */
export function renderModinfo(
  filename: string,
  entries: readonly ModinfoEntry[],
  options: ModinfoTextOptions = {},
): string {
  const sep = options.nul ? '\0' : '\n';
  const field = options.field;
  if (field === 'filename') return filename + sep;
  let out = '';
  if (field === undefined) out += 'filename:'.padEnd(16) + filename + sep;
  if (field === 'parm') {
    for (const p of collectParams(entries)) {
      if (p.param === undefined) out += `${p.name}: (${p.type ?? ''})${sep}`;
      else if (p.type !== undefined) out += `${p.name}:${p.param} (${p.type})${sep}`;
      else out += `${p.name}:${p.param}${sep}`;
    }
    return out;
  }
  for (const { key, value } of entries) {
    if (field !== undefined) {
      if (key === field) out += cstr(value) + sep;
      continue;
    }
    if (key === 'parm' || key === 'parmtype') continue;
    if (options.nul) {
      out += `${cstr(key)}=${cstr(value)}${sep}`;
      continue;
    }
    // printf("%s:%-*s%s", key, 15 - keylen, "", value): a negative width left-justifies, so
    // keys longer than 15 still get |15 - keylen| spaces.
    const k = cstr(key);
    out += `${k}:${' '.repeat(Math.abs(15 - k.length))}${cstr(value)}${sep}`;
  }
  if (field !== undefined) return out;
  for (const p of collectParams(entries)) {
    const head = 'parm:'.padEnd(16);
    if (p.param === undefined) out += `${head}${p.name}:${p.type ?? ''}${sep}`;
    else if (p.type !== undefined) out += `${head}${p.name}:${p.param} (${p.type})${sep}`;
    else out += `${head}${p.name}:${p.param}${sep}`;
  }
  return out;
}

/** modinfo's lines for a built-in module (modules.builtin.modinfo). */
export function renderBuiltin(
  name: string,
  entries: readonly ModinfoEntry[],
  options: ModinfoTextOptions = {},
): string {
  const sep = options.nul ? '\0' : '\n';
  let out = '';
  if (options.field === undefined) out += 'name:'.padEnd(16) + name + sep;
  else if (options.field === 'name') out += name + sep;
  return out + renderModinfo('(builtin)', entries, options);
}
