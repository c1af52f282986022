/**
 * What the module loader reads from a module file, gathered without judging it:
 * the signature trailer's position (which fixes the ELF length the later checks see),
 * .modinfo keys, struct module, symbols, __versions and the module's own exports.
 * Authority: kernel/module/main.c (load_module and helpers), kernel/module/version.c,
 * include/linux/module.h (struct modversion_info), include/linux/export-internal.h.
 */
import {
  Elf,
  SHF_ALLOC,
  SHT_REL,
  SHT_RELA,
  SHT_STRTAB,
  SHT_SYMTAB,
  SHN_UNDEF,
  type ElfLayout,
  type ElfSection,
} from '../elf/elf.js';
import { readModinfo, type ModinfoEntry } from '../modinfo/modinfo.js';
import { findSignatureTrailer } from '../modsig/trailer.js';
import { ByteReader, latin1 } from '../bytes/reader.js';
import { isKmodsealError, type KmodsealError } from '../bytes/errors.js';

export interface TrailerFacts {
  /** Magic present at the end. */
  readonly present: boolean;
  /** mod_check_sig's verdict on the info block: 'ok', or the errno it returns. */
  readonly check: 'ok' | 'EBADMSG' | 'ENOPKG' | 'none';
  readonly log: string | undefined;
  /** Signed content length M (when check is ok). */
  readonly contentLength: number;
  readonly sigOffset: number;
  readonly sigLength: number;
  /** The length of ELF data later checks see (§1.2 step 5). */
  readonly elfLength: number;
}

/** §1.2: locate the trailer exactly as module_sig_check()/mod_check_sig() do. Never throws. */
export function trailerFacts(data: Uint8Array): TrailerFacts {
  const L = data.length;
  const trailer = findSignatureTrailer(data);
  // module_sig_check(): the magic, after at least one byte of module
  if (!trailer || trailer.magicOffset === 0)
    return {
      present: false,
      check: 'none',
      log: undefined,
      contentLength: L,
      sigOffset: 0,
      sigLength: 0,
      elfLength: L,
    };
  const L1 = trailer.magicOffset;
  const bad = (log?: string): TrailerFacts => ({
    present: true,
    check: 'EBADMSG',
    log,
    contentLength: L1,
    sigOffset: 0,
    sigLength: 0,
    elfLength: L1,
  });
  // mod_check_sig()
  const info = trailer.info;
  if (!info || trailer.infoOffset === 0) return bad();
  const sigLen = info.sig_len;
  if (sigLen >= L1 - 12) return bad();
  if (info.id_type !== 2)
    return {
      present: true,
      check: 'ENOPKG',
      log: 'module: not signed with expected PKCS#7 message',
      contentLength: L1,
      sigOffset: 0,
      sigLength: 0,
      elfLength: L1,
    };
  if (info.algo !== 0 || info.hash !== 0 || info.signer_len !== 0 || info.key_id_len !== 0 || trailer.pad !== 0)
    return bad('module: PKCS#7 signature info has unexpected non-zero params');
  const M = L1 - 12 - sigLen;
  return {
    present: true,
    check: 'ok',
    log: undefined,
    contentLength: M,
    sigOffset: M,
    sigLength: sigLen,
    elfLength: M,
  };
}

export interface VersionRecord {
  readonly crc: number;
  readonly name: string;
}

export interface ModuleExport {
  readonly name: string;
  readonly gpl: boolean;
  readonly crc: number | undefined;
  readonly namespace: string;
}

export interface UndefinedSymbol {
  readonly name: string;
  readonly weak: boolean;
}

export interface ModuleFacts {
  readonly file: string;
  readonly trailer: TrailerFacts;
  /** The ELF (over the first `trailer.elfLength` bytes), or the reason the kernel would refuse it. */
  readonly elf: Elf | undefined;
  readonly elfError: KmodsealError | undefined;
  readonly modinfo: readonly ModinfoEntry[];
  /** .modinfo name=, else the name in struct module, else the file's base name. */
  readonly name: string;
  readonly thisModule: readonly ElfSection[];
  readonly symtabCount: number;
  readonly undefinedSymbols: readonly UndefinedSymbol[];
  readonly commonSymbols: readonly string[];
  /** __versions records; undefined when the module has no (SHF_ALLOC) __versions section. */
  readonly versions: readonly VersionRecord[] | undefined;
  readonly exports: readonly ModuleExport[];
  readonly hasKcrctab: boolean;
  readonly modinfoCount: number;
  /** Sections with both SHF_WRITE and SHF_EXECINSTR (rejected with STRICT_MODULE_RWX). */
  readonly writeExecSections: readonly ElfSection[];
  /** Both an SHF_ALLOC .ctors and an SHF_ALLOC .init_array. */
  readonly ctorsAndInitArray: boolean;
}

