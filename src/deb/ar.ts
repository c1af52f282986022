/**
 * Unix ar archives, as dpkg writes them for .deb files.
 * Authority: deb(5), deb-split(5); the common ar format (FreeBSD ar(5)); GNU `/`-terminated names.
 *
 *   "!<arch>\n"                                  8-byte global header
 *   per member, a 60-byte ASCII header:
 *     ar_name[16] ar_date[12] ar_uid[6] ar_gid[6] ar_mode[8] ar_size[10] ar_fmag[2] = "`\n"
 *   then ar_size bytes of data, padded with "\n" to an even offset.
 */
import { ByteReader, latin1 } from '../bytes/reader.js';

export const AR_MAGIC = [0x21, 0x3c, 0x61, 0x72, 0x63, 0x68, 0x3e, 0x0a]; // "!<arch>\n"
const HEADER_SIZE = 60;
/** Members we accept in one archive (a .deb has 3). */
export const MAX_AR_MEMBERS = 4096;

export interface ArMember {
  /** Name with trailing spaces and a GNU-style trailing "/" removed. */
  readonly name: string;
  readonly mtime: number;
  readonly mode: number;
  /** Absolute offset of the member's data. */
  readonly offset: number;
  /** Zero-copy view of the member's data. */
  readonly data: Uint8Array;
}

/** True when the data starts with the ar magic. Never throws. */
export function probeAr(data: Uint8Array): boolean {
  return data.length >= 8 && AR_MAGIC.every((b, i) => data[i] === b);
}

/**
 * Parses every member of an ar archive.
 * @returns members in archive order; their `data` are views into the input.
 * @throws FormatError E_MAGIC (not ar), E_FORMAT (bad header field), E_TRUNCATED, E_LIMIT
 */
export function parseAr(data: Uint8Array, file: string): ArMember[] {
  const r = new ByteReader(data, { file, format: 'ar' });
  if (!probeAr(data)) throw r.error('E_MAGIC', 0, 'not an ar archive (no "!<arch>\\n")');
  const members: ArMember[] = [];
  let p = 8;
  while (p < data.length) {
    if (data.length - p === 1 && data[p] === 0x0a) break; // final padding byte
    if (members.length >= MAX_AR_MEMBERS) throw r.error('E_LIMIT', p, `more than ${MAX_AR_MEMBERS} members`);
    r.need(p, HEADER_SIZE, 'member header');
    if (data[p + 58] !== 0x60 || data[p + 59] !== 0x0a)
      throw r.error('E_FORMAT', p + 58, 'member header does not end with "`\\n"');
    const field = (off: number, len: number): string => latin1(data, p + off, p + off + len).trimEnd();
    const num = (off: number, len: number, radix: number, what: string): number => {
      const s = field(off, len);
      if (s === '') return 0;
      if (!(radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/).test(s))
        throw r.error('E_FORMAT', p + off, `${what} "${s}" is not a number`);
      return parseInt(s, radix);
    };
    let name = field(0, 16);
    if (name.endsWith('/') && name !== '/' && name !== '//') name = name.slice(0, -1);
    const size = num(48, 10, 10, 'ar_size');
    const start = p + HEADER_SIZE;
    members.push({
      name,
      mtime: num(16, 12, 10, 'ar_date'),
      mode: num(40, 8, 8, 'ar_mode'),
      offset: start,
      data: r.bytes(start, size, `member "${name}" data`),
    });
    p = start + size + (size & 1);
  }
  return members;
}
