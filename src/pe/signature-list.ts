/**
 * UEFI signature databases (db, dbx) as bytes: EFI_SIGNATURE_LISTs (the `.esl` files efitools'
 * `cert-to-efi-sig-list` and `hash-to-efi-sig-list` write), authenticated variable updates (`.auth`:
 * EFI_VARIABLE_AUTHENTICATION_2 followed by the lists, as `sign-efi-sig-list` writes them), efivarfs
 * variable files (a u32 of attributes followed by the lists) and single DER certificates. Pure: a
 * `Uint8Array` in, views into it out; nothing is copied or allocated in proportion to a size field.
 *
 * Authority: tianocore/edk2 MdePkg/Include/Guid/ImageAuthentication.h (EFI_SIGNATURE_LIST,
 * EFI_SIGNATURE_DATA, the EFI_CERT_* GUIDs, EFI_VARIABLE_AUTHENTICATION_2), WinCertificate.h
 * (WIN_CERTIFICATE_UEFI_GUID), SecurityPkg AuthVariableLib/AuthService.c (mSupportSigItem and
 * CheckSignatureListFormat(): the sizes a list of each type must have to be enrolled).
 *
 *   EFI_SIGNATURE_LIST { GUID SignatureType; u32 SignatureListSize; u32 SignatureHeaderSize;
 *                        u32 SignatureSize; u8 header[SignatureHeaderSize];
 *                        EFI_SIGNATURE_DATA { GUID SignatureOwner; u8 data[SignatureSize-16] }[] }
 *   .auth: EFI_TIME (16) | WIN_CERTIFICATE_UEFI_GUID { u32 dwLength; u16 0x0200; u16 0x0EF1;
 *          GUID EFI_CERT_TYPE_PKCS7_GUID; PKCS#7 } | the lists
 */
import { ByteReader, toHex } from '../bytes/reader.js';
import { FormatError } from '../bytes/errors.js';
import { parseCertificate } from '../pki/certificate.js';

export const EFI_CERT_SHA256_GUID = 'c1c41626-504c-4092-aca9-41f936934328';
export const EFI_CERT_SHA1_GUID = '826ca512-cf10-4ac9-b187-be01496631bd';
export const EFI_CERT_SHA224_GUID = '0b6e5233-a65c-44c9-9407-d9ab83bfc8bd';
export const EFI_CERT_SHA384_GUID = 'ff3e5307-9fd0-48c9-85f1-8ad56c701e01';
export const EFI_CERT_SHA512_GUID = '093e0fae-a6c4-4f50-9f1b-d41e2b89c19a';
export const EFI_CERT_RSA2048_GUID = '3c5766e8-269c-4e34-aa14-ed776e85b3b6';
export const EFI_CERT_X509_GUID = 'a5c059a1-94e4-4aa7-87b5-ab155c2bf072';
export const EFI_CERT_X509_SHA256_GUID = '3bd2a492-96c0-4079-b420-fcf98ef103ed';
export const EFI_CERT_X509_SHA384_GUID = '7076876e-80c2-4ee6-aad2-28b349a6865b';
export const EFI_CERT_X509_SHA512_GUID = '446dbf63-2502-4cda-bcfa-2465d2b0fe9d';
export const EFI_CERT_TYPE_PKCS7_GUID = '4aafd29d-68df-49ee-8aa9-347d375665a7';
export const EFI_IMAGE_SECURITY_DATABASE_GUID = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f';
export const EFI_GLOBAL_VARIABLE_GUID = '8be4df61-93ca-11d2-aa0d-00e098032b8c';

/** What a signature list holds, by its SignatureType. */
export type SignatureKind =
  | 'x509'
  | 'sha1'
  | 'sha224'
  | 'sha256'
  | 'sha384'
  | 'sha512'
  | 'rsa2048'
  | 'x509-sha256'
  | 'x509-sha384'
  | 'x509-sha512'
  | 'unknown';

