/**
 * The `.modinfo` section: NUL-separated "key=value" strings written by MODULE_INFO().
 * Authority: include/linux/moduleparam.h, include/linux/module.h; kmod
 * libkmod/libkmod-elf.c (kmod_elf_get_strings) and libkmod-module.c (kmod_module_get_info),
 * whose splitting rules we follow exactly: leading NULs skipped, runs of NULs separate,
 * an unterminated last string still counts, a string without '=' has itself as value.
 */
import { latin1 } from '../bytes/reader.js';
import type { Elf } from '../elf/elf.js';

/** One `key=value` string of a module's `.modinfo` section (or a signature field modinfo appends). */
export interface ModinfoEntry {
  readonly key: string;
  readonly value: string;
}

/** Splits `.modinfo` bytes into strings exactly as kmod_elf_get_strings does. */
export function splitModinfoStrings(data: Uint8Array): string[] {
  let start = 0;
  let size = data.length;
  if (size === 0) return [];
  while (data[start] === 0 && size > 1) {
    start++;
    size--;
  }
  if (size <= 1) return [];
  const end = start + size;
  const out: string[] = [];
  let i = start;
  while (i < end) {
    let j = i;
    while (j < end && data[j] !== 0) j++;
    if (j > i) out.push(latin1(data, i, j));
    i = j + 1;
  }
  return out;
}

/** Ordered key/value pairs of a module's `.modinfo` (empty when the section is absent). */
export function readModinfo(elf: Elf): ModinfoEntry[] {
  const s = elf.findSection('.modinfo');
  if (!s) return [];
  return splitModinfoStrings(elf.sectionData(s)).map(parseModinfoString);
}

export function parseModinfoString(s: string): ModinfoEntry {
  const eq = s.indexOf('=');
  return eq < 0 ? { key: s, value: s } : { key: s.slice(0, eq), value: s.slice(eq + 1) };
}

/** kmod's hex rendering: "AB:CD:..." upper case, a "\n\t\t" after every 20 bytes. */
export function kmodHex(data: Uint8Array): string {
  const n = data.length;
  if (n === 0) return '';
  // One flat latin1 string from a byte buffer: concatenating ~1,500 pieces built a rope that
  // every later use flattened again.
  const out = Buffer.allocUnsafe(n * 3 - 1 + Math.floor((n - 1) / 20) * 3);
  let o = 0;
  for (let i = 0; i < n; i++) {
    const b = data[i]!;
    out[o++] = HEX_DIGITS[b >> 4]!;
    out[o++] = HEX_DIGITS[b & 15]!;
    if (i < n - 1) {
      out[o++] = 0x3a; // ':'
      if ((i + 1) % 20 === 0) {
        out[o++] = 0x0a;
        out[o++] = 0x09;
        out[o++] = 0x09;
      }
    }
  }
  return out.toString('latin1', 0, o);
}
const HEX_DIGITS = Uint8Array.from('0123456789ABCDEF', (c) => c.charCodeAt(0));
