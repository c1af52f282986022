/**
 * The kernel's ELF checks of a module (steps 2-5 of the load), in the kernel's order and with
 * the lines it logs. Authority: kernel/module/main.c, in three flows (elfCheckFlow()):
 * - '6.1': elf_validity_check() then setup_load_info();
 * - '6.12.0' (6.12.0 to 6.12.116): one elf_validity_cache_copy() (the same header and section
 *   checks, then the counts of .modinfo, symbol tables and .gnu.linkonce.this_module);
 * - '6.12.117' (6.12.117 on, and mainline 6.13 on, where it comes from): elf_validity_cache_copy()
 *   split into elf_validity_ehdr(), elf_validity_cache_sechdrs(), elf_validity_cache_secstrings()
 *   and elf_validity_cache_index_info/mod/sym/str(): section 0 and every section's range come
 *   before the name table, every name offset is checked, and string tables must be SHT_STRTAB.
 * Confirmed under qemu, one malformed module per check, on the test kernel (6.12.111, then
 * 6.12.118: test/e2e/check-vs-kernel.test.ts) and on Debian's 6.1, 6.12.117 and 6.12.118
 * (test/e2e/debian-conformance.test.ts).
 *
 * The kernel reads the module with its own word size and byte order: x86-64 and arm64 never
 * look at EI_CLASS or EI_DATA, so a module whose e_ident says ELF32 or big-endian still loads.
 * Pure: bytes in, the first failure (or undefined) out.
 */
import type { ReasonCode } from './codes.js';
import { ByteReader } from '../bytes/reader.js';
import { rawElfHeader, RawSectionTable } from '../elf/section-table.js';
import type { KernelSeries } from '../kernel/series.js';

/** The code that runs the ELF checks, named by the first kernel that has it. */
export type ElfCheckFlow = '6.1' | '6.12.0' | '6.12.117';

/** The flow of a kernel: from its series, and for 6.12 its sublevel (the newest flow when the release is unknown). */
export function elfCheckFlow(series: KernelSeries, release?: string): ElfCheckFlow {
  if (series === '6.1') return '6.1';
  const m = /^6\.12\.(\d+)/.exec(release ?? '');
  return m && Number(m[1]) < 117 ? '6.12.0' : '6.12.117';
}

/** The facts of a kernel that its ELF checks of a module depend on. */
export interface ElfValidityTarget {
  readonly series: KernelSeries;
  /** The e_machine elf_check_arch() accepts; undefined when the kernel's is not known. */
  readonly machine: number | undefined;
  /** The kernel's word size and byte order (it reads every module with them). */
  readonly is64: boolean;
  readonly littleEndian: boolean;
  /** sizeof(struct module): 6.12 compares .gnu.linkonce.this_module's size with it. */
  readonly structModuleSize: number | undefined;
  /** The kernel's release ("6.12.118+deb12-amd64"): its sublevel picks the 6.12 flow; the newest when absent. */
  readonly release?: string | undefined;
}

/** The first ELF check a module fails (see {@link kernelElfValidity}): the errno and the line the kernel logs. */
export interface ElfValidityFailure {
  readonly check: 'elf' | 'modinfo' | 'struct-module';
  readonly code: ReasonCode;
  /** What is wrong, in our words. */
  readonly message: string;
  /** The line the kernel logs (none when it oopses instead of refusing). */
  readonly log: string | undefined;
}

const SHT_NULL = 0;
const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;
const SHT_NOBITS = 8;
const SHF_ALLOC = 0x2;
const EM_S390 = 22;
const EM_S390_OLD = 0xa390;
const NO_NAME = '(missing .modinfo section or name field)';

type Check = ElfValidityFailure['check'];

function fail(code: ReasonCode, message: string, log: string | undefined, check: Check = 'elf'): ElfValidityFailure {
  return { check, code, message, log };
}

/**
 * The first of the kernel's ELF checks `data[0, len)` fails, or undefined when it passes them
 * all. `len` is what the kernel checks: the module without its signature once module_sig_check()
 * has taken it off.
 */