/** Each known SignatureType: its kind, EDK2 name and the exact data size (undefined: variable, X.509 DER). */
const TYPES: Record<string, { kind: SignatureKind; name: string; dataSize: number | undefined }> = {
  [EFI_CERT_X509_GUID]: { kind: 'x509', name: 'EFI_CERT_X509', dataSize: undefined },
  [EFI_CERT_SHA1_GUID]: { kind: 'sha1', name: 'EFI_CERT_SHA1', dataSize: 20 },
  [EFI_CERT_SHA224_GUID]: { kind: 'sha224', name: 'EFI_CERT_SHA224', dataSize: 28 },
  [EFI_CERT_SHA256_GUID]: { kind: 'sha256', name: 'EFI_CERT_SHA256', dataSize: 32 },
  [EFI_CERT_SHA384_GUID]: { kind: 'sha384', name: 'EFI_CERT_SHA384', dataSize: 48 },
  [EFI_CERT_SHA512_GUID]: { kind: 'sha512', name: 'EFI_CERT_SHA512', dataSize: 64 },
  [EFI_CERT_RSA2048_GUID]: { kind: 'rsa2048', name: 'EFI_CERT_RSA2048', dataSize: 256 },
  // TBSCertificate hash + EFI_TIME TimeOfRevocation
  [EFI_CERT_X509_SHA256_GUID]: { kind: 'x509-sha256', name: 'EFI_CERT_X509_SHA256', dataSize: 32 + 16 },
  [EFI_CERT_X509_SHA384_GUID]: { kind: 'x509-sha384', name: 'EFI_CERT_X509_SHA384', dataSize: 48 + 16 },
  [EFI_CERT_X509_SHA512_GUID]: { kind: 'x509-sha512', name: 'EFI_CERT_X509_SHA512', dataSize: 64 + 16 },
};

/** Names of the GUIDs a user meets in these files (types, variable namespaces, well-known owners). */
const GUID_NAMES: Record<string, string> = {
  ...Object.fromEntries(Object.entries(TYPES).map(([g, t]) => [g, t.name])),
  [EFI_CERT_TYPE_PKCS7_GUID]: 'EFI_CERT_TYPE_PKCS7_GUID',
  [EFI_IMAGE_SECURITY_DATABASE_GUID]: 'EFI_IMAGE_SECURITY_DATABASE_GUID',
  [EFI_GLOBAL_VARIABLE_GUID]: 'EFI_GLOBAL_VARIABLE',
  '77fa9abd-0359-4d32-bd60-28f4e78f784b': 'Microsoft',
  '605dab50-e046-4300-abb6-3dd810dd8b23': 'shim',
  '00000000-0000-0000-0000-000000000000': 'zero GUID',
};

/** The most entries read from one file: a real dbx holds a few hundred. */
export const MAX_SIGNATURES = 65536;

/** EFI_TIME (UEFI 2.10 §8.3): only the date and time fields matter here. */
export interface EfiTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly nanosecond: number;
  readonly timeZone: number;
  readonly daylight: number;
}

/** One EFI_SIGNATURE_DATA. */
export interface EfiSignatureData {
  /** Absolute offset of the entry (its SignatureOwner). */
  readonly offset: number;
  readonly owner: string;
  /** The data after the owner GUID (view). */
  readonly data: Uint8Array;
}

/** One EFI_SIGNATURE_LIST. */
export interface EfiSignatureList {
  /** Absolute offset of the list header. */
  readonly offset: number;
  /** SignatureType as text (lowercase, dashed). */
  readonly type: string;
  readonly kind: SignatureKind;
  /** EDK2's name of the type, or the GUID. */
  readonly typeName: string;
  readonly signatureSize: number;
  readonly signatures: readonly EfiSignatureData[];
}

/** What a db/dbx input file was, and its lists. */
export interface SignatureDatabaseFile {
  readonly kind: 'esl' | 'auth' | 'efivar' | 'certificate';
  /** The variable attributes (efivarfs file), when known. */
  readonly attributes: number | undefined;
  /** The EFI_VARIABLE_AUTHENTICATION_2 TimeStamp (`.auth`). */
  readonly timestamp: EfiTime | undefined;
  /** The PKCS#7 that signs an `.auth` update (view; not verified here: the KEK is the firmware's business). */
  readonly authSignature: Uint8Array | undefined;
  readonly lists: readonly EfiSignatureList[];
}

/** A GUID's text form: u32, u16, u16 little-endian, then 8 bytes as stored. */
export function guidAt(r: ByteReader, off: number, what = 'GUID'): string {
  const b = r.bytes(off, 16, what);
  const le = (i: number, n: number): string => toHex(Uint8Array.from(b.subarray(i, i + n)).reverse());
  return `${le(0, 4)}-${le(4, 2)}-${le(6, 2)}-${toHex(b.subarray(8, 10))}-${toHex(b.subarray(10, 16))}`;
}

/** The 16 bytes of a GUID given as text. @throws RangeError for a malformed GUID (a programming error). */
export function guidBytes(guid: string): Uint8Array {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(guid);
  if (!m) throw new RangeError(`not a GUID: ${guid}`);
  const hex = (s: string): number[] => Array.from(Buffer.from(s, 'hex'));
  return Uint8Array.from([
    ...hex(m[1]!).reverse(),
    ...hex(m[2]!).reverse(),
    ...hex(m[3]!).reverse(),
    ...hex(m[4]!),
    ...hex(m[5]!),
  ]);
}

/** A known name for a GUID (signature type, variable namespace, well-known owner), or undefined. */
export function guidName(guid: string): string | undefined {
  return GUID_NAMES[guid.toLowerCase()];
}