const SHF_WRITE = 0x1;
const SHF_EXECINSTR = 0x4;
const STB_WEAK = 2;
const SHN_COMMON_ = 0xfff2;

export function first(modinfo: readonly ModinfoEntry[], key: string): string | undefined {
  return modinfo.find((e) => e.key === key)?.value;
}

/** Reads a decompressed module. Never throws for bad ELF: the kernel's refusal is a result. */
export function moduleFacts(data: Uint8Array, file: string, fallbackName: string, layout: ElfLayout = {}): ModuleFacts {
  const trailer = trailerFacts(data);
  const unreadable = (elfError: KmodsealError): ModuleFacts => ({
    file,
    trailer,
    elf: undefined,
    elfError,
    modinfo: [],
    name: fallbackName,
    thisModule: [],
    symtabCount: 0,
    undefinedSymbols: [],
    commonSymbols: [],
    versions: undefined,
    exports: [],
    hasKcrctab: false,
    modinfoCount: 0,
    writeExecSections: [],
    ctorsAndInitArray: false,
  });
  let elf: Elf;
  try {
    elf = Elf.parse(data.subarray(0, trailer.elfLength), file, 0, layout);
  } catch (e) {
    if (!isKmodsealError(e)) throw e;
    return unreadable(e);
  }
  try {
    return readFacts(elf, file, trailer, fallbackName);
  } catch (e) {
    // a malformed symbol table, .modinfo or __versions: what we cannot read, whatever the kernel makes of it
    if (!isKmodsealError(e)) throw e;
    return unreadable(e);
  }
}

function readFacts(elf: Elf, file: string, trailer: TrailerFacts, fallbackName: string): ModuleFacts {
  const elfError = undefined;
  const modinfo = readModinfo(elf);
  const thisModule = elf.sections.filter((s) => s.index > 0 && s.name === '.gnu.linkonce.this_module');
  const is64 = elf.header.class === 64;
  let structName: string | undefined;
  const tm = thisModule[0];
  if (tm && tm.sh_type !== 8) {
    const off = is64 ? 24 : 12; // enum module_state state; struct list_head list; char name[]
    const r = elf.sectionReader(tm);
    if (r.length > off) {
      const end = Math.min(r.length, off + (is64 ? 56 : 60));
      let i = off;
      while (i < end && r.data[i] !== 0) i++;
      structName = latin1(r.data, off, i);
    }
  }
  const name = first(modinfo, 'name') ?? (structName || fallbackName);
  const symtabs = elf.sections.filter((s) => s.sh_type === SHT_SYMTAB);
  // exports: the names the kernel reads (through __ksymtab's relocations), in its order; the
  // symbol names only when the tables cannot be followed
  const kernelExports = ksymtabExports(elf);
  const bySymbols = kernelExports === undefined;
  const facts =
    (symtabs.length ? symbolFactsFast(elf, bySymbols) : undefined) ?? symbolFacts(elf, symtabs.length > 0, bySymbols);
  const { undefinedSymbols, commonSymbols } = facts;
  const exports = kernelExports ?? facts.exports;
  // __versions: SHF_ALLOC section, records of {unsigned long crc; char name[64 - sizeof(long)]}
  const vsec = elf.sections.find((s) => s.index > 0 && s.name === '__versions' && (s.sh_flags & SHF_ALLOC) !== 0);
  let versions: VersionRecord[] | undefined;
  if (vsec) {
    versions = [];
    const r: ByteReader = elf.sectionReader(vsec);
    const rec = 64;
    for (let o = 0; o + rec <= r.length; o += rec) {
      const crc = is64 ? Number(r.u64(o) & 0xffffffffn) : r.u32(o);
      const nameOff = o + (is64 ? 8 : 4);
      let i = nameOff;
      while (i < o + rec && r.data[i] !== 0) i++;
      versions.push({ crc, name: latin1(r.data, nameOff, i) });
    }
  }
  return {
    file,
    trailer,
    elf,
    elfError,
    modinfo,
    name,
    thisModule,
    symtabCount: symtabs.length,
    undefinedSymbols,
    commonSymbols,
    versions,
    exports,
    hasKcrctab: elf.sections.some((s) => s.name === '__kcrctab' || s.name === '__kcrctab_gpl'),
    modinfoCount: elf.sections.filter((s) => s.index > 0 && s.name === '.modinfo').length,
    writeExecSections: elf.sections.filter(
      (s) => (s.sh_flags & SHF_WRITE) !== 0 && (s.sh_flags & SHF_EXECINSTR) !== 0 && (s.sh_flags & SHF_ALLOC) !== 0,
    ),
    ctorsAndInitArray: findSec(elf, '.ctors') !== undefined && findSec(elf, '.init_array') !== undefined,
  };
}

