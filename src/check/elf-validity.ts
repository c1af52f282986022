/**
 * The kernel's ELF checks of a module (steps 2-5 of the load), in the kernel's order and with
 * the lines it logs. Authority: kernel/module/main.c, 6.1: elf_validity_check() then
 * setup_load_info(); 6.12: elf_validity_cache_copy() (the same header and section checks, then
 * the counts of .modinfo, symbol tables and .gnu.linkonce.this_module, and the size of the last).
 * Confirmed on the test kernel (6.12.111) and Debian's 6.1 booted under qemu, one malformed
 * module per check (test/e2e/check-vs-kernel.test.ts).
 *
 * The kernel reads the module with its own word size and byte order: x86-64 and arm64 never
 * look at EI_CLASS or EI_DATA, so a module whose e_ident says ELF32 or big-endian still loads.
 * Pure: bytes in, the first failure (or undefined) out.
 */
import type { KernelSeries } from '../btf/validate.js';

export interface ElfValidityTarget {
  readonly series: KernelSeries;
  /** The e_machine elf_check_arch() accepts; undefined when the kernel's is not known. */
  readonly machine: number | undefined;
  /** The kernel's word size and byte order (it reads every module with them). */
  readonly is64: boolean;
  readonly littleEndian: boolean;
  /** sizeof(struct module): 6.12 compares .gnu.linkonce.this_module's size with it. */
  readonly structModuleSize: number | undefined;
}

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
  const fail = (code: string, message: string, log: string | undefined, check: ElfValidityFailure['check'] = 'elf'): ElfValidityFailure => ({ check, code, message, log });
  const is64 = t.is64;
  const ehsize = is64 ? 64 : 52;
  const shsize = is64 ? 64 : 40;
  if (len < ehsize) return fail('elf-header-len', `${len} bytes: shorter than an ELF header (${ehsize})`, `Invalid ELF header len ${len}`);
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
  if (eType !== 1) return fail('not-relocatable', `e_type ${eType} is not ET_REL (1)`, `Invalid ELF header type: ${eType} != 1`);
  const machine = u16(18);
  if (t.machine !== undefined && !archMatches(machine, t.machine, data[4]!, is64)) {
    return fail('wrong-arch', `e_machine ${machine} is not the kernel's ${t.machine}`, `Invalid architecture in ELF header: ${machine}`);
  }
  const o = is64 ? 8 : 4;
  const shoff = word(24 + 2 * o);
  const shentsize = u16(24 + 3 * o + 10);
  const shnum = u16(24 + 3 * o + 12);
  const shstrndx = u16(24 + 3 * o + 14);
  if (shentsize !== shsize) return fail('shentsize', `e_shentsize ${shentsize} is not ${shsize}`, 'Invalid ELF section header size');
  if (shoff >= len || shnum * shsize > len - shoff) {
    return fail('section-table', `the section header table (e_shoff ${shoff === Infinity ? '>= 2^53' : `0x${shoff.toString(16)}`}, ${shnum} entries) does not fit in ${len} bytes`, 'Invalid ELF section header overflow');
  }
  if (shstrndx === 0 || shstrndx >= shnum) {
    return fail('shstrndx', `e_shstrndx ${shstrndx} is 0 or not below e_shnum ${shnum}`, `Invalid ELF section name index: ${shstrndx} || e_shstrndx (${shstrndx}) >= e_shnum (${shnum})`);
  }
  const sh = (i: number): number => shoff + i * shsize;
  const type = (i: number): number => u32(sh(i) + 4);
  const flags = (i: number): number => (is64 ? u32(sh(i) + 8 + (le ? 0 : 4)) : u32(sh(i) + 8)); // the low word holds SHF_ALLOC
  const offset = (i: number): number => word(sh(i) + (is64 ? 24 : 16));
  const size = (i: number): number => word(sh(i) + (is64 ? 32 : 20));
  const link = (i: number): number => u32(sh(i) + (is64 ? 40 : 24));
  const nameOff = (i: number): number => u32(sh(i));
  const inBounds = (i: number): boolean => offset(i) + size(i) <= len; // validate_section_offset(): no wrap below 2^53
  if (!inBounds(shstrndx)) return fail('section-name-table', `the section name table (section ${shstrndx}) lies outside the file`, `Invalid ELF section hdr(type ${type(shstrndx)})`);
  const strOff = offset(shstrndx);
  const strSize = size(shstrndx);
  if (strSize === 0) return fail('section-name-table', 'the section name table is empty', 'empty section name table');
  if (data[strOff + strSize - 1] !== 0) return fail('section-name-table', 'the section name table does not end with NUL', "ELF Spec violation: section name table isn't null terminated");
  const addr0 = is64 ? u32(sh(0) + 16) + u32(sh(0) + 20) : u32(sh(0) + 12);
  if (type(0) !== SHT_NULL || size(0) !== 0 || addr0 !== 0) {
    return fail('section-0', `section 0 is not an empty SHT_NULL section (type ${type(0)})`, `ELF Spec violation: section 0 type(${signedInt(type(0))})!=SH_NULL or non-zero len or addr`);
  }
  // The bytes a name at this offset would be read from lie inside the kernel's copy of the module
  // (the whole file, signature included, in whole pages).
  const readable = (i: number): boolean => strOff + nameOff(i) < Math.ceil(data.length / 4096) * 4096;
  const nameIs = (i: number, want: string): boolean => {
    const at = strOff + nameOff(i);
    if (nameOff(i) >= strSize) return false; // past the table: no NUL-terminated string of ours
    for (let k = 0; k < want.length; k++) if (data[at + k] !== want.charCodeAt(k)) return false;
    return data[at + want.length] === 0;
  };
  const series612 = t.series === '6.12';
  const modinfo: number[] = [];
  const thisModule: number[] = [];
  const symtabs: number[] = [];
  for (let i = 1; i < shnum; i++) {
    const ty = type(i);
    if (ty === SHT_NULL || ty === SHT_NOBITS) continue;
    if (ty === SHT_SYMTAB) {
      const l = link(i);
      if (l === 0 || l >= shnum) {
        return fail('symtab-link', `symbol table (section ${i}) names string table ${l}, which is 0 or not below e_shnum ${shnum}`, `Invalid ELF sh_link!=SHN_UNDEF(${signedInt(l)}) or (sh_link(${signedInt(l)}) >= hdr->e_shnum(${shnum})`);
      }
      symtabs.push(i);
    }
    if (!inBounds(i)) return fail('section-range', `section ${i} (type ${ty}) lies outside the file`, `Invalid ELF section in module (section ${i} type ${ty})`);
    // 6.12 compares every section's name before it checks the name's offset: one past the
    // kernel's copy of the module is read anyway, and the read faults.
    if (series612 && nameOff(i) >= strSize && !readable(i)) {
      return fail('section-name-oops', `section ${i}'s name offset 0x${nameOff(i).toString(16)} is past the section name table (${strSize} bytes) and past the module: the kernel reads the name before it checks the offset, and oopses (a page fault in strcmp) instead of refusing`, undefined);
    }
    if (series612) {
      if (nameIs(i, '.gnu.linkonce.this_module')) thisModule.push(i);
      else if (nameIs(i, '.modinfo')) modinfo.push(i);
    }
    if ((flags(i) & SHF_ALLOC) !== 0 && nameOff(i) >= strSize) {
      return fail('section-name', `section ${i}'s name offset 0x${nameOff(i).toString(16)} is past the section name table (${strSize} bytes)`, `Invalid ELF section name in module (section ${i} type ${ty})`);
    }
  }
  // find_sec(): the first SHF_ALLOC section of that name (6.1)
  const findSec = (want: string): number | undefined => {
    for (let i = 1; i < shnum; i++) if ((flags(i) & SHF_ALLOC) !== 0 && nameIs(i, want)) return i;
    return undefined;
  };
  // get_modinfo(info, "name")
  const nameFrom = (i: number | undefined): string | undefined => (i === undefined || !inBounds(i) ? undefined : modinfoName(data, offset(i), size(i)));
  if (series612) {
    if (modinfo.length > 1) return fail('modinfo', `${modinfo.length} .modinfo sections`, 'Only one .modinfo section must exist.', 'modinfo');
    const name = (modinfo.length === 1 ? nameFrom(modinfo[0]) : undefined) ?? NO_NAME;
    if (symtabs.length !== 1) return fail('no-symbols', symtabs.length ? `${symtabs.length} symbol tables` : 'the module has no symbol table', `${name}: module has no symbols (stripped?)`);
    if (thisModule.length !== 1) {
      return fail('no-this-module', thisModule.length ? `${thisModule.length} .gnu.linkonce.this_module sections` : 'no .gnu.linkonce.this_module section', `module ${name}: Only one .gnu.linkonce.this_module section must exist.`, 'struct-module');
    }
    const tm = thisModule[0]!;
    if ((flags(tm) & SHF_ALLOC) === 0) {
      return fail('this-module-not-alloc', '.gnu.linkonce.this_module is not SHF_ALLOC', `module ${name}: .gnu.linkonce.this_module must occupy memory during process execution`, 'struct-module');
    }
    if (t.structModuleSize !== undefined && size(tm) !== t.structModuleSize) {
      return fail('struct-module-size', `.gnu.linkonce.this_module is ${size(tm)} bytes; this kernel's struct module is ${t.structModuleSize}`, `module ${name}: .gnu.linkonce.this_module section size must match the kernel's built struct module size at run time`, 'struct-module');
    }
    return undefined;
  }
  const name = nameFrom(findSec('.modinfo')) ?? NO_NAME;
  if (symtabs.length === 0) return fail('no-symbols', 'the module has no symbol table', `${name}: module has no symbols (stripped?)`);
  if (findSec('.gnu.linkonce.this_module') === undefined) return fail('no-this-module', 'no SHF_ALLOC .gnu.linkonce.this_module section', `${name}: No module found in object`, 'struct-module');
  // Later, looking sections up by name (find_any_sec(): .BTF and others) compares every
  // section's name, in range or not: one past the kernel's copy of the module faults there.
  for (let i = 1; i < shnum; i++) {
    if (nameOff(i) >= strSize && !readable(i)) {
      return fail('section-name-oops', `section ${i}'s name offset 0x${nameOff(i).toString(16)} is past the section name table (${strSize} bytes) and past the module: the kernel reads it while laying the module out, and oopses (a page fault in strcmp) instead of refusing`, undefined);
    }
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
    if (data[p] === 0x6e && data[p + 1] === 0x61 && data[p + 2] === 0x6d && data[p + 3] === 0x65 && data[p + 4] === 0x3d && p + 4 < end) {
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