/** The signature kind of a SignatureType GUID. */
export function signatureKind(guid: string): SignatureKind {
  return TYPES[guid.toLowerCase()]?.kind ?? 'unknown';
}

/** The SignatureType GUID of a kind (not 'unknown'). */
export function signatureTypeGuid(kind: Exclude<SignatureKind, 'unknown'>): string {
  return Object.entries(TYPES).find(([, t]) => t.kind === kind)![0];
}

/** Reads an EFI_TIME at `off`. */
export function efiTimeAt(r: ByteReader, off: number): EfiTime {
  r.need(off, 16, 'EFI_TIME');
  const tz = r.u16(off + 12);
  return {
    year: r.u16(off),
    month: r.u8(off + 2),
    day: r.u8(off + 3),
    hour: r.u8(off + 4),
    minute: r.u8(off + 5),
    second: r.u8(off + 6),
    nanosecond: r.u32(off + 8),
    timeZone: tz >= 0x8000 ? tz - 0x10000 : tz,
    daylight: r.u8(off + 14),
  };
}

/** True when every date and time field is zero (EDK2 IsTimeZero(): "always revoked"). */
export function isTimeZero(t: EfiTime): boolean {
  return !t.year && !t.month && !t.day && !t.hour && !t.minute && !t.second;
}