interface SymbolFacts {
  readonly undefinedSymbols: UndefinedSymbol[];
  readonly commonSymbols: string[];
  readonly exports: ModuleExport[];
}

/** Undefined and common symbols and the module's exports, from every symbol {@link Elf.symbols} reads. */
function symbolFacts(elf: Elf, hasSymtab: boolean, withExports: boolean): SymbolFacts {
  const syms = hasSymtab ? (elf.symbols() ?? []) : [];
  const undefinedSymbols: UndefinedSymbol[] = [];
  const commonSymbols: string[] = [];
  for (const s of syms) {
    if (s.index === 0) continue;
    if (s.st_shndx === SHN_UNDEF && s.name) undefinedSymbols.push({ name: s.name, weak: s.bind === STB_WEAK });
    else if (s.st_shndx === SHN_COMMON_) commonSymbols.push(s.name);
  }
  // Exports: __ksymtab_NAME symbols in __ksymtab / __ksymtab_gpl; CRCs at __crc_NAME in __kcrctab*;
  // namespaces at __kstrtabns_NAME in __ksymtab_strings.
  const byName = new Map(syms.map((s) => [s.name, s]));
  const exports: ModuleExport[] = [];
  for (const s of withExports ? syms : []) {
    if (!s.name.startsWith('__ksymtab_')) continue;
    const sec = elf.sections[s.st_shndx];
    if (!sec || (sec.name !== '__ksymtab' && sec.name !== '__ksymtab_gpl')) continue;
    const sym = s.name.slice('__ksymtab_'.length);
    const crcSym = byName.get(`__crc_${sym}`);
    let crc: number | undefined;
    const crcSec = crcSym ? elf.sections[crcSym.st_shndx] : undefined;
    if (crcSym && crcSec && crcSec.name.startsWith('__kcrctab')) {
      try {
        crc = elf.sectionReader(crcSec).u32(Number(crcSym.st_value));
      } catch {
        crc = undefined;
      }
    }
    let namespace = '';
    const ns = byName.get(`__kstrtabns_${sym}`);
    const nsSec = ns ? elf.sections[ns.st_shndx] : undefined;
    if (ns && nsSec) {
      try {
        namespace = elf.sectionReader(nsSec).cstring(Number(ns.st_value));
      } catch {
        namespace = '';
      }
    }
    exports.push({ name: sym, gpl: sec.name === '__ksymtab_gpl', crc, namespace });
  }
  return { undefinedSymbols, commonSymbols, exports };
}

/** find_sec(): the first SHF_ALLOC section (index >= 1) of the name. */
function findSec(elf: Elf, name: string): ElfSection | undefined {
  return elf.sections.find((s) => s.index > 0 && (s.sh_flags & SHF_ALLOC) !== 0 && s.name === name);
}

/**
 * The module's exports as the kernel reads them (find_module_sections(), then
 * verify_exported_symbols() and resolve_symbol() use them): each `struct kernel_symbol` in
 * __ksymtab, then __ksymtab_gpl, in section order, its name and namespace where their fields'
 * relocations point (`S + A`: PREL32 fields and absolute pointers alike), its CRC at the same
 * index of __kcrctab(_gpl). Undefined when a table cannot be followed exactly (no relocations,
 * a field without one, sizes that do not divide).
 */
