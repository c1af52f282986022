/**
 * depmod's text indexes of a module directory, parsed as kmod reads them (modules.dep,
 * modules.alias, modules.builtin, modules.builtin.modinfo), and kmod's name and alias
 * normalisation and fnmatch(3). Pure: the files are read by src/kernel/module-directory.ts.
 */
import path from 'node:path';
import { parseModinfoString, type ModinfoEntry } from './modinfo.js';

/** kmod's module-name normalisation: '-' becomes '_'. */
export function normalizeModname(name: string): string {
  return name.replace(/-/g, '_');
}

/** The module name kmod derives from a file name: basename without extension, normalised. */
export function modnameFromPath(p: string): string {
  const base = path.basename(p);
  const dot = base.indexOf('.');
  return normalizeModname(dot < 0 ? base : base.slice(0, dot));
}

/** kmod's alias normalisation: '-' becomes '_' outside of [...] classes. */
export function normalizeAlias(alias: string): string {
  let out = '';
  let inClass = false;
  for (const c of alias) {
    if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    out += c === '-' && !inClass ? '_' : c;
  }
  return out;
}

/** fnmatch(3) without flags: *, ?, [...] (with ! or ^ negation and ranges). */
export function fnmatch(pattern: string, s: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) re += '\\[';
      else {
        let body = pattern.slice(i + 1, close);
        if (body.startsWith('!') || body.startsWith('^')) body = '^' + body.slice(1);
        re += '[' + body.replace(/\\/g, '\\\\') + ']';
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(re + '$').test(s);
}

/** modules.dep: module name -> file (relative paths joined to `dir`); the first line for a name wins. */
export function parseModulesDep(text: string, dir: string): Map<string, string> {
  const dep = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const rel = line.slice(0, colon);
    const name = modnameFromPath(rel);
    if (!dep.has(name)) dep.set(name, rel.startsWith('/') ? rel : `${dir}/${rel}`);
  }
  return dep;
}

/** modules.alias: `alias PATTERN MODULE` lines, in file order. */
export function parseModulesAlias(text: string): { pattern: string; module: string }[] {
  const aliases: { pattern: string; module: string }[] = [];
  for (const line of text.split('\n')) {
    const m = /^alias\s+(\S+)\s+(\S+)/.exec(line);
    if (m) aliases.push({ pattern: m[1]!, module: m[2]! });
  }
  return aliases;
}

/** modules.builtin: the names of built-in modules. */
export function parseModulesBuiltin(text: string): Set<string> {
  const builtin = new Set<string>();
  for (const line of text.split('\n')) if (line) builtin.add(modnameFromPath(line));
  return builtin;
}

/** modules.builtin.modinfo ("name.key=value\0" records): module name -> its modinfo entries. */
export function parseBuiltinModinfo(text: string): Map<string, ModinfoEntry[]> {
  const info = new Map<string, ModinfoEntry[]>();
  for (const rec of text.split('\0')) {
    const dot = rec.indexOf('.');
    if (dot <= 0) continue;
    const mod = rec.slice(0, dot);
    let list = info.get(mod);
    if (!list) info.set(mod, (list = []));
    list.push(parseModinfoString(rec.slice(dot + 1)));
  }
  return info;
}
