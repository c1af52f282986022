/**
 * Adding sections to a PE image, and replacing one, the way systemd's ukify lays out a unified
 * kernel image (systemd v257 `src/ukify/ukify.py` `pe_add_sections()`, as Debian trixie ships it).
 * Pure: bytes in, bytes out. Also what sets `.sbat` in a kernel image.
 *
 *   1. A COFF symbol table (and its string table) that ends the file is cut off: PointerToSymbolTable
 *      and NumberOfSymbols = 0 (COFF Characteristics are left alone: ukify's flag assignment never reaches its output).
 *   2. In section-table order, each section's PointerToRawData and SizeOfRawData are rounded up to
 *      FileAlignment, zeros inserted, the later sections' pointers moved by what was inserted.
 *   3. SizeOfHeaders is rounded up to FileAlignment; a signed image (DataDirectory[4] offset ≠ 0) is refused.
 *   4. Each new section: its 40-byte header goes after the last one and must end within SizeOfHeaders;
 *      PointerToRawData = round_up(file length, FileAlignment), SizeOfRawData = round_up(len, FileAlignment),
 *      VirtualAddress = round_up(last.VirtualAddress + last.VirtualSize, SectionAlignment), VirtualSize = len;
 *      CNT_INITIALIZED_DATA|MEM_READ (or CNT_CODE|MEM_READ); NumberOfSections and SizeOfInitializedData grow.
 *      A name the original image already has (except `.dtbauto`) replaces that section's data in place
 *      (zero-padded to its SizeOfRawData; VirtualSize = len); ukify checks only SizeOfRawData, kmodseal also
 *      the next section's VirtualAddress, so that sections never overlap in memory.
 *   5. CheckSum = 0; SizeOfImage = round_up(last.VirtualAddress + last.VirtualSize, SectionAlignment).
 */
import { FormatError } from '../bytes/errors.js';
import { ByteReader, ByteWriter, latin1 } from '../bytes/reader.js';
import { concatBytes } from '../bytes/concat.js';

/** A section to add (or to replace, when the image already has one of that name). */
export interface NewPeSection {
  /** At most 8 printable ASCII characters. */
  readonly name: string;
  readonly data: Uint8Array;
  /** IMAGE_SCN_CNT_CODE instead of IMAGE_SCN_CNT_INITIALIZED_DATA (ukify's `.linux`). */
  readonly code?: boolean;
}

export interface AddSectionsOptions {
  /** Clear IMAGE_DLLCHARACTERISTICS_NX_COMPAT (ukify does when the embedded kernel lacks it). */
  readonly clearNxCompat?: boolean;
}

export const IMAGE_SCN_CNT_CODE = 0x20;
export const IMAGE_SCN_CNT_INITIALIZED_DATA = 0x40;
export const IMAGE_SCN_MEM_READ = 0x40000000;
export const IMAGE_DLLCHARACTERISTICS_NX_COMPAT = 0x100;
const MAX_SECTIONS = 96;
const MAX_ALIGNMENT = 0x10000;

interface Header {
  /** The 40 bytes of the header (name, relocations, line numbers, characteristics kept from here). */
  raw: Uint8Array;
  name: string;
  virtualSize: number;
  virtualAddress: number;
  sizeOfRawData: number;
  pointerToRawData: number;
}

const roundUp = (x: number, a: number): number => Math.ceil(x / a) * a;
const isPow2 = (x: number): boolean => x > 0 && (x & (x - 1)) === 0;

/** The fixed facts of a PE image's headers, checked. */
interface Layout {
  coff: number;
  opt: number;
  table: number;
  fileAlignment: number;
  sectionAlignment: number;
  sizeOfHeaders: number;
  certDir: number | undefined;
  headers: Header[];
}

function u16le(d: Uint8Array, off: number): number {
  return d[off]! | (d[off + 1]! << 8);
}

