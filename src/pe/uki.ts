/**
 * Unified kernel images (UKIs): a systemd-stub PE with the kernel, initrds, command line,
 * os-release, uname and SBAT as sections, built as systemd's ukify builds them (v257 `make_uki()`,
 * `join_initrds()`, `merge_sbat()`, `Uname.scrape_x86()`, as Debian trixie ships it), and read back.
 * Pure: bytes in, bytes out. Authority: uapi-group specs/unified_kernel_image.md (sections and
 * their measurement order).
 *
 *   stub sections ‖ .osrel ‖ .cmdline ‖ .uname ‖ .linux (CNT_CODE) ‖ .initrd ‖ .sbat (the stub's, replaced in place)
 *   .sbat = "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n"
 *           + the stub's, the kernel's, then the given rows (each input's first line dropped) joined by "\n" + "\n\0"
 */
import { createHash } from 'node:crypto';
import { FormatError } from '../bytes/errors.js';
import { ByteReader, latin1, toHex } from '../bytes/reader.js';
import { parsePe, probePe, type PeImage } from './pe.js';
import { addPeSections, IMAGE_DLLCHARACTERISTICS_NX_COMPAT, type NewPeSection } from './sections.js';

/** The first line of every merged `.sbat`. */
export const SBAT_HEADER = 'sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md';
/** ukify's default SBAT for a UKI (when no --sbat is given). */
export const UKI_DEFAULT_SBAT =
  SBAT_HEADER + '\nuki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n';

/** The sections of a UKI in the order the stub measures them (the spec's canonical order). */
export const UKI_CANONICAL_SECTIONS = [
  '.linux',
  '.osrel',
  '.cmdline',
  '.initrd',
  '.ucode',
  '.splash',
  '.dtb',
  '.dtbauto',
  '.efifw',
  '.hwids',
  '.uname',
  '.sbat',
  '.pcrsig',
  '.pcrpkey',
  '.profile',
] as const;

/** A named input file. */
export interface NamedBytes {
  readonly file: string;
  readonly data: Uint8Array;
}

/** The inputs of a UKI, as ukify takes them. */
export interface UkiParts {
  /** The systemd-stub image (unsigned). */
  readonly stub: NamedBytes;
  /** The kernel: an EFI-stub PE image. */
  readonly linux: NamedBytes;
  readonly initrds?: readonly NamedBytes[];
  /** The command line, as it goes into `.cmdline` (no newline added). */
  readonly cmdline?: Uint8Array;
  /** The os-release file's bytes (`.osrel`). */
  readonly osRelease?: Uint8Array;
  /** `uname -r` of the kernel; default: read from the kernel image as ukify does (`scrapeUname()`). */
  readonly uname?: string;
  /** SBAT texts (CSV, each starting with its `sbat,` line) to add; default `UKI_DEFAULT_SBAT` (ukify's `uki,1` row). */
  readonly sbat?: readonly string[];
}

/** A built UKI: its bytes and what went into it. */
export interface BuiltUki {
  readonly image: Uint8Array;
  /** The `.sbat` written (without its final NUL). */
  readonly sbat: string;
  readonly uname: string | undefined;
  /** The sections added, in file order. */
  readonly sections: readonly string[];
}

const utf8 = new TextEncoder();

// eslint-disable-next-line no-control-regex -- Python's line boundaries include \x1c-\x1e
const LINE_BREAK = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;
const TRAILING_BREAK = new RegExp(`(?:${LINE_BREAK.source})$`);

/** Python's str.splitlines(): \n, \r, \r\n, \v, \f, \x1c–\x1e, \x85, U+2028, U+2029; no trailing empty line. */
export function splitLines(s: string): string[] {
  if (s === '') return [];
  const lines = s.split(LINE_BREAK);
  if (TRAILING_BREAK.test(s)) lines.pop();
  return lines;
}

function decodeUtf8(bytes: Uint8Array, file: string, offset: number, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new FormatError('E_FORMAT', { file, offset, format: 'sbat', detail: `${what} is not UTF-8` });
  }
}

