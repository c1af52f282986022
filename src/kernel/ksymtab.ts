/**
 * Symbols exported by vmlinux, with their modversions CRCs.
 * Authority: include/linux/export-internal.h (__KSYMTAB, SYMBOL_CRC), include/linux/export.h,
 * include/asm-generic/vmlinux.lds.h (`KEEP(*(SORT(___ksymtab+*)))`: sorted by name),
 * kernel/module/main.c (find_exported_symbol_in_section: bsearch by name, CRC at the same
 * index in the parallel __kcrctab*), scripts/mod/modpost.c write_dump() (Module.symvers).
 *
 *   __ksymtab, __ksymtab_gpl      struct kernel_symbol[], one section per license, sorted by name
 *     PREL32 (CONFIG_HAVE_ARCH_PREL32_RELOCATIONS: x86 -- i386 too, `config X86` selects it --,
 *             arm64, powerpc, riscv, loongarch)
 *       s32 value_offset; s32 name_offset; s32 namespace_offset;   each relative to its own field
 *     absolute (others: 32-bit arm, s390x, ...)
 *       unsigned long value; const char *name; const char *namespace;
 *   __kcrctab, __kcrctab_gpl      u32 crc[], same index (6.1 and 6.12: plain values)
 *   __ksymtab_strings             names and namespaces (NUL-terminated; "" = no namespace)
 */
import type { Elf, ElfSection } from '../elf/elf.js';
import { SHT_NOBITS } from '../elf/elf.js';
import { FormatError } from '../bytes/errors.js';

/** A symbol the kernel exports to modules (one Module.symvers line). */
export interface ExportedSymbol {
  readonly name: string;
  /** modversions CRC, or undefined when the kernel has no __kcrctab (CONFIG_MODVERSIONS off). */
  readonly crc: number | undefined;
  /** Exported with EXPORT_SYMBOL_GPL (listed in __ksymtab_gpl). */
  readonly gpl: boolean;
  /** Symbol namespace ("" for none). */
  readonly namespace: string;
}

/** How `__ksymtab` entries store addresses: 32-bit relative offsets (HAVE_ARCH_PREL32_RELOCATIONS) or absolute pointers. */
export type KsymtabLayout = 'prel32' | 'absolute';

/**
 * e_machine values of architectures that select HAVE_ARCH_PREL32_RELOCATIONS whatever the word
 * size: on ELF32 both layouts are 12 bytes, so only the machine tells them apart.
 */
const PREL32_MACHINES = new Set([
  3 /* i386 */, 62 /* x86-64 */, 183 /* aarch64 */, 20 /* ppc */, 21 /* ppc64 */, 243 /* riscv */, 258 /* loongarch */,
]);

/** Upper bound on exports (Debian amd64 6.12 has ~ 11,000). */
export const MAX_EXPORTS = 1_000_000;

/**
 * Reads every exported symbol of a vmlinux ELF: the `__ksymtab` entries then the
 * `__ksymtab_gpl` entries, each in section order, which is the kernel's order (sorted by name).
 * @returns undefined when the image has no `__ksymtab` section (not a vmlinux, or stripped of it).
 * @throws FormatError E_FORMAT (sizes disagree, a name outside __ksymtab_strings), E_RANGE, E_LIMIT
 */
export function readExports(elf: Elf): ExportedSymbol[] | undefined {
  const ksymtab = elf.findSection('__ksymtab');
  if (!ksymtab) return undefined;
  const strings = elf.findSection('__ksymtab_strings');
  if (!strings || strings.sh_type === SHT_NOBITS)
    throw sectionError(elf, ksymtab, 'E_FORMAT', '__ksymtab without __ksymtab_strings');
  const layout = ksymtabLayout(elf);
  const out: ExportedSymbol[] = [];
  for (const [tab, crcs, gpl] of [
    ['__ksymtab', '__kcrctab', false],
    ['__ksymtab_gpl', '__kcrctab_gpl', true],
  ] as const) {
    const s = elf.findSection(tab);
    if (!s) continue;
    readTable(elf, s, elf.findSection(crcs), strings, layout, gpl, out);
  }
  return out;
}

/**
 * Which struct kernel_symbol layout the image uses: PREL32 on the architectures that select
 * HAVE_ARCH_PREL32_RELOCATIONS (i386 included); on other 64-bit machines, PREL32 only when
 * __ksymtab holds 12 bytes per __kcrctab CRC; absolute on other 32-bit machines (both are 12 bytes there).
 */
export function ksymtabLayout(elf: Elf): KsymtabLayout {
  if (PREL32_MACHINES.has(elf.header.e_machine)) return 'prel32';
  if (elf.wordSize === 4) return 'absolute';
  const ksymtab = elf.findSection('__ksymtab');
  const kcrctab = elf.findSection('__kcrctab');
  if (ksymtab && kcrctab && kcrctab.sh_size > 0 && ksymtab.sh_size === (kcrctab.sh_size / 4) * 12) return 'prel32';
  return 'absolute';
}

