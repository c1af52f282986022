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
  readonly code: string;
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
const TWO53 = 2 ** 53;
const NO_NAME = '(missing .modinfo section or name field)';

/**
 * The first of the kernel's ELF checks `data[0, len)` fails, or undefined when it passes them
 * all. `len` is what the kernel checks: the module without its signature once module_sig_check()
 * has taken it off.
 */
export function kernelElfValidity(data: Uint8Array, len: number, t: ElfValidityTarget): ElfValidityFailure | undefined {
  type Check = ElfValidityFailure['check'];
  const fail = (code: string, message: string, log: string | undefined, check: Check = 'elf'): ElfValidityFailure => ({
    check,
    code,
    message,
    log,
  });
  const flow = elfCheckFlow(t.series, t.release);
  const is64 = t.is64;
  const ehsize = is64 ? 64 : 52;
  const shsize = is64 ? 64 : 40;
  // elf_validity_ehdr() (6.12.117), the head of elf_validity_cache_copy() (6.12.0) and elf_validity_check() (6.1)
  if (len < ehsize)
    return fail(
      'elf-header-len',
      `${len} bytes: shorter than an ELF header (${ehsize})`,
      `Invalid ELF header len ${len}`,
    );
  if (data[0] !== 0x7f || data[1] !== 0x45 || data[2] !== 0x4c || data[3] !== 0x46) {
    return fail('elf-magic', 'not an ELF file (no \\x7fELF at offset 0)', 'Invalid ELF header magic: != \x7fELF');
  }
  const dv = new DataView(data.buffer, data.byteOffset, len);
  const le = t.littleEndian;
  const u16 = (o: number): number => dv.getUint16(o, le);
  const u32 = (o: number): number => dv.getUint32(o, le);
  // a word as a number; values of 2^53 and more (never inside a file) as Infinity
  const word = (o: number): number => {
    if (!is64) return u32(o);
    const hi = dv.getUint32(o + (le ? 4 : 0), le);
    const lo = dv.getUint32(o + (le ? 0 : 4), le);
    const v = hi * 0x100000000 + lo;
    return v >= TWO53 ? Infinity : v;
  };
  const eType = u16(16);
  if (eType !== 1)
    return fail('not-relocatable', `e_type ${eType} is not ET_REL (1)`, `Invalid ELF header type: ${eType} != 1`);
  const machine = u16(18);
  if (t.machine !== undefined && !archMatches(machine, t.machine, data[4]!, is64)) {
    return fail(
      'wrong-arch',
      `e_machine ${machine} is not the kernel's ${t.machine}`,
      `Invalid architecture in ELF header: ${machine}`,
    );
  }
  const o = is64 ? 8 : 4;
  const shoff = word(24 + 2 * o);
  const shentsize = u16(24 + 3 * o + 10);
  const shnum = u16(24 + 3 * o + 12);
  const shstrndx = u16(24 + 3 * o + 14);
  // elf_validity_cache_sechdrs() (6.12.117)
  if (shentsize !== shsize)
    return fail('shentsize', `e_shentsize ${shentsize} is not ${shsize}`, 'Invalid ELF section header size');
  if (shoff >= len || shnum * shsize > len - shoff) {
    const at = shoff === Infinity ? '>= 2^53' : `0x${shoff.toString(16)}`;
    const what = `the section header table (e_shoff ${at}, ${shnum} entries) does not fit in ${len} bytes`;
    return fail('section-table', what, 'Invalid ELF section header overflow');
  }
  const sh = (i: number): number => shoff + i * shsize;
  const type = (i: number): number => u32(sh(i) + 4);
  const flags = (i: number): number => (is64 ? u32(sh(i) + 8 + (le ? 0 : 4)) : u32(sh(i) + 8)); // the low word holds SHF_ALLOC
  const offset = (i: number): number => word(sh(i) + (is64 ? 24 : 16));
  const size = (i: number): number => word(sh(i) + (is64 ? 32 : 20));
  const link = (i: number): number => u32(sh(i) + (is64 ? 40 : 24));
  const nameOff = (i: number): number => u32(sh(i));
  const inBounds = (i: number): boolean => offset(i) + size(i) <= len; // validate_section_offset(): no wrap below 2^53
  const badSection0 = (): ElfValidityFailure | undefined => {
    const addr0 = is64 ? u32(sh(0) + 16) + u32(sh(0) + 20) : u32(sh(0) + 12);
    if (type(0) === SHT_NULL && size(0) === 0 && addr0 === 0) return undefined;
    const log = `ELF Spec violation: section 0 type(${signedInt(type(0))})!=SH_NULL or non-zero len or addr`;
    return fail('section-0', `section 0 is not an empty SHT_NULL section (type ${type(0)})`, log);
  };
  const badRange = (i: number): ElfValidityFailure | undefined => {
    if (inBounds(i)) return undefined;
    const log = `Invalid ELF section in module (section ${i} type ${type(i)})`;
    return fail('section-range', `section ${i} (type ${type(i)}) lies outside the file`, log);
  };
  const badLink = (l: number, i: number): ElfValidityFailure | undefined => {
    if (l !== 0 && l < shnum) return undefined;
    const log = `Invalid ELF sh_link!=SHN_UNDEF(${signedInt(l)}) or (sh_link(${signedInt(l)}) >= hdr->e_shnum(${shnum})`;
    return fail(
      'symtab-link',
      `symbol table (section ${i}) names string table ${l}, which is 0 or not below e_shnum ${shnum}`,
      log,
    );
  };
  if (flow === '6.12.117') {
    const s0 = badSection0();
    if (s0) return s0;
    for (let i = 1; i < shnum; i++) {
      const r = type(i) === SHT_NULL || type(i) === SHT_NOBITS ? undefined : badRange(i);
      if (r) return r;
    }
  }
  // elf_validity_cache_secstrings() (6.12.117)
  if (shstrndx === 0 || shstrndx >= shnum) {
    const log = `Invalid ELF section name index: ${shstrndx} || e_shstrndx (${shstrndx}) >= e_shnum (${shnum})`;
    return fail('shstrndx', `e_shstrndx ${shstrndx} is 0 or not below e_shnum ${shnum}`, log);
  }
  if (flow === '6.12.117' && type(shstrndx) !== SHT_STRTAB) {
    const what = `the section name table (section ${shstrndx}) has type ${type(shstrndx)}, not SHT_STRTAB`;
    return fail('section-name-table', what, `Invalid ELF section name table type: ${type(shstrndx)}`);
  }
  if (!inBounds(shstrndx)) {
    const what = `the section name table (section ${shstrndx}) lies outside the file`;
    return fail('section-name-table', what, `Invalid ELF section hdr(type ${type(shstrndx)})`);
  }
  const strOff = offset(shstrndx);
  const strSize = size(shstrndx);
  if (strSize === 0) return fail('section-name-table', 'the section name table is empty', 'empty section name table');
  if (data[strOff + strSize - 1] !== 0) {
    const log = "ELF Spec violation: section name table isn't null terminated";
    return fail('section-name-table', 'the section name table does not end with NUL', log);
  }
  const past = (i: number): string =>
    `section ${i}'s name offset 0x${nameOff(i).toString(16)} is past the section name table (${strSize} bytes)`;
  const badName = (i: number): ElfValidityFailure =>
    fail('section-name', past(i), `Invalid ELF section name in module (section ${i} type ${type(i)})`);
  // The bytes a name at this offset would be read from lie inside the kernel's copy of the module
  // (the whole file, signature included, in whole pages); a strcmp() from past it faults.
  const readable = (i: number): boolean => strOff + nameOff(i) < Math.ceil(data.length / 4096) * 4096;
  const oops = (i: number, when: string): ElfValidityFailure => {
    const what = `${past(i)} and past the module: the kernel reads the name ${when}`;
    return fail('section-name-oops', `${what}, and oopses (a page fault in strcmp) instead of refusing`, undefined);
  };
  // strcmp(secstrings + sh_name, want) == 0, on the bytes the kernel has (past the table too)
  const nameIs = (i: number, want: string): boolean => {
    const at = strOff + nameOff(i);
    for (let k = 0; k <= want.length; k++) {
      if (at + k >= data.length || data[at + k] !== (k < want.length ? want.charCodeAt(k) : 0)) return false;
    }
    return true;
  };
  // get_modinfo(info, "name")
  const nameFrom = (i: number | undefined): string | undefined =>
    i === undefined || !inBounds(i) ? undefined : modinfoName(data, offset(i), size(i));
  const twoModinfo = (n: number): ElfValidityFailure =>
    fail('modinfo', `${n} .modinfo sections`, 'Only one .modinfo section must exist.', 'modinfo');
  const noSymbols = (n: number, name: string): ElfValidityFailure =>
    fail(
      'no-symbols',
      n ? `${n} symbol tables` : 'the module has no symbol table',
      `${name}: module has no symbols (stripped?)`,
    );
  const thisModuleCount = (n: number, name: string, log: string): ElfValidityFailure =>
    fail(
      'no-this-module',
      `${n || 'no'} .gnu.linkonce.this_module section${n ? 's' : ''}`,
      `module ${name}: ${log}`,
      'struct-module',
    );
  // the last checks of .gnu.linkonce.this_module in both 6.12 flows
  const badThisModule = (tm: number, name: string): ElfValidityFailure | undefined => {
    if ((flags(tm) & SHF_ALLOC) === 0) {
      const log = `module ${name}: .gnu.linkonce.this_module must occupy memory during process execution`;
      return fail('this-module-not-alloc', '.gnu.linkonce.this_module is not SHF_ALLOC', log, 'struct-module');
    }
    if (t.structModuleSize !== undefined && size(tm) !== t.structModuleSize) {
      const log = `module ${name}: .gnu.linkonce.this_module section size must match the kernel's built struct module size at run time`;
      const what = `.gnu.linkonce.this_module is ${size(tm)} bytes; this kernel's struct module is ${t.structModuleSize}`;
      return fail('struct-module-size', what, log, 'struct-module');
    }
    return undefined;
  };
  const sections = (pred: (i: number) => boolean): number[] => [...Array(shnum).keys()].filter((i) => i > 0 && pred(i));
  if (flow === '6.12.117') {
    for (let i = 0; i < shnum; i++) if (type(i) !== SHT_NULL && nameOff(i) >= strSize) return badName(i);
    // find_any_unique_sec() compares every section's name, SHT_NULL ones unchecked above
    for (let i = 1; i < shnum; i++)
      if (nameOff(i) >= strSize && !readable(i)) return oops(i, 'while looking for .modinfo');
    // elf_validity_cache_index_info()
    const modinfo = sections((i) => nameIs(i, '.modinfo'));
    if (modinfo.length > 1) return twoModinfo(modinfo.length);
    const name = nameFrom(modinfo[0]) ?? NO_NAME;
    // elf_validity_cache_index_mod()
    const mods = sections((i) => nameIs(i, '.gnu.linkonce.this_module'));
    if (mods.length !== 1)
      return thisModuleCount(mods.length, name, 'Exactly one .gnu.linkonce.this_module section must exist.');
    if (type(mods[0]!) === SHT_NOBITS) {
      const log = `module ${name}: .gnu.linkonce.this_module section must have a size set`;
      return fail('this-module-nobits', '.gnu.linkonce.this_module is SHT_NOBITS', log, 'struct-module');
    }
    const badTm = badThisModule(mods[0]!, name);
    if (badTm) return badTm;
    // elf_validity_cache_index_sym(), elf_validity_cache_index_str()
    const symtabs = sections((i) => type(i) === SHT_SYMTAB);
    if (symtabs.length !== 1) return noSymbols(symtabs.length, name);
    const str = link(symtabs[0]!);
    const bl = badLink(str, symtabs[0]!);
    if (bl) return bl;
    if (type(str) !== SHT_STRTAB) {
      const what = `the symbol table's string table (section ${str}) has type ${type(str)}, not SHT_STRTAB`;
      return fail('symtab-link', what, `Invalid ELF symbol string table type: ${type(str)}`);
    }
    return undefined;
  }
  const s0 = badSection0();
  if (s0) return s0;
  const series612 = flow === '6.12.0';
  const modinfo: number[] = [];
  const thisModule: number[] = [];
  const symtabs: number[] = [];
  for (let i = 1; i < shnum; i++) {
    const ty = type(i);
    if (ty === SHT_NULL || ty === SHT_NOBITS) continue;
    if (ty === SHT_SYMTAB) {
      const bl = badLink(link(i), i);
      if (bl) return bl;
      symtabs.push(i);
    }
    const r = badRange(i);
    if (r) return r;
    // elf_validity_cache_copy() (6.12.0) compares every section's name before it checks the name's offset
    if (series612 && nameOff(i) >= strSize && !readable(i)) return oops(i, 'before it checks the offset');
    if (series612) {
      if (nameIs(i, '.gnu.linkonce.this_module')) thisModule.push(i);
      else if (nameIs(i, '.modinfo')) modinfo.push(i);
    }
    if ((flags(i) & SHF_ALLOC) !== 0 && nameOff(i) >= strSize) return badName(i);
  }
  if (series612) {
    if (modinfo.length > 1) return twoModinfo(modinfo.length);
    const name = nameFrom(modinfo[0]) ?? NO_NAME;
    if (symtabs.length !== 1) return noSymbols(symtabs.length, name);
    if (thisModule.length !== 1)
      return thisModuleCount(thisModule.length, name, 'Only one .gnu.linkonce.this_module section must exist.');
    const badTm = badThisModule(thisModule[0]!, name);
    if (badTm) return badTm;
  } else {
    // setup_load_info() (6.1); find_sec(): the first SHF_ALLOC section of that name
    const findSec = (want: string): number | undefined =>
      sections((i) => (flags(i) & SHF_ALLOC) !== 0 && nameIs(i, want))[0];
    const name = nameFrom(findSec('.modinfo')) ?? NO_NAME;
    if (symtabs.length === 0) return noSymbols(0, name);
    if (findSec('.gnu.linkonce.this_module') === undefined) {
      const what = 'no SHF_ALLOC .gnu.linkonce.this_module section';
      return fail('no-this-module', what, `${name}: No module found in object`, 'struct-module');
    }
  }
  // Later, looking sections up by name (find_any_sec(): .BTF and others) compares every
  // section's name, in range or not (6.12.0 has not compared the SHT_NULL and SHT_NOBITS ones).
  for (let i = 1; i < shnum; i++)
    if (nameOff(i) >= strSize && !readable(i)) return oops(i, 'while laying the module out');
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