/** An EFI_TIME as `YYYY-MM-DD HH:MM:SS`. */
export function formatEfiTime(t: EfiTime): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(t.year, 4)}-${p(t.month)}-${p(t.day)} ${p(t.hour)}:${p(t.minute)}:${p(t.second)}`;
}

/**
 * Every EFI_SIGNATURE_LIST of `data` (an `.esl` file, a variable's value), back to back to its end.
 * A list must be enrollable: SignatureListSize covers its header and a whole number of entries of
 * SignatureSize bytes (at least the owner GUID), and a known type has its exact data size.
 * @throws FormatError E_TRUNCATED, E_RANGE, E_FORMAT (with the offset of the bad field), E_LIMIT
 */
export function parseSignatureLists(data: Uint8Array, file: string, base = 0): EfiSignatureList[] {
  const r = new ByteReader(data, { file, format: 'efi-signature-list', base });
  const lists: EfiSignatureList[] = [];
  let count = 0;
  for (let off = 0; off < data.length;) {
    r.need(off, 28, 'EFI_SIGNATURE_LIST header');
    const type = guidAt(r, off, 'SignatureType');
    const listSize = r.u32(off + 16, 'SignatureListSize');
    const headerSize = r.u32(off + 20, 'SignatureHeaderSize');
    const sigSize = r.u32(off + 24, 'SignatureSize');
    if (listSize < 28 || listSize > data.length - off)
      throw r.error(
        listSize < 28 ? 'E_FORMAT' : 'E_RANGE',
        off + 16,
        `SignatureListSize ${listSize} does not fit (${data.length - off} bytes left)`,
      );
    if (headerSize > listSize - 28)
      throw r.error('E_RANGE', off + 20, `SignatureHeaderSize ${headerSize} does not fit the list`);
    if (sigSize < 16) throw r.error('E_FORMAT', off + 24, `SignatureSize ${sigSize} is smaller than the owner GUID`);
    const body = listSize - 28 - headerSize;
    if (body % sigSize !== 0)
      throw r.error('E_FORMAT', off + 24, `${body} bytes of signatures are not a multiple of SignatureSize ${sigSize}`);
    const known = TYPES[type];
    if (known?.dataSize !== undefined && sigSize !== 16 + known.dataSize)
      throw r.error(
        'E_FORMAT',
        off + 24,
        `${known.name} list with SignatureSize ${sigSize} (EDK2 enrolls only ${16 + known.dataSize})`,
      );
    const n = body / sigSize;
    if ((count += n) > MAX_SIGNATURES)
      throw r.error('E_LIMIT', off, `more than ${MAX_SIGNATURES} signatures in one database file`);
    const signatures: EfiSignatureData[] = [];
    for (let i = 0, p = off + 28 + headerSize; i < n; i++, p += sigSize)
      signatures.push({
        offset: r.base + p,
        owner: guidAt(r, p, 'SignatureOwner'),
        data: r.bytes(p + 16, sigSize - 16),
      });
    if (known?.kind === 'x509') for (const s of signatures) parseCertificate(s.data, { file, offset: s.offset + 16 }); // throws FormatError
    lists.push({
      offset: r.base + off,
      type,
      kind: known?.kind ?? 'unknown',
      typeName: known?.name ?? type,
      signatureSize: sigSize,
      signatures,
    });
    off += listSize;
  }
  return lists;
}

/** True when a known SignatureType GUID starts at `off` (what tells the file kinds apart). */
function knownTypeAt(r: ByteReader, off: number): boolean {
  return off + 28 <= r.length && TYPES[guidAt(r, off)] !== undefined;
}

/** True when `data` starts like EFI_VARIABLE_AUTHENTICATION_2 (WIN_CERT_TYPE_EFI_GUID with the PKCS7 GUID at 16). */
function looksLikeAuth(r: ByteReader): boolean {
  return r.length >= 40 && r.u16(20) === 0x0200 && r.u16(22) === 0x0ef1 && guidAt(r, 24) === EFI_CERT_TYPE_PKCS7_GUID;
}

/**
 * An authenticated variable update (`.auth`): the timestamp, the PKCS#7 and the lists after it.
 * @throws FormatError E_MAGIC (not WIN_CERT_TYPE_EFI_GUID/PKCS7), E_RANGE (dwLength), and as {@link parseSignatureLists}
 */
export function parseAuthVariable(data: Uint8Array, file: string): SignatureDatabaseFile {
  const r = new ByteReader(data, { file, format: 'efi-auth' });
  r.need(0, 40, 'EFI_VARIABLE_AUTHENTICATION_2');
  if (!looksLikeAuth(r))
    throw r.error(
      'E_MAGIC',
      16,
      'not EFI_VARIABLE_AUTHENTICATION_2 (WIN_CERT_TYPE_EFI_GUID with EFI_CERT_TYPE_PKCS7_GUID)',
    );
  const timestamp = efiTimeAt(r, 0);
  const dwLength = r.u32(16, 'dwLength');
  if (dwLength < 24 || dwLength > data.length - 16)
    throw r.error(
      'E_RANGE',
      16,
      `dwLength ${dwLength} does not fit the file (${data.length - 16} bytes after the time)`,
    );
  const payload = 16 + dwLength;
  return {
    kind: 'auth',
    attributes: undefined,
    timestamp,
    authSignature: r.bytes(40, dwLength - 24, 'PKCS#7'),
    lists: parseSignatureLists(data.subarray(payload), file, payload),
  };
}

/**
 * An efivarfs variable file: the u32 attributes, then the value (here: signature lists).
 * @throws FormatError as {@link parseSignatureLists}; E_TRUNCATED under 4 bytes
 */
export function parseEfiVariableFile(data: Uint8Array, file: string): SignatureDatabaseFile {
  const r = new ByteReader(data, { file, format: 'efivarfs' });
  const attributes = r.u32(0, 'variable attributes');
  return {
    kind: 'efivar',
    attributes,
    timestamp: undefined,
    authSignature: undefined,
    lists: parseSignatureLists(data.subarray(4), file, 4),
  };
}

/** A one-certificate EFI_CERT_X509 signature list (owner GUID zero), as a certificate given on its own stands in db or dbx. */
export function x509SignatureList(der: Uint8Array): EfiSignatureList {
  return {
    offset: 0,
    type: EFI_CERT_X509_GUID,
    kind: 'x509',
    typeName: 'EFI_CERT_X509',
    signatureSize: 16 + der.length,
    signatures: [{ offset: 0, owner: '00000000-0000-0000-0000-000000000000', data: der }],
  };
}

/**
 * A db/dbx input of any kind, told apart by its first bytes: an EFI_SIGNATURE_LIST (a known
 * SignatureType at 0; an empty file is an empty list), an `.auth` update, an efivarfs file (a
 * known SignatureType at 4 after attributes, or only the attributes), else a DER certificate
 * (PEM is the caller's: see readCertificateFile).
 * @throws FormatError E_MAGIC when it is none of these, or the error of the format it looks like
 */
export function parseSignatureDatabase(data: Uint8Array, file: string): SignatureDatabaseFile {
  const r = new ByteReader(data, { file, format: 'efi-signature-database' });
  if (data.length === 0 || knownTypeAt(r, 0))
    return {
      kind: 'esl',
      attributes: undefined,
      timestamp: undefined,
      authSignature: undefined,
      lists: parseSignatureLists(data, file),
    };
  if (looksLikeAuth(r)) return parseAuthVariable(data, file);
  if ((data.length === 4 || knownTypeAt(r, 4)) && r.u32(0) < 0x80) return parseEfiVariableFile(data, file);
  if (data[0] === 0x30) {
    let cert: Uint8Array;
    try {
      cert = parseCertificate(data, { file }).der;
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      throw r.error(
        'E_MAGIC',
        0,
        `neither an EFI signature list, an .auth file, an efivarfs variable nor a certificate (${e.detail})`,
      );
    }
    return {
      kind: 'certificate',
      attributes: undefined,
      timestamp: undefined,
      authSignature: undefined,
      lists: [x509SignatureList(cert)],
    };
  }
  throw r.error('E_MAGIC', 0, 'neither an EFI signature list, an .auth file, an efivarfs variable nor a certificate');
}