/** The `.sbat` bytes of a PE image as ukify reads them (SizeOfRawData bytes, trailing NULs stripped), or undefined. */
function peSbatText(input: NamedBytes, pe: PeImage): string | undefined {
  const s = pe.sections.find((x) => x.name === '.sbat');
  if (!s) return undefined;
  // pefile's get_data(): from PointerToRawData rounded down to 0x200 (when FileAlignment ≥ 0x200) to
  // PointerToRawData + SizeOfRawData
  const r = new ByteReader(input.data, { file: input.file, format: 'pe', littleEndian: true });
  const fileAlignment = r.u32(r.u32(0x3c) + 24 + 36, 'FileAlignment');
  const start = fileAlignment >= 0x200 ? s.pointerToRawData - (s.pointerToRawData % 0x200) : s.pointerToRawData;
  const bytes = input.data.subarray(start, s.pointerToRawData + s.sizeOfRawData);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return decodeUtf8(bytes.subarray(0, end), input.file, start, '.sbat');
}

/**
 * ukify's `merge_sbat()`: the rows of each PE's `.sbat` and of each text, each input's first line
 * (which must start with `sbat,`, else the input is skipped) dropped, under one header line.
 */
export function mergeSbat(pes: readonly NamedBytes[], texts: readonly string[]): string {
  const rows: string[] = [];
  const take = (text: string): void => {
    const lines = splitLines(text);
    if (lines.length && lines[0]!.startsWith('sbat,')) rows.push(...lines.slice(1));
  };
  for (const input of pes) {
    if (!probePe(input.data)) continue;
    const text = peSbatText(input, parsePe(input.data, input.file));
    if (text !== undefined) take(text);
  }
  for (const t of texts) take(t);
  return `${SBAT_HEADER}\n${rows.join('\n')}\n`;
}

/**
 * ukify's `join_initrds()`: one initrd as it is; several concatenated, each zero-padded to 4 bytes.
 */
export function joinInitrds(initrds: readonly Uint8Array[]): Uint8Array | undefined {
  if (initrds.length === 0) return undefined;
  if (initrds.length === 1) return initrds[0]!;
  const size = initrds.reduce((n, d) => n + Math.ceil(d.length / 4) * 4, 0);
  const out = new Uint8Array(size);
  let o = 0;
  for (const d of initrds) {
    out.set(d, o);
    o += Math.ceil(d.length / 4) * 4;
  }
  return out;
}