export function ksymtabExports(elf: Elf): ModuleExport[] | undefined {
  try {
    return readKsymtab(elf);
  } catch (e) {
    if (isKmodsealError(e)) return undefined; // a field pointing outside its section: read by symbol names instead
    throw e;
  }
}

function readKsymtab(elf: Elf): ModuleExport[] | undefined {
  const symtab = elf.sections.find((s) => s.sh_type === SHT_SYMTAB);
  if (!symtab) return undefined;
  const is64 = elf.header.class === 64;
  const symEnt = is64 ? 24 : 16;
  const sr = elf.sectionReader(symtab);
  const symCount = Math.floor(sr.length / symEnt);
  const out: ModuleExport[] = [];
  for (const [tableName, crcName, gpl] of [
    ['__ksymtab', '__kcrctab', false],
    ['__ksymtab_gpl', '__kcrctab_gpl', true],
  ] as const) {
    const table = findSec(elf, tableName);
    if (!table || table.sh_size === 0) continue;
    const rel = elf.sections.find(
      (s) =>
        (s.sh_type === SHT_RELA || s.sh_type === SHT_REL) && s.sh_info === table.index && s.sh_link === symtab.index,
    );
    if (!rel) return undefined;
    const rela = rel.sh_type === SHT_RELA;
    const relEnt = rela ? (is64 ? 24 : 12) : is64 ? 16 : 8;
    const rr = elf.sectionReader(rel);
    const nrel = Math.floor(rr.length / relEnt);
    // every field of every entry is relocated: three fields an entry
    if (nrel === 0 || nrel % 3 !== 0) return undefined;
    const count = nrel / 3;
    const entry = table.sh_size / count;
    if (entry !== 12 && entry !== 24) return undefined;
    const field = entry / 3;
    const tr = elf.sectionReader(table);
    // r_offset -> [symbol index, addend]
    const at = new Map<number, [number, number]>();
    for (let i = 0; i < nrel; i++) {
      const o = i * relEnt;
      const off = is64 ? Number(rr.u64(o)) : rr.u32(o);
      const info = is64 ? rr.u64(o + 8) : BigInt(rr.u32(o + 4));
      const sym = is64 ? Number(info >> 32n) : Number(info >> 8n);
      let addend: number;
      if (rela) addend = is64 ? Number(BigInt.asIntN(64, rr.u64(o + 16))) : rr.u32(o + 8) | 0;
      else if (off + 4 <= tr.length)
        addend = tr.u32(off) | 0; // REL: the addend is in the field
      else return undefined;
      at.set(off, [sym, addend]);
    }
    const pointee = (off: number): string | undefined => {
      const r = at.get(off);
      if (!r || r[0] <= 0 || r[0] >= symCount) return undefined;
      const so = r[0] * symEnt;
      const shndx = is64 ? sr.u16(so + 6) : sr.u16(so + 14);
      const value = is64 ? Number(sr.u64(so + 8)) : sr.u32(so + 4);
      const sec = elf.sections[shndx];
      if (!sec || shndx === 0 || shndx >= 0xff00) return undefined;
      const pos = value + r[1];
      if (pos < 0 || pos >= sec.sh_size) return undefined;
      return elf.sectionReader(sec).cstring(pos);
    };
    const crcs = findSec(elf, crcName);
    const cr = crcs ? elf.sectionReader(crcs) : undefined;
    for (let i = 0; i < count; i++) {
      const base = i * entry;
      const name = pointee(base + field);
      const namespace = pointee(base + 2 * field);
      if (name === undefined || namespace === undefined) return undefined;
      const crc = cr && (i + 1) * 4 <= cr.length ? cr.u32(i * 4) : undefined;
      out.push({ name, gpl, crc, namespace });
    }
  }
  return out;
}

const KSYMTAB = '__ksymtab_';
const CRC = '__crc_';
const KSTRTABNS = '__kstrtabns_';

/**
 * {@link symbolFacts} reading the symbol table directly and decoding only the names it looks
 * at: undefined and common symbols, and names starting with "__" (where __ksymtab_, __crc_ and
 * __kstrtabns_ are). The same results; undefined whenever Elf.symbols() could throw (an odd
 * entry size, a missing string table, a table outside the file): the general path then reports it.
 */