function readLayout(data: Uint8Array, file: string): Layout {
  const r = new ByteReader(data, { file, format: 'pe', littleEndian: true });
  if (data.length < 0x40 || data[0] !== 0x4d || data[1] !== 0x5a) throw r.error('E_MAGIC', 0, 'not a PE image (no MZ)');
  const pe = r.u32(0x3c, 'e_lfanew');
  if (r.u32(pe, 'PE signature') !== 0x4550) throw r.error('E_MAGIC', pe, 'not a PE image (no PE\\0\\0 header)');
  const coff = pe + 4;
  const nsections = r.u16(coff + 2, 'NumberOfSections');
  const optSize = r.u16(coff + 16, 'SizeOfOptionalHeader');
  const opt = coff + 20;
  const magic = r.u16(opt, 'optional header magic');
  if (magic !== 0x10b && magic !== 0x20b)
    throw r.error('E_FORMAT', opt, `optional header magic 0x${magic.toString(16)} is neither PE32 nor PE32+`);
  const plus = magic === 0x20b;
  r.need(opt, optSize, 'optional header');
  if (optSize < (plus ? 112 : 96)) throw r.error('E_FORMAT', coff + 16, `SizeOfOptionalHeader ${optSize} is too small`);
  const sectionAlignment = r.u32(opt + 32, 'SectionAlignment');
  const fileAlignment = r.u32(opt + 36, 'FileAlignment');
  if (!isPow2(fileAlignment) || fileAlignment > MAX_ALIGNMENT)
    throw r.error(
      'E_FORMAT',
      opt + 36,
      `FileAlignment 0x${fileAlignment.toString(16)} is not a power of 2 up to 64 KiB`,
    );
  if (!isPow2(sectionAlignment) || sectionAlignment < fileAlignment)
    throw r.error(
      'E_FORMAT',
      opt + 32,
      `SectionAlignment 0x${sectionAlignment.toString(16)} is not a power of 2 at least FileAlignment`,
    );
  const sizeOfHeaders = r.u32(opt + 60, 'SizeOfHeaders');
  const ndirs = r.u32(opt + (plus ? 108 : 92), 'NumberOfRvaAndSizes');
  const dirs = opt + (plus ? 112 : 96);
  const certDir = ndirs > 4 && dirs + 40 <= opt + optSize ? dirs + 32 : undefined;
  if (certDir !== undefined) {
    const off = r.u32(certDir, 'certificate table offset');
    const size = r.u32(certDir + 4, 'certificate table size');
    if (size > 0 && off + size > data.length)
      throw r.error(
        'E_RANGE',
        certDir,
        `certificate table (0x${off.toString(16)}, ${size} bytes) lies outside the file`,
      );
  }
  if (nsections > MAX_SECTIONS)
    throw r.error('E_LIMIT', coff + 2, `${nsections} sections (the PE loader allows ${MAX_SECTIONS})`);
  const table = opt + optSize;
  r.need(table, nsections * 40, 'section table');
  if (sizeOfHeaders > data.length || sizeOfHeaders < table + nsections * 40)
    throw r.error(
      'E_RANGE',
      opt + 60,
      `SizeOfHeaders 0x${sizeOfHeaders.toString(16)} does not fit between the section table's end ` +
        `(0x${(table + nsections * 40).toString(16)}) and the end of the file (0x${data.length.toString(16)})`,
    );
  const headers: Header[] = [];
  for (let i = 0; i < nsections; i++) {
    const h = table + i * 40;
    const raw = data.slice(h, h + 40);
    let end = raw.indexOf(0);
    if (end < 0 || end > 8) end = 8;
    const s: Header = {
      raw,
      name: latin1(raw, 0, end),
      virtualSize: r.u32(h + 8),
      virtualAddress: r.u32(h + 12),
      sizeOfRawData: r.u32(h + 16),
      pointerToRawData: r.u32(h + 20),
    };
    if (s.sizeOfRawData > 0) {
      if (s.pointerToRawData + s.sizeOfRawData > data.length)
        throw r.error(
          'E_RANGE',
          h + 16,
          `section ${s.name}: raw data (0x${s.pointerToRawData.toString(16)}, ${s.sizeOfRawData} bytes) lies outside the file`,
        );
      if (s.pointerToRawData < sizeOfHeaders)
        throw r.error(
          'E_FORMAT',
          h + 20,
          `section ${s.name}: raw data at 0x${s.pointerToRawData.toString(16)} overlaps the headers`,
        );
    }
    headers.push(s);
  }
  const check = (key: (s: Header) => number, size: (s: Header) => number, what: string, field: number): void => {
    const order = headers
      .map((s, i) => ({ s, i }))
      .filter(({ s }) => size(s) > 0)
      .sort((a, b) => key(a.s) - key(b.s));
    for (let k = 1; k < order.length; k++) {
      const a = order[k - 1]!;
      const b = order[k]!;
      if (key(a.s) + size(a.s) > key(b.s))
        throw r.error(
          'E_FORMAT',
          table + b.i * 40 + field,
          `sections ${a.s.name} and ${b.s.name} overlap in the ${what}`,
        );
    }
  };
  check(
    (s) => s.pointerToRawData,
    (s) => s.sizeOfRawData,
    'file',
    20,
  );
  check(
    (s) => s.virtualAddress,
    (s) => s.virtualSize,
    'image',
    12,
  );
  return { coff, opt, table, fileAlignment, sectionAlignment, sizeOfHeaders, certDir, headers };
}