export function kernelElfValidity(data: Uint8Array, len: number, t: ElfValidityTarget): ElfValidityFailure | undefined {
  const flow = elfCheckFlow(t.series, t.release);
  const v = checkHeader(data, len, t);
  if (!(v instanceof SectionTable)) return v;
  // 6.12.117: section 0 and every section's range come before the name table
  if (flow === '6.12.117') {
    const bad = v.section0Failure() ?? v.rangeFailures();
    if (bad) return bad;
  }
  const badNames = checkSectionNames(v, flow);
  if (badNames) return badNames;
  if (flow === '6.12.117') return checkIndexes(v, t);
  // 6.1 and 6.12.0: section 0, then one loop over the sections
  const bad = v.section0Failure() ?? checkSections(v, t, flow);
  if (bad) return bad;
  // Later, looking sections up by name (find_any_sec(): .BTF and others) compares every
  // section's name, in range or not (6.12.0 has not compared the SHT_NULL and SHT_NOBITS ones).
  for (let i = 1; i < v.shnum; i++)
    if (v.nameOff(i) >= v.strSize && !v.readable(i)) return v.oops(i, 'while laying the module out');
  return undefined;
}

/**
 * elf_validity_ehdr() (6.12.117), the head of elf_validity_cache_copy() (6.12.0) and
 * elf_validity_check() (6.1), and the section header table's size and place
 * (elf_validity_cache_sechdrs() in 6.12.117): the failure, or the section table to check on.
 */
function checkHeader(data: Uint8Array, len: number, t: ElfValidityTarget): ElfValidityFailure | SectionTable {
  const is64 = t.is64;
  const ehsize = is64 ? 64 : 52;
  const shsize = is64 ? 64 : 40;
  if (len < ehsize)
    return fail(
      'elf-header-len',
      `${len} bytes: shorter than an ELF header (${ehsize})`,
      `Invalid ELF header len ${len}`,
    );
  if (data[0] !== 0x7f || data[1] !== 0x45 || data[2] !== 0x4c || data[3] !== 0x46) {
    return fail('elf-magic', 'not an ELF file (no \\x7fELF at offset 0)', 'Invalid ELF header magic: != \x7fELF');
  }
  // the kernel's word size and byte order, whatever e_ident says; the header lies inside (len >= ehsize)
  const r = new ByteReader(data.subarray(0, len), { file: '<module>', format: 'elf', littleEndian: t.littleEndian });
  const h = rawElfHeader(r, is64);
  if (h.e_type !== 1)
    return fail('not-relocatable', `e_type ${h.e_type} is not ET_REL (1)`, `Invalid ELF header type: ${h.e_type} != 1`);
  if (t.machine !== undefined && !archMatches(h.e_machine, t.machine, data[4]!, is64)) {
    return fail(
      'wrong-arch',
      `e_machine ${h.e_machine} is not the kernel's ${t.machine}`,
      `Invalid architecture in ELF header: ${h.e_machine}`,
    );
  }
  const { e_shoff: shoff, e_shnum: shnum } = h;
  if (h.e_shentsize !== shsize)
    return fail('shentsize', `e_shentsize ${h.e_shentsize} is not ${shsize}`, 'Invalid ELF section header size');
  if (shoff >= len || shnum * shsize > len - shoff) {
    const at = shoff === Infinity ? '>= 2^53' : `0x${shoff.toString(16)}`;
    const what = `the section header table (e_shoff ${at}, ${shnum} entries) does not fit in ${len} bytes`;
    return fail('section-table', what, 'Invalid ELF section header overflow');
  }
  return new SectionTable(data, len, r, is64, shoff, shnum, h.e_shstrndx);
}

/**
 * The module's section header table as the kernel reads it (its word size and byte order),
 * inside the checked length (checkHeader() made sure of that), and what the checks ask of it.
 */
