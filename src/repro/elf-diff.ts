/**
 * Which sections of two ELF files differ. Sections pair by name (the k-th of a repeated name
 * pairs with the k-th); SHT_NOBITS compares size only. Anything that differs outside the
 * sections is reported as `<elf header>` or `<layout>` so that no byte difference goes unnamed.
 */
import { Elf, SHT_NOBITS, type ElfSection } from '../elf/elf.js';
import { bytesEqual } from './module-parts.js';

/** An ELF section that differs between two files. */
export interface SectionDifference {
  /** Section name (`name#k` for the k-th repeat), or `<elf header>` / `<layout>`. */
  readonly name: string;
  readonly change: 'content' | 'size' | 'type' | 'only-in-a' | 'only-in-b';
  readonly sizeA?: number;
  readonly sizeB?: number;
}

function keyed(elf: Elf): Map<string, ElfSection> {
  const out = new Map<string, ElfSection>();
  const seen = new Map<string, number>();
  for (const s of elf.sections) {
    if (s.index === 0) continue;
    const n = seen.get(s.name) ?? 0;
    seen.set(s.name, n + 1);
    out.set(n === 0 ? s.name : `${s.name}#${n}`, s);
  }
  return out;
}

/**
 * Section-level differences of two ELF images (both must differ somewhere, or the result is empty).
 * @returns undefined when either side is not a parseable ELF.
 */
export function diffElfSections(
  a: Uint8Array,
  b: Uint8Array,
  fileA: string,
  fileB: string,
): SectionDifference[] | undefined {
  let ea: Elf;
  let eb: Elf;
  try {
    ea = Elf.parse(a, fileA);
    eb = Elf.parse(b, fileB);
  } catch {
    return undefined;
  }
  const sa = keyed(ea);
  const sb = keyed(eb);
  const out: SectionDifference[] = [];
  for (const [name, x] of sa) {
    const y = sb.get(name);
    if (!y) {
      out.push({ name, change: 'only-in-a', sizeA: x.sh_size });
      continue;
    }
    if (x.sh_type !== y.sh_type) out.push({ name, change: 'type', sizeA: x.sh_size, sizeB: y.sh_size });
    else if (x.sh_size !== y.sh_size) out.push({ name, change: 'size', sizeA: x.sh_size, sizeB: y.sh_size });
    else if (x.sh_type !== SHT_NOBITS && !bytesEqual(ea.sectionData(x), eb.sectionData(y)))
      out.push({ name, change: 'content', sizeA: x.sh_size, sizeB: y.sh_size });
  }
  for (const [name, y] of sb) if (!sa.has(name)) out.push({ name, change: 'only-in-b', sizeB: y.sh_size });
  const ehsize = Math.min(64, a.length, b.length);
  if (!bytesEqual(a.subarray(0, ehsize), b.subarray(0, ehsize))) out.push({ name: '<elf header>', change: 'content' });
  if (out.length === 0 && !bytesEqual(a, b))
    out.push({
      name: '<layout>',
      change: a.length === b.length ? 'content' : 'size',
      sizeA: a.length,
      sizeB: b.length,
    });
  return out;
}

/** The section holding absolute file offset `off`, or undefined. */
export function sectionAt(elf: Elf, off: number): ElfSection | undefined {
  for (const s of elf.sections) {
    if (s.sh_type === SHT_NOBITS || s.sh_size === 0) continue;
    if (off >= s.sh_offset && off < s.sh_offset + s.sh_size) return s;
  }
  return undefined;
}