const VERSION_PATTERN = /^([a-z0-9._+-]+) \([^ )]+\) (?:#.*)/;
const TEXT_PATTERN = /Linux version (\d\.[^ \t\n\r\f\v]+) \(/;

/**
 * The kernel release as ukify's `Uname.scrape()` finds it: the x86 boot header's kernel_version
 * string (`HdrS` at 0x202, its pointer at 0x20e), else "Linux version X (" in an uncompressed image.
 */
export function scrapeUname(kernel: Uint8Array): string | undefined {
  if (kernel.length >= 0x210 && latin1(kernel, 0x202, 0x206) === 'HdrS') {
    const start = 0x200 + (kernel[0x20e]! | (kernel[0x20f]! << 8));
    const text = kernel.subarray(start, Math.min(kernel.length, start + 128));
    const nul = text.indexOf(0);
    try {
      const s = new TextDecoder('utf-8', { fatal: true }).decode(nul < 0 ? text : text.subarray(0, nul));
      const m = VERSION_PATTERN.exec(s);
      if (m) return m[1];
    } catch {
      // not UTF-8: try the generic scrape
    }
  }
  // scrape_generic: an uncompressed PE (aarch64, riscv64) is searched from byte 8, an ELF from 0
  const isElf = kernel[0] === 0x7f && latin1(kernel, 1, 4) === 'ELF';
  const isPlainPe = kernel[0] === 0x4d && kernel[1] === 0x5a && latin1(kernel, 4, 8) !== 'zimg';
  if (!isElf && !isPlainPe) return undefined;
  const body = kernel.subarray(isElf ? 0 : 8);
  const m = TEXT_PATTERN.exec(Buffer.from(body.buffer, body.byteOffset, body.length).toString('latin1'));
  return m ? m[1] : undefined;
}

/**
 * Builds a UKI from its parts exactly as ukify 257 does (unsigned; sign the result with the
 * Authenticode signer). The kernel must be a PE image.
 * @throws FormatError for a malformed stub or kernel, a signed stub, no room in the stub's headers or `.sbat`.
 */
export function buildUki(parts: UkiParts): BuiltUki {
  const { stub, linux } = parts;
  parsePe(linux.data, linux.file);
  const uname = parts.uname ?? scrapeUname(linux.data);
  const initrd = joinInitrds((parts.initrds ?? []).map((i) => i.data));
  const sbat = mergeSbat([stub, linux], parts.sbat && parts.sbat.length ? parts.sbat : [UKI_DEFAULT_SBAT]);
  const sections: NewPeSection[] = [];
  // make_uki(): `if content:` — empty text is left out; a file (os-release, initrd) is added even when empty
  if (parts.osRelease) sections.push({ name: '.osrel', data: parts.osRelease });
  if (parts.cmdline && parts.cmdline.length) sections.push({ name: '.cmdline', data: parts.cmdline });
  if (uname) sections.push({ name: '.uname', data: utf8.encode(uname) });
  sections.push({ name: '.linux', data: linux.data, code: true });
  if (initrd) sections.push({ name: '.initrd', data: initrd });
  sections.push({ name: '.sbat', data: utf8.encode(sbat + '\0') });
  const r = new ByteReader(linux.data, { file: linux.file, format: 'pe', littleEndian: true });
  const dllCharacteristics = r.u16(r.u32(0x3c) + 24 + 70, 'DllCharacteristics');
  let image: Uint8Array;
  try {
    image = addPeSections(stub.data, stub.file, sections, {
      clearNxCompat: !(dllCharacteristics & IMAGE_DLLCHARACTERISTICS_NX_COMPAT),
    });
  } catch (e) {
    if (!(e instanceof FormatError) || !e.detail.includes('existing section .sbat')) throw e;
    // ukify would write it anyway, over the next section (Debian 12's stub: .sdmagic at VA 0x19100)
    throw new FormatError(e.code, {
      file: e.file,
      offset: e.offset,
      format: e.format,
      detail:
        `${e.detail}: the merged SBAT (the stub's rows, the kernel's, then --sbat's or ukify's default ` +
        '"uki,1" row) must fit; give --sbat with fewer rows',
      cause: e,
    });
  }
  return { image, sbat, uname, sections: sections.map((s) => s.name) };
}

/** One section of a UKI, for `uki inspect`. */
export interface UkiSection {
  readonly name: string;
  readonly virtualAddress: number;
  readonly virtualSize: number;
  readonly offset: number;
  readonly sizeOfRawData: number;
  /** The bytes the stub measures: min(VirtualSize, SizeOfRawData) from the file. */
  readonly size: number;
  /** SHA-256 of those bytes, lowercase hex. */
  readonly sha256: string;
  /** True for the UKI's own sections (named in the spec), false for the stub's. */
  readonly uki: boolean;
}

/**
 * A UKI's sections: the spec's sections in canonical (measurement) order, then the stub's own in
 * file order, each with the SHA-256 of its contents.
 * @throws FormatError for a malformed PE.
 */
export function ukiSections(data: Uint8Array, file: string): { pe: PeImage; sections: UkiSection[] } {
  const pe = parsePe(data, file);
  const rank = (name: string): number => {
    const i = (UKI_CANONICAL_SECTIONS as readonly string[]).indexOf(name);
    return i < 0 ? UKI_CANONICAL_SECTIONS.length : i;
  };
  const sections = pe.sections
    .map((s, i) => {
      const size = Math.min(s.virtualSize, s.sizeOfRawData);
      return {
        i,
        section: {
          name: s.name,
          virtualAddress: s.virtualAddress,
          virtualSize: s.virtualSize,
          offset: s.pointerToRawData,
          sizeOfRawData: s.sizeOfRawData,
          size,
          sha256: toHex(
            new Uint8Array(
              createHash('sha256')
                .update(data.subarray(s.pointerToRawData, s.pointerToRawData + size))
                .digest(),
            ),
          ),
          uki: rank(s.name) < UKI_CANONICAL_SECTIONS.length,
        },
      };
    })
    .sort((a, b) => rank(a.section.name) - rank(b.section.name) || a.i - b.i)
    .map((x) => x.section);
  return { pe, sections };
}

/** The text of a section (`.uname`, `.osrel`, `.cmdline`, `.sbat`): its measured bytes up to the first NUL, as UTF-8. */
export function sectionText(data: Uint8Array, s: UkiSection): string {
  const bytes = data.subarray(s.offset, s.offset + s.size);
  const nul = bytes.indexOf(0);
  return new TextDecoder('utf-8').decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}