class SectionTable extends RawSectionTable {
  /** The section name table's offset and size, once checkSectionNames() has found them sound. */
  strOff = 0;
  strSize = 0;
  constructor(
    readonly data: Uint8Array,
    readonly len: number,
    r: ByteReader,
    is64: boolean,
    shoff: number,
    shnum: number,
    readonly shstrndx: number,
  ) {
    super(r, is64, shoff, shnum);
  }
  /** validate_section_offset(): no wrap below 2^53. */
  inBounds(i: number): boolean {
    return this.offset(i) + this.size(i) <= this.len;
  }
  /** The sections (index >= 1) for which `pred` holds. */
  sections(pred: (i: number) => boolean): number[] {
    return [...Array(this.shnum).keys()].filter((i) => i > 0 && pred(i));
  }
  /**
   * The bytes a name at this offset would be read from lie inside the kernel's copy of the module
   * (the whole file, signature included, in whole pages); a strcmp() from past it faults.
   */
  readable(i: number): boolean {
    return this.strOff + this.nameOff(i) < Math.ceil(this.data.length / 4096) * 4096;
  }
  /** strcmp(secstrings + sh_name, want) == 0, on the bytes the kernel has (past the table too). */
  nameIs(i: number, want: string): boolean {
    const at = this.strOff + this.nameOff(i);
    for (let k = 0; k <= want.length; k++) {
      if (at + k >= this.data.length || this.data[at + k] !== (k < want.length ? want.charCodeAt(k) : 0)) return false;
    }
    return true;
  }
  /** get_modinfo(info, "name") */
  nameFrom(i: number | undefined): string | undefined {
    return i === undefined || !this.inBounds(i) ? undefined : modinfoName(this.data, this.offset(i), this.size(i));
  }

  section0Failure(): ElfValidityFailure | undefined {
    if (this.type(0) === SHT_NULL && this.size(0) === 0 && this.addrIsZero(0)) return undefined;
    const log = `ELF Spec violation: section 0 type(${signedInt(this.type(0))})!=SH_NULL or non-zero len or addr`;
    return fail('section-0', `section 0 is not an empty SHT_NULL section (type ${this.type(0)})`, log);
  }
  rangeFailure(i: number): ElfValidityFailure | undefined {
    if (this.inBounds(i)) return undefined;
    const log = `Invalid ELF section in module (section ${i} type ${this.type(i)})`;
    return fail('section-range', `section ${i} (type ${this.type(i)}) lies outside the file`, log);
  }
  /** Every section's range but SHT_NULL and SHT_NOBITS ones (6.12.117, before the name table). */
  rangeFailures(): ElfValidityFailure | undefined {
    for (let i = 1; i < this.shnum; i++) {
      const r = this.type(i) === SHT_NULL || this.type(i) === SHT_NOBITS ? undefined : this.rangeFailure(i);
      if (r) return r;
    }
    return undefined;
  }
  linkFailure(l: number, i: number): ElfValidityFailure | undefined {
    if (l !== 0 && l < this.shnum) return undefined;
    const log = `Invalid ELF sh_link!=SHN_UNDEF(${signedInt(l)}) or (sh_link(${signedInt(l)}) >= hdr->e_shnum(${this.shnum})`;
    return fail(
      'symtab-link',
      `symbol table (section ${i}) names string table ${l}, which is 0 or not below e_shnum ${this.shnum}`,
      log,
    );
  }
  private past(i: number): string {
    return `section ${i}'s name offset 0x${this.nameOff(i).toString(16)} is past the section name table (${this.strSize} bytes)`;
  }
  badName(i: number): ElfValidityFailure {
    return fail('section-name', this.past(i), `Invalid ELF section name in module (section ${i} type ${this.type(i)})`);
  }
  oops(i: number, when: string): ElfValidityFailure {
    const what = `${this.past(i)} and past the module: the kernel reads the name ${when}`;
    return fail('section-name-oops', `${what}, and oopses (a page fault in strcmp) instead of refusing`, undefined);
  }
}

/** elf_validity_cache_secstrings() (6.12.117), and the same checks of the older flows: the section name table. */
function checkSectionNames(v: SectionTable, flow: ElfCheckFlow): ElfValidityFailure | undefined {
  const { shstrndx, shnum } = v;
  if (shstrndx === 0 || shstrndx >= shnum) {
    const log = `Invalid ELF section name index: ${shstrndx} || e_shstrndx (${shstrndx}) >= e_shnum (${shnum})`;
    return fail('shstrndx', `e_shstrndx ${shstrndx} is 0 or not below e_shnum ${shnum}`, log);
  }
  if (flow === '6.12.117' && v.type(shstrndx) !== SHT_STRTAB) {
    const what = `the section name table (section ${shstrndx}) has type ${v.type(shstrndx)}, not SHT_STRTAB`;
    return fail('section-name-table', what, `Invalid ELF section name table type: ${v.type(shstrndx)}`);
  }
  if (!v.inBounds(shstrndx)) {
    const what = `the section name table (section ${shstrndx}) lies outside the file`;
    return fail('section-name-table', what, `Invalid ELF section hdr(type ${v.type(shstrndx)})`);
  }
  v.strOff = v.offset(shstrndx);
  v.strSize = v.size(shstrndx);
  if (v.strSize === 0) return fail('section-name-table', 'the section name table is empty', 'empty section name table');
  if (v.data[v.strOff + v.strSize - 1] !== 0) {
    const log = "ELF Spec violation: section name table isn't null terminated";
    return fail('section-name-table', 'the section name table does not end with NUL', log);
  }
  return undefined;
}