function readTable(
  elf: Elf,
  tab: ElfSection,
  crcTab: ElfSection | undefined,
  strings: ElfSection,
  layout: KsymtabLayout,
  gpl: boolean,
  out: ExportedSymbol[],
): void {
  const entSize = layout === 'prel32' ? 12 : 3 * elf.wordSize;
  if (tab.sh_size % entSize !== 0)
    throw sectionError(
      elf,
      tab,
      'E_FORMAT',
      `size ${tab.sh_size} is not a multiple of the ${entSize}-byte struct kernel_symbol`,
    );
  const n = tab.sh_size / entSize;
  if (out.length + n > MAX_EXPORTS)
    throw sectionError(elf, tab, 'E_LIMIT', `more than ${MAX_EXPORTS} exported symbols`);
  const r = elf.sectionReader(tab);
  const crcReader = crcTab ? elf.sectionReader(crcTab) : undefined;
  if (crcTab && crcTab.sh_size !== n * 4) {
    throw sectionError(
      elf,
      crcTab,
      'E_FORMAT',
      `${crcTab.name} has ${crcTab.sh_size / 4} CRCs for ${n} symbols in ${tab.name}`,
    );
  }
  const strEnd = strings.sh_offset + strings.sh_size;
  const stringAt = (addr: bigint, fieldOff: number, what: string): string => {
    const rel = addr - strings.sh_addr;
    if (rel < 0n || rel >= BigInt(strings.sh_size)) {
      throw r.error('E_FORMAT', fieldOff, `${what} 0x${addr.toString(16)} is outside __ksymtab_strings`);
    }
    return elf.r.cstring(strings.sh_offset + Number(rel), what, strEnd);
  };
  for (let i = 0; i < n; i++) {
    const o = i * entSize;
    let name: string;
    let namespace = '';
    if (layout === 'prel32') {
      const place = tab.sh_addr + BigInt(o);
      name = stringAt(place + 4n + BigInt(r.i32(o + 4, 'name_offset')), o + 4, 'name');
      const nsOff = r.i32(o + 8, 'namespace_offset');
      if (nsOff !== 0) namespace = stringAt(place + 8n + BigInt(nsOff), o + 8, 'namespace');
    } else {
      const w = elf.wordSize;
      const ptr = (at: number, what: string): bigint => (w === 8 ? r.u64(at, what) : BigInt(r.u32(at, what)));
      name = stringAt(ptr(o + w, 'name'), o + w, 'name');
      const ns = ptr(o + 2 * w, 'namespace');
      if (ns !== 0n) namespace = stringAt(ns, o + 2 * w, 'namespace');
    }
    out.push({ name, crc: crcReader ? crcReader.u32(i * 4, 'crc') : undefined, gpl, namespace });
  }
}

function sectionError(elf: Elf, s: ElfSection, code: 'E_FORMAT' | 'E_LIMIT', detail: string): FormatError {
  return elf.r.error(code, s.headerOffset - elf.r.base, `section [${s.index}] ${s.name}: ${detail}`);
}

/**
 * Module.symvers lines for the exports, in the given order:
 * `0x%08x<TAB>name<TAB>module<TAB>EXPORT_SYMBOL[_GPL]<TAB>namespace` (modpost write_dump()),
 * each ending with "\n". A missing CRC prints as 0x00000000, as modpost does without MODVERSIONS.
 * Note: modpost writes vmlinux's exports in vmlinux.o link order, which the linked image no
 * longer records; sort both sides to compare.
 */
export function formatSymvers(symbols: readonly ExportedSymbol[], module = 'vmlinux'): string {
  let s = '';
  for (const sym of symbols) {
    const crc = (sym.crc ?? 0).toString(16).padStart(8, '0');
    s += `0x${crc}\t${sym.name}\t${module}\t${sym.gpl ? 'EXPORT_SYMBOL_GPL' : 'EXPORT_SYMBOL'}\t${sym.namespace}\n`;
  }
  return s;
}

/**
 * The exports a `Module.symvers` records for one owner ("vmlinux" by default), in file order:
 * `0xCRC<TAB>symbol<TAB>owner<TAB>EXPORT_SYMBOL[_GPL]<TAB>namespace` (scripts/mod/modpost.c: write_dump).
 * Lines that do not have that shape are skipped. Never throws.
 */
export function parseModuleSymvers(text: string, owner = 'vmlinux'): ExportedSymbol[] {
  const out: ExportedSymbol[] = [];
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f.length < 4 || f[2] !== owner || !/^0x[0-9a-fA-F]{1,8}$/.test(f[0]!)) continue;
    out.push({
      name: f[1]!,
      crc: Number.parseInt(f[0]!, 16),
      gpl: f[3] === 'EXPORT_SYMBOL_GPL',
      namespace: f[4] ?? '',
    });
  }
  return out;
}