/**
 * The image with `sections` added (or replacing sections of the same name), laid out as ukify's
 * `pe_add_sections()` does. `image` is not modified.
 * @throws FormatError for a malformed or signed image, a bad section name, or no room for a header or
 *   for replaced data.
 */
export function addPeSections(
  image: Uint8Array,
  file: string,
  sections: readonly NewPeSection[],
  options: AddSectionsOptions = {},
): Uint8Array {
  const L = readLayout(image, file);
  const fail = (code: 'E_FORMAT' | 'E_LIMIT' | 'E_RANGE', offset: number, detail: string): FormatError =>
    new FormatError(code, { file, offset, format: 'pe', detail });
  let data: Uint8Array = image.slice();
  const hdr = new ByteReader(image, { file, format: 'pe', littleEndian: true });
  let symbolTable = hdr.u32(L.coff + 8);
  let symbols = hdr.u32(L.coff + 12);

  // 1. the COFF symbol and string tables, when they end the file
  if (symbolTable) {
    let size = 18 * symbols;
    const strOff = symbolTable + size;
    if (strOff + 4 <= data.length) size += hdr.u32(strOff);
    if (symbolTable + size === data.length) {
      data = data.slice(0, symbolTable);
      symbolTable = 0;
      symbols = 0;
      // ukify sets IMAGE_FILE_LOCAL_SYMS_STRIPPED through pefile's flag attribute, which a plain header
      // structure never packs back: the COFF Characteristics stay as they were
    }
  }

  // 2. raw data aligned to FileAlignment
  const fa = L.fileAlignment;
  const headers = L.headers;
  for (let i = 0; i < headers.length; i++) {
    const s = headers[i]!;
    const oldp = s.pointerToRawData;
    const oldsz = s.sizeOfRawData;
    const padp = roundUp(oldp, fa) - oldp;
    const padsz = roundUp(oldsz, fa) - oldsz;
    if (padp === 0 && padsz === 0) continue;
    if (oldp + oldsz > data.length)
      throw fail('E_RANGE', L.table + i * 40 + 20, `section ${s.name}: raw data lies beyond the symbol table's cut`);
    s.pointerToRawData = oldp + padp;
    s.sizeOfRawData = oldsz + padsz;
    for (const later of headers.slice(i + 1)) later.pointerToRawData += padp + padsz;
    data = concatBytes([
      data.subarray(0, oldp),
      new Uint8Array(padp),
      data.subarray(oldp, oldp + oldsz),
      new Uint8Array(padsz),
      data.subarray(oldp + oldsz),
    ]);
  }

  // 3. header room; a signed image is refused
  const sizeOfHeaders = roundUp(L.sizeOfHeaders, fa);
  if (L.certDir !== undefined && hdr.u32(L.certDir) !== 0)
    throw fail('E_FORMAT', L.certDir, 'the image is signed (it has a certificate table): sign after adding sections');

  // 4. the new sections
  const nOriginal = headers.length;
  let parts: Uint8Array[] = [data];
  let length = data.length;
  let initializedData = hdr.u32(L.opt + 8);
  for (const section of sections) {
    if (!/^[\x20-\x7e]{1,8}$/.test(section.name))
      throw fail(
        'E_FORMAT',
        L.table,
        `section name ${JSON.stringify(section.name)} is not 1 to 8 printable ASCII characters`,
      );
    const at = L.table + headers.length * 40;
    if (at + 40 > sizeOfHeaders)
      throw fail(
        'E_LIMIT',
        at,
        `not enough header space to add section ${section.name} ` +
          `(SizeOfHeaders 0x${sizeOfHeaders.toString(16)}, ${headers.length} sections)`,
      );
    if (headers.length >= MAX_SECTIONS) throw fail('E_LIMIT', L.coff + 2, `more than ${MAX_SECTIONS} sections`);
    const len = section.data.length;
    const last = headers[headers.length - 1];
    const va = last
      ? roundUp(last.virtualAddress + last.virtualSize, L.sectionAlignment)
      : roundUp(sizeOfHeaders, L.sectionAlignment);
    const i = section.name === '.dtbauto' ? -1 : headers.slice(0, nOriginal).findIndex((s) => s.name === section.name);
    if (i >= 0) {
      const s = headers[i]!;
      const nextVa = headers
        .filter((o) => o !== s && o.virtualAddress > s.virtualAddress)
        .reduce((m, o) => Math.min(m, o.virtualAddress), Infinity);
      const room = Math.min(s.sizeOfRawData, nextVa - s.virtualAddress);
      if (len > room)
        throw fail(
          'E_LIMIT',
          L.table + i * 40 + 8,
          `not enough space in the existing section ${section.name} for ${len} bytes: it has room for ${room}` +
            (room < s.sizeOfRawData ? ` (the next section starts at VA 0x${nextVa.toString(16)})` : ''),
        );
      const flat = concatBytes(parts, length);
      const next = s.pointerToRawData + s.sizeOfRawData;
      flat.set(section.data, s.pointerToRawData);
      flat.fill(0, s.pointerToRawData + len, next);
      parts = [flat];
      s.virtualSize = len;
      continue;
    }
    const pointer = roundUp(length, fa);
    const rawSize = roundUp(len, fa);
    const raw = new Uint8Array(40);
    for (let k = 0; k < section.name.length; k++) raw[k] = section.name.charCodeAt(k);
    const flags = IMAGE_SCN_MEM_READ | (section.code ? IMAGE_SCN_CNT_CODE : IMAGE_SCN_CNT_INITIALIZED_DATA);
    new ByteWriter(raw, { file, format: 'pe', littleEndian: true }).setU32(36, flags >>> 0, 'Characteristics');
    headers.push({
      raw,
      name: section.name,
      virtualSize: len,
      virtualAddress: va,
      sizeOfRawData: rawSize,
      pointerToRawData: pointer,
    });
    parts.push(new Uint8Array(pointer - length), section.data, new Uint8Array(rawSize - len));
    length = pointer + rawSize;
    initializedData = (initializedData + len) >>> 0;
  }

  // 5. the headers
  const out = concatBytes(parts, length);
  const w = new ByteWriter(out, { file, format: 'pe', littleEndian: true });
  const setU16 = (off: number, v: number, what: string): void => {
    w.need(off, 2, what);
    out[off] = v & 0xff;
    out[off + 1] = (v >>> 8) & 0xff;
  };
  setU16(L.coff + 2, headers.length, 'NumberOfSections');
  w.setU32(L.coff + 8, symbolTable, 'PointerToSymbolTable');
  w.setU32(L.coff + 12, symbols, 'NumberOfSymbols');
  w.setU32(L.opt + 8, initializedData, 'SizeOfInitializedData');
  w.setU32(L.opt + 60, sizeOfHeaders, 'SizeOfHeaders');
  w.setU32(L.opt + 64, 0, 'CheckSum');
  if (options.clearNxCompat)
    setU16(L.opt + 70, u16le(out, L.opt + 70) & ~IMAGE_DLLCHARACTERISTICS_NX_COMPAT, 'DllCharacteristics');
  const last = headers[headers.length - 1];
  if (last) w.setU32(L.opt + 56, roundUp(last.virtualAddress + last.virtualSize, L.sectionAlignment), 'SizeOfImage');
  headers.forEach((s, i) => {
    const h = L.table + i * 40;
    w.need(h, 40, 'section header');
    out.set(s.raw, h);
    w.setU32(h + 8, s.virtualSize, 'VirtualSize');
    w.setU32(h + 12, s.virtualAddress, 'VirtualAddress');
    w.setU32(h + 16, s.sizeOfRawData, 'SizeOfRawData');
    w.setU32(h + 20, s.pointerToRawData, 'PointerToRawData');
  });
  return out;
}