function twoModinfo(n: number): ElfValidityFailure {
  return fail('modinfo', `${n} .modinfo sections`, 'Only one .modinfo section must exist.', 'modinfo');
}

function noSymbols(n: number, name: string): ElfValidityFailure {
  return fail(
    'no-symbols',
    n ? `${n} symbol tables` : 'the module has no symbol table',
    `${name}: module has no symbols (stripped?)`,
  );
}

function thisModuleCount(n: number, name: string, log: string): ElfValidityFailure {
  return fail(
    'no-this-module',
    `${n || 'no'} .gnu.linkonce.this_module section${n ? 's' : ''}`,
    `module ${name}: ${log}`,
    'struct-module',
  );
}

/** The last checks of .gnu.linkonce.this_module in both 6.12 flows. */
function badThisModule(
  v: SectionTable,
  t: ElfValidityTarget,
  tm: number,
  name: string,
): ElfValidityFailure | undefined {
  if ((v.flags(tm) & SHF_ALLOC) === 0) {
    const log = `module ${name}: .gnu.linkonce.this_module must occupy memory during process execution`;
    return fail('this-module-not-alloc', '.gnu.linkonce.this_module is not SHF_ALLOC', log, 'struct-module');
  }
  if (t.structModuleSize !== undefined && v.size(tm) !== t.structModuleSize) {
    const log = `module ${name}: .gnu.linkonce.this_module section size must match the kernel's built struct module size at run time`;
    const what = `.gnu.linkonce.this_module is ${v.size(tm)} bytes; this kernel's struct module is ${t.structModuleSize}`;
    return fail('struct-module-size', what, log, 'struct-module');
  }
  return undefined;
}

/**
 * 6.12.117: every name offset, then elf_validity_cache_index_info(), _mod(), _sym() and _str():
 * .modinfo, .gnu.linkonce.this_module, the symbol table and its string table.
 */
function checkIndexes(v: SectionTable, t: ElfValidityTarget): ElfValidityFailure | undefined {
  const { shnum, strSize } = v;
  for (let i = 0; i < shnum; i++) if (v.type(i) !== SHT_NULL && v.nameOff(i) >= strSize) return v.badName(i);
  // find_any_unique_sec() compares every section's name, SHT_NULL ones unchecked above
  for (let i = 1; i < shnum; i++)
    if (v.nameOff(i) >= strSize && !v.readable(i)) return v.oops(i, 'while looking for .modinfo');
  // elf_validity_cache_index_info()
  const modinfo = v.sections((i) => v.nameIs(i, '.modinfo'));
  if (modinfo.length > 1) return twoModinfo(modinfo.length);
  const name = v.nameFrom(modinfo[0]) ?? NO_NAME;
  // elf_validity_cache_index_mod()
  const mods = v.sections((i) => v.nameIs(i, '.gnu.linkonce.this_module'));
  if (mods.length !== 1)
    return thisModuleCount(mods.length, name, 'Exactly one .gnu.linkonce.this_module section must exist.');
  if (v.type(mods[0]!) === SHT_NOBITS) {
    const log = `module ${name}: .gnu.linkonce.this_module section must have a size set`;
    return fail('this-module-nobits', '.gnu.linkonce.this_module is SHT_NOBITS', log, 'struct-module');
  }
  const badTm = badThisModule(v, t, mods[0]!, name);
  if (badTm) return badTm;
  // elf_validity_cache_index_sym(), elf_validity_cache_index_str()
  const symtabs = v.sections((i) => v.type(i) === SHT_SYMTAB);
  if (symtabs.length !== 1) return noSymbols(symtabs.length, name);
  const str = v.link(symtabs[0]!);
  const bl = v.linkFailure(str, symtabs[0]!);
  if (bl) return bl;
  if (v.type(str) !== SHT_STRTAB) {
    const what = `the symbol table's string table (section ${str}) has type ${v.type(str)}, not SHT_STRTAB`;
    return fail('symtab-link', what, `Invalid ELF symbol string table type: ${v.type(str)}`);
  }
  return undefined;
}