function symbolFactsFast(elf: Elf, withExports: boolean): SymbolFacts | undefined {
  const symtab = elf.sections.find((s) => s.sh_type === SHT_SYMTAB);
  if (!symtab) return undefined;
  const is64 = elf.header.class === 64;
  const entsize = is64 ? 24 : 16;
  if (symtab.sh_entsize !== 0 && symtab.sh_entsize !== entsize) return undefined;
  const strtab = elf.sections[symtab.sh_link];
  if (!strtab || strtab.sh_type !== SHT_STRTAB) return undefined;
  const data = elf.r.data;
  const strStart = strtab.sh_offset;
  const strEnd = strtab.sh_offset + strtab.sh_size;
  if (strEnd > data.length) return undefined;
  let sr: ByteReader;
  try {
    sr = elf.sectionReader(symtab);
  } catch {
    return undefined;
  }
  const n = Math.floor(symtab.sh_size / entsize);
  // the entries lie inside the section (sectionReader checked it); read them without per-field checks
  const sd = sr.data;
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const name = (st_name: number): string => {
    if (st_name === 0 || st_name >= strtab.sh_size) return '';
    const off = strStart + st_name;
    let i = off;
    while (i < strEnd && data[i] !== 0) i++;
    return bytes.toString('latin1', off, i); // the string latin1() makes, one char per byte
  };
  const undefinedSymbols: UndefinedSymbol[] = [];
  const commonSymbols: string[] = [];
  const ksymtab: { name: string; shndx: number }[] = [];
  const byName = new Map<string, number>(); // __crc_ and __kstrtabns_ symbols: the last of each name, as a Map over all symbols keeps
  for (let i = 0; i < n; i++) {
    const o = i * entsize;
    const st_name = sr.u32Unchecked(o);
    const shndx = sr.u16Unchecked(is64 ? o + 6 : o + 14);
    let nm: string | undefined;
    if (i > 0 && shndx === SHN_UNDEF) {
      nm = name(st_name);
      if (nm) undefinedSymbols.push({ name: nm, weak: sd[is64 ? o + 4 : o + 12]! >> 4 === STB_WEAK });
    } else if (i > 0 && shndx === SHN_COMMON_) {
      nm = name(st_name);
      commonSymbols.push(nm);
    }
    // every symbol, whatever its section, as the general path's loops see them
    const at = strStart + st_name;
    if (st_name === 0 || st_name >= strtab.sh_size || data[at] !== 0x5f || data[at + 1] !== 0x5f) continue;
    nm ??= name(st_name);
    if (nm.startsWith(KSYMTAB)) ksymtab.push({ name: nm, shndx });
    else if (nm.startsWith(CRC) || nm.startsWith(KSTRTABNS)) byName.set(nm, i);
  }
  const value = (i: number): number => Number(is64 ? sr.u64(i * entsize + 8) : BigInt(sr.u32(i * entsize + 4)));
  const shndxOf = (i: number): number => (is64 ? sr.u16(i * entsize + 6) : sr.u16(i * entsize + 14));
  const exports: ModuleExport[] = [];
  for (const s of withExports ? ksymtab : []) {
    const sec = elf.sections[s.shndx];
    if (!sec || (sec.name !== '__ksymtab' && sec.name !== '__ksymtab_gpl')) continue;
    const sym = s.name.slice(KSYMTAB.length);
    const crcSym = byName.get(`${CRC}${sym}`);
    let crc: number | undefined;
    const crcSec = crcSym !== undefined ? elf.sections[shndxOf(crcSym)] : undefined;
    if (crcSym !== undefined && crcSec && crcSec.name.startsWith('__kcrctab')) {
      try {
        crc = elf.sectionReader(crcSec).u32(value(crcSym));
      } catch {
        crc = undefined;
      }
    }
    let namespace = '';
    const ns = byName.get(`${KSTRTABNS}${sym}`);
    const nsSec = ns !== undefined ? elf.sections[shndxOf(ns)] : undefined;
    if (ns !== undefined && nsSec) {
      try {
        namespace = elf.sectionReader(nsSec).cstring(value(ns));
      } catch {
        namespace = '';
      }
    }
    exports.push({ name: sym, gpl: sec.name === '__ksymtab_gpl', crc, namespace });
  }
  return { undefinedSymbols, commonSymbols, exports };
}
