/**
 * PE/COFF as used by EFI executables (the x86 bzImage EFI stub, arm64 Image, systemd-boot,
 * UKIs): headers, sections, the certificate table (Authenticode signatures) and `.sbat`.
 * Authority: Microsoft PE/COFF specification ("Optional Header Data Directories",
 * "The Attribute Certificate Table"), Authenticode_PE.docx; shim's SBAT.md.
 *
 *   0x00 "MZ" ... 0x3c e_lfanew → "PE\0\0" | COFF header (20) | optional header | section table (40 each)
 *   optional header: magic 0x10b (PE32) or 0x20b (PE32+); CheckSum at +64;
 *   data directories at +96 (PE32) / +112 (PE32+); #4 = certificate table (file offset, size)
 *   certificate table: WIN_CERTIFICATE { u32 dwLength; u16 wRevision; u16 wCertificateType; bCertificate[] }, 8-aligned
 */
import { ByteReader, latin1 } from '../bytes/reader.js';

/** One section header of a PE image. */
export interface PeSection {
  readonly name: string;
  readonly virtualSize: number;
  readonly virtualAddress: number;
  readonly sizeOfRawData: number;
  readonly pointerToRawData: number;
}

/** One WIN_CERTIFICATE entry of a PE image's certificate table. */
export interface PeCertificate {
  readonly offset: number;
  readonly length: number;
  readonly revision: number;
  /** 2 = WIN_CERT_TYPE_PKCS_SIGNED_DATA (Authenticode). */
  readonly type: number;
  /** Zero-copy view of bCertificate (without padding). */
  readonly data: Uint8Array;
}

/** A PE image's headers, sections and certificate table, as `parsePe()` reads them. */
export interface PeImage {
  readonly pe32plus: boolean;
  readonly machine: number;
  readonly sizeOfHeaders: number;
  /** Absolute offset of the CheckSum field. */
  readonly checksumOffset: number;
  readonly checksum: number;
  /** Absolute offset of data directory #4 (certificate table: offset, size). */
  readonly certDirOffset: number;
  readonly certTable: { readonly offset: number; readonly size: number } | undefined;
  readonly sections: readonly PeSection[];
  readonly certificates: readonly PeCertificate[];
}

const MAX_SECTIONS = 96; // the PE/COFF loader limit
const MAX_CERTIFICATES = 64;

/** True when the data is a PE image ("MZ" with a "PE\0\0" header). Never throws. */
export function probePe(data: Uint8Array): boolean {
  if (data.length < 0x40 || data[0] !== 0x4d || data[1] !== 0x5a) return false;
  const lfanew = data[0x3c]! | (data[0x3d]! << 8) | (data[0x3e]! << 16) | (data[0x3f]! << 24);
  return (
    lfanew > 0 &&
    lfanew + 4 <= data.length &&
    data[lfanew] === 0x50 &&
    data[lfanew + 1] === 0x45 &&
    data[lfanew + 2] === 0 &&
    data[lfanew + 3] === 0
  );
}

/**
 * Parses a PE image's headers, sections and certificate table.
 * @throws FormatError E_MAGIC (not PE), E_TRUNCATED, E_RANGE, E_FORMAT, E_LIMIT
 */