/**
 * 6.1 and 6.12.0: one loop over the sections (symbol table links, ranges, SHF_ALLOC names; in
 * 6.12.0 the counts of .modinfo and .gnu.linkonce.this_module), then what it found: 6.12.0's
 * counts, or 6.1's setup_load_info().
 */
function checkSections(v: SectionTable, t: ElfValidityTarget, flow: ElfCheckFlow): ElfValidityFailure | undefined {
  const { shnum, strSize } = v;
  const series612 = flow === '6.12.0';
  const modinfo: number[] = [];
  const thisModule: number[] = [];
  const symtabs: number[] = [];
  for (let i = 1; i < shnum; i++) {
    const ty = v.type(i);
    if (ty === SHT_NULL || ty === SHT_NOBITS) continue;
    if (ty === SHT_SYMTAB) {
      const bl = v.linkFailure(v.link(i), i);
      if (bl) return bl;
      symtabs.push(i);
    }
    const r = v.rangeFailure(i);
    if (r) return r;
    // elf_validity_cache_copy() (6.12.0) compares every section's name before it checks the name's offset
    if (series612 && v.nameOff(i) >= strSize && !v.readable(i)) return v.oops(i, 'before it checks the offset');
    if (series612) {
      if (v.nameIs(i, '.gnu.linkonce.this_module')) thisModule.push(i);
      else if (v.nameIs(i, '.modinfo')) modinfo.push(i);
    }
    if ((v.flags(i) & SHF_ALLOC) !== 0 && v.nameOff(i) >= strSize) return v.badName(i);
  }
  if (series612) {
    if (modinfo.length > 1) return twoModinfo(modinfo.length);
    const name = v.nameFrom(modinfo[0]) ?? NO_NAME;
    if (symtabs.length !== 1) return noSymbols(symtabs.length, name);
    if (thisModule.length !== 1)
      return thisModuleCount(thisModule.length, name, 'Only one .gnu.linkonce.this_module section must exist.');
    return badThisModule(v, t, thisModule[0]!, name);
  }
  // setup_load_info() (6.1); find_sec(): the first SHF_ALLOC section of that name
  const findSec = (want: string): number | undefined =>
    v.sections((i) => (v.flags(i) & SHF_ALLOC) !== 0 && v.nameIs(i, want))[0];
  const name = v.nameFrom(findSec('.modinfo')) ?? NO_NAME;
  if (symtabs.length === 0) return noSymbols(0, name);
  if (findSec('.gnu.linkonce.this_module') === undefined) {
    const what = 'no SHF_ALLOC .gnu.linkonce.this_module section';
    return fail('no-this-module', what, `${name}: No module found in object`, 'struct-module');
  }
  return undefined;
}

/** elf_check_arch(): e_machine, and on s390 the class too (x86-64, arm64 and arm look at e_machine alone). */
function archMatches(machine: number, kernelMachine: number, eiClass: number, is64: boolean): boolean {
  if (kernelMachine === EM_S390) return (machine === EM_S390 || machine === EM_S390_OLD) && eiClass === (is64 ? 2 : 1);
  return machine === kernelMachine;
}

/** get_modinfo(info, "name"): the value of the first "name=" string of .modinfo (next_string() skips runs of NULs). */
function modinfoName(data: Uint8Array, off: number, size: number): string | undefined {
  let p = off;
  const end = off + size;
  while (p < end) {
    if (
      data[p] === 0x6e &&
      data[p + 1] === 0x61 &&
      data[p + 2] === 0x6d &&
      data[p + 3] === 0x65 &&
      data[p + 4] === 0x3d &&
      p + 4 < end
    ) {
      let q = p + 5;
      while (q < end && data[q] !== 0) q++;
      return Buffer.from(data.buffer, data.byteOffset + p + 5, q - p - 5).toString('latin1');
    }
    while (p < end && data[p] !== 0) p++;
    while (p < end && data[p] === 0) p++;
  }
  return undefined;
}

/** printf("%d") of a u32 (sh_type, sh_link): values of 2^31 and more print negative. */
function signedInt(v: number): string {
  return String(v | 0);
}