export function parsePe(data: Uint8Array, file: string): PeImage {
  const r = new ByteReader(data, { file, format: 'pe', littleEndian: true });
  if (!probePe(data)) throw r.error('E_MAGIC', 0, 'not a PE image (no MZ/PE header)');
  const pe = r.u32(0x3c, 'e_lfanew');
  const coff = pe + 4;
  const machine = r.u16(coff, 'Machine');
  const nsections = r.u16(coff + 2, 'NumberOfSections');
  const optSize = r.u16(coff + 16, 'SizeOfOptionalHeader');
  const opt = coff + 20;
  const magic = r.u16(opt, 'optional header magic');
  if (magic !== 0x10b && magic !== 0x20b)
    throw r.error('E_FORMAT', opt, `optional header magic 0x${magic.toString(16)} is neither PE32 nor PE32+`);
  const plus = magic === 0x20b;
  const sizeOfHeaders = r.u32(opt + 60, 'SizeOfHeaders');
  const checksumOffset = opt + 64;
  const dirs = opt + (plus ? 112 : 96);
  const ndirs = r.u32(opt + (plus ? 108 : 92), 'NumberOfRvaAndSizes');
  const certDirOffset = dirs + 4 * 8;
  let certTable: { offset: number; size: number } | undefined;
  if (ndirs > 4 && certDirOffset + 8 <= opt + optSize) {
    const off = r.u32(certDirOffset, 'certificate table offset');
    const size = r.u32(certDirOffset + 4, 'certificate table size');
    if (size > 0) {
      if (off + size > data.length)
        throw r.error(
          'E_RANGE',
          certDirOffset,
          `certificate table (0x${off.toString(16)}, ${size} bytes) lies outside the file`,
        );
      certTable = { offset: off, size };
    }
  }
  if (nsections > MAX_SECTIONS)
    throw r.error('E_LIMIT', coff + 2, `${nsections} sections (the PE loader allows ${MAX_SECTIONS})`);
  const sections: PeSection[] = [];
  const table = opt + optSize;
  for (let i = 0; i < nsections; i++) {
    const h = table + i * 40;
    const nameBytes = r.bytes(h, 8, 'section name');
    let end = nameBytes.indexOf(0);
    if (end < 0) end = 8;
    const s = {
      name: latin1(nameBytes, 0, end),
      virtualSize: r.u32(h + 8),
      virtualAddress: r.u32(h + 12),
      sizeOfRawData: r.u32(h + 16),
      pointerToRawData: r.u32(h + 20),
    };
    if (s.sizeOfRawData > 0 && s.pointerToRawData + s.sizeOfRawData > data.length) {
      throw r.error(
        'E_RANGE',
        h + 16,
        `section ${s.name}: raw data (0x${s.pointerToRawData.toString(16)}, ${s.sizeOfRawData} bytes) lies outside the file`,
      );
    }
    sections.push(s);
  }
  const certificates: PeCertificate[] = [];
  if (certTable) {
    let p = certTable.offset;
    const end = certTable.offset + certTable.size;
    while (p + 8 <= end) {
      if (certificates.length >= MAX_CERTIFICATES)
        throw r.error('E_LIMIT', p, `more than ${MAX_CERTIFICATES} certificate entries`);
      const length = r.u32(p, 'dwLength');
      if (length < 8 || p + length > end)
        throw r.error('E_RANGE', p, `WIN_CERTIFICATE length ${length} does not fit the certificate table`);
      certificates.push({
        offset: p,
        length,
        revision: r.u16(p + 4),
        type: r.u16(p + 6),
        data: r.bytes(p + 8, length - 8),
      });
      p += (length + 7) & ~7;
    }
  }
  return {
    pe32plus: plus,
    machine,
    sizeOfHeaders,
    checksumOffset,
    checksum: r.u32(checksumOffset),
    certDirOffset,
    certTable,
    sections,
    certificates,
  };
}

/**
 * A section's bytes, as a PE loader and systemd-stub see them: the first `VirtualSize` bytes of
 * its raw data (0: all of SizeOfRawData), never more than `SizeOfRawData` (the rest of the virtual
 * size is zero-filled memory, the rest of the raw size file-alignment padding). A view.
 */
export function sectionBytes(data: Uint8Array, s: PeSection): Uint8Array {
  const len = s.virtualSize ? Math.min(s.virtualSize, s.sizeOfRawData) : s.sizeOfRawData;
  return data.subarray(s.pointerToRawData, s.pointerToRawData + len);
}

/** The `.sbat` section's text (CSV), or undefined. */
export function findSbat(data: Uint8Array, pe: PeImage): string | undefined {
  const s = pe.sections.find((x) => x.name === '.sbat');
  if (!s) return undefined;
  const bytes = sectionBytes(data, s);
  let end = bytes.indexOf(0);
  if (end < 0) end = bytes.length;
  return latin1(bytes, 0, end);
}

/**
 * The Authenticode digest of the image: the headers without the CheckSum and the certificate
 * directory entry, the sections in file order, then the bytes after them up to the certificate
 * table. `hash` is called with the byte ranges in order.
 */
export function authenticodeRanges(data: Uint8Array, pe: PeImage): Uint8Array[] {
  const ranges: Uint8Array[] = [];
  ranges.push(data.subarray(0, pe.checksumOffset));
  ranges.push(data.subarray(pe.checksumOffset + 4, pe.certDirOffset));
  ranges.push(data.subarray(pe.certDirOffset + 8, pe.sizeOfHeaders));
  let sum = pe.sizeOfHeaders;
  const sorted = pe.sections.filter((s) => s.sizeOfRawData > 0).sort((a, b) => a.pointerToRawData - b.pointerToRawData);
  for (const s of sorted) {
    ranges.push(data.subarray(s.pointerToRawData, s.pointerToRawData + s.sizeOfRawData));
    sum = Math.max(sum, s.pointerToRawData + s.sizeOfRawData);
  }
  const end = pe.certTable ? pe.certTable.offset : data.length;
  if (end > sum) ranges.push(data.subarray(sum, end));
  return ranges;
}
