/**
 * The trusted certificates compiled into the kernel image.
 * Authority: certs/system_certificates.S, certs/system_keyring.c (load_system_certificate_list),
 * crypto/asymmetric_keys/x509_loader.c (the list parser), scripts/insert-sys-cert.c,
 * crypto/asymmetric_keys/x509_cert_parser.c + x509_public_key.c (the name the kernel prints).
 *
 *   .align 8
 *   system_certificate_list:       DER cert, DER cert, ...   (signing key first, then trusted keys)
 *   [system_extra_cert:            CONFIG_SYSTEM_EXTRA_CERTIFICATE_SIZE bytes, zeros or DER certs
 *    .align 4
 *    system_extra_cert_used:       int32: bytes of the area in use]
 *   .align 8
 *   system_certificate_list_size:  unsigned long = compiled list length + extra bytes in use
 *   module_cert_size:              unsigned long = length of the signing-key cert (6.1, 6.12)
 *
 * At boot the kernel parses `[list, list + list_size)`: while >= 4 bytes remain, a cert must
 * start with 30 82 and its length is be16 + 4; anything else ends the list.
 */
import { createHash } from 'node:crypto';
import { ByteReader, latin1, toHex } from '../bytes/reader.js';
import { FormatError } from '../bytes/errors.js';
import { nameAttributes, parseCertificate } from '../pki/certificate.js';
import { formatName } from '../modsig/signature.js';
import { OID_CN, OID_EMAIL, OID_O } from '../pki/oids.js';

/** One certificate as the kernel's builtin keyring would load it. */
export interface KernelCertificate {
  /** Absolute offset of the DER in the scanned data. */
  readonly offset: number;
  readonly subject: string;
  readonly issuer: string;
  /** Serial number magnitude, lowercase hex without leading zeros (what a PKCS#7 signer names). */
  readonly serial: string;
  /** subjectKeyIdentifier, lowercase hex, or undefined when the extension is absent. */
  readonly subjectKeyId: string | undefined;
  /** SHA-256 of the DER, lowercase hex (what `openssl x509 -fingerprint -sha256` prints). */
  readonly sha256: string;
  /** The key description the kernel logs ("Loaded X.509 cert '<this>'"). */
  readonly kernelName: string;
  /** The DER bytes, base64. */
  readonly der: string;
}

/** A cert-sized DER blob in the list that does not parse as X.509 (the kernel logs and skips it). */
export interface UnparsedCertificate {
  readonly offset: number;
  readonly length: number;
  readonly reason: string;
}

/** The kernel's built-in trusted certificate list (`system_certificate_list`) and its reserved extra-certificate area. */
export interface CertificateList {
  /** How the list was located: symbol addresses (exact) or a scan for DER runs (heuristic). */
  readonly method: 'symbols' | 'scan';
  /** Absolute offset of `system_certificate_list`. */
  readonly offset: number;
  /** Value of `system_certificate_list_size`: the bytes the kernel parses at boot. */
  readonly listSize: number;
  /** Absolute offset of `system_certificate_list_size`. */
  readonly listSizeOffset: number;
  readonly certificates: readonly KernelCertificate[];
  readonly unparsed: readonly UnparsedCertificate[];
  /** Bytes of `[list, list + listSize)` the kernel's parser would not reach (it stops early). */
  readonly unreachable: number;
  /** `module_cert_size` when known from symbols. */
  readonly moduleCertSize: number | undefined;
  /** The reserved area for certificates added after the build (from symbols only). */
  readonly extra: ExtraCertificateArea | undefined;
}

/** The area CONFIG_SYSTEM_EXTRA_CERTIFICATE reserves in the image (`system_extra_cert`), which {@link embedExtraCertificate} fills. */
export interface ExtraCertificateArea {
  readonly offset: number;
  readonly size: number;
  /** Value of `system_extra_cert_used`. */
  readonly used: number;
  readonly usedOffset: number;
}

/** Absolute file offsets (and sizes, when known) of the certificate symbols. */
export interface CertificateSymbols {
  readonly list: number;
  readonly listSize: number;
  readonly moduleCertSize?: number | undefined;
  readonly extraCert?: number | undefined;
  /** ELF st_size of system_extra_cert, or the distance to the next System.map symbol. */
  readonly extraCertSize?: number | undefined;
  readonly extraCertUsed?: number | undefined;
}

/** Layout of words in the image. */
export interface WordLayout {
  readonly wordSize: 4 | 8;
  readonly littleEndian: boolean;
}

/** The largest reserved extra area the scan walks over (CONFIG_SYSTEM_EXTRA_CERTIFICATE_SIZE; default 4096). */
export const MAX_EXTRA_AREA_SCAN = 1024 * 1024;
/** Certificates we are willing to parse from one list. */
export const MAX_CERTIFICATES = 4096;

/**
 * Parses one DER X.509 certificate.
 * @throws FormatError E_ASN1 (at `offset`) when it does not decode.
 */
export function parseKernelCertificate(der: Uint8Array, file: string, offset: number): KernelCertificate {
  const cert = parseCertificate(der, { file, offset });
  const tbs = cert.decoded.tbsCertificate;
  const skid = cert.subjectKeyId;
  // x509_key_preparse(): "<fabricated subject>: <hex of raw skid, else raw serial>".
  const kernelName = `${fabricateName(cert.subjectDer, file, offset)}: ${toHex(skid ?? cert.serial)}`;
  return {
    offset,
    subject: formatName(tbs.subject),
    issuer: formatName(tbs.issuer),
    serial: serialMagnitudeHex(cert.serial),
    subjectKeyId: skid ? toHex(skid) : undefined,
    sha256: createHash('sha256').update(der).digest('hex'),
    kernelName,
    der: Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64'),
  };
}

/**
 * Parses `[0, size)` of `r` as the kernel does at boot (x509_loader.c): certificates back to
 * back, each `30 82 LL LL`, stopping at the first blob that does not look like one.
 * @throws FormatError E_LIMIT (more than MAX_CERTIFICATES), E_TRUNCATED/E_RANGE (size past data)
 */
export function readCertificateBlob(
  r: ByteReader,
  off: number,
  size: number,
): Pick<CertificateList, 'certificates' | 'unparsed' | 'unreachable'> {
  r.need(off, size, 'system_certificate_list');
  const certificates: KernelCertificate[] = [];
  const unparsed: UnparsedCertificate[] = [];
  let p = off;
  const end = off + size;
  while (end - p >= 4) {
    if (r.data[p] !== 0x30 || r.data[p + 1] !== 0x82) break;
    const len = ((r.data[p + 2]! << 8) | r.data[p + 3]!) + 4;
    if (len > end - p) break;
    if (certificates.length + unparsed.length >= MAX_CERTIFICATES)
      throw r.error('E_LIMIT', p, `more than ${MAX_CERTIFICATES} certificates`);
    try {
      certificates.push(parseKernelCertificate(r.data.subarray(p, p + len), r.file, r.base + p));
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      unparsed.push({ offset: r.base + p, length: len, reason: e.detail });
    }
    p += len;
  }
  return { certificates, unparsed, unreachable: end - p };
}

/**
 * Reads the list at exact offsets (from the ELF .symtab or System.map).
 * @throws FormatError E_RANGE/E_TRUNCATED (offsets or size outside the data), E_LIMIT
 */
export function readCertificateListAt(
  data: Uint8Array,
  file: string,
  syms: CertificateSymbols,
  layout: WordLayout,
): CertificateList {
  const r = new ByteReader(data, { file, format: 'certs', littleEndian: layout.littleEndian });
  const listSize = r.word(syms.listSize, layout.wordSize, 'system_certificate_list_size');
  let extra: ExtraCertificateArea | undefined;
  if (syms.extraCert !== undefined && syms.extraCertUsed !== undefined) {
    const used = r.i32(syms.extraCertUsed, 'system_extra_cert_used');
    const size = syms.extraCertSize ?? syms.extraCertUsed - syms.extraCert;
    r.need(syms.extraCert, size, 'system_extra_cert');
    if (used < 0 || used > size)
      throw r.error('E_RANGE', syms.extraCertUsed, `system_extra_cert_used ${used} is outside the ${size}-byte area`);
    extra = { offset: syms.extraCert, size, used, usedOffset: syms.extraCertUsed };
  }
  const moduleCertSize =
    syms.moduleCertSize !== undefined ? r.word(syms.moduleCertSize, layout.wordSize, 'module_cert_size') : undefined;
  return {
    method: 'symbols',
    offset: syms.list,
    listSize,
    listSizeOffset: syms.listSize,
    moduleCertSize,
    extra,
    ...readCertificateBlob(r, syms.list, listSize),
  };
}

/**
 * Finds the list without symbols: a run of back-to-back DER certificates followed (after zero
 * padding, and the zero-filled extra area with its `used` word when configured) by a word equal
 * to the run's length. Candidate word layouts are tried in order. When several runs qualify
 * (another `u8 certs[]; unsigned len;` pair elsewhere in the image), the one followed by
 * `module_cert_size` (0 or the first cert's length) wins, else the last: `.init.*` comes after
 * `.rodata` in every kernel link layout.
 * @returns undefined when no run qualifies (also when the kernel has no built-in certificate).
 * @throws FormatError E_LIMIT
 */
export function scanCertificateList(
  data: Uint8Array,
  file: string,
  layouts: readonly WordLayout[],
): CertificateList | undefined {
  const hay = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const needle = Buffer.from([0x30, 0x82]);
  const hits: { s: number; e: number; sizeAt: number; layout: WordLayout; moduleCertSize: boolean }[] = [];
  let skipUntil = -1;
  for (let s = hay.indexOf(needle); s >= 0; s = hay.indexOf(needle, s + 1)) {
    if (s < skipUntil) continue;
    const e = runEnd(data, s);
    if (e === s) continue;
    skipUntil = e; // a start inside this run cannot be the list start: its run ends here too
    for (const layout of layouts) {
      const sizeAt = findSizeWord(data, s, e, layout);
      if (sizeAt === undefined) continue;
      const next = sizeAt + layout.wordSize;
      const nr = new ByteReader(data, { file, format: 'certs', littleEndian: layout.littleEndian });
      const m =
        next + layout.wordSize > data.length ? -1n : layout.wordSize === 8 ? nr.u64(next) : BigInt(nr.u32(next));
      hits.push({
        s,
        e,
        sizeAt,
        layout,
        moduleCertSize: m === 0n || m === BigInt(((data[s + 2]! << 8) | data[s + 3]!) + 4),
      });
      if (hits.length > MAX_CERTIFICATES)
        throw new FormatError('E_LIMIT', {
          file,
          offset: s,
          format: 'certs',
          detail: `more than ${MAX_CERTIFICATES} candidate certificate lists`,
        });
      break;
    }
  }
  const best = hits.filter((h) => h.moduleCertSize).pop() ?? hits.pop();
  if (!best) return undefined;
  const r = new ByteReader(data, { file, format: 'certs', littleEndian: best.layout.littleEndian });
  return {
    method: 'scan',
    offset: best.s,
    listSize: best.e - best.s,
    listSizeOffset: best.sizeAt,
    moduleCertSize: undefined,
    extra: undefined,
    ...readCertificateBlob(r, best.s, best.e - best.s),
  };
}

/** End of the run of certificate-shaped DER blobs starting at `s` (s itself when none). */
function runEnd(data: Uint8Array, s: number): number {
  let p = s;
  for (let n = 0; n < MAX_CERTIFICATES && looksLikeCertificate(data, p); n++)
    p += ((data[p + 2]! << 8) | data[p + 3]!) + 4;
  return p;
}

/**
 * `30 82 LL LL` then a TBSCertificate SEQUENCE (30 81/82) that fits inside, starting with
 * [0] version (a0 03 02 01 0v) or the serial INTEGER (v1), all inside the data.
 */
function looksLikeCertificate(data: Uint8Array, p: number): boolean {
  if (p + 12 > data.length || data[p] !== 0x30 || data[p + 1] !== 0x82) return false;
  const len = ((data[p + 2]! << 8) | data[p + 3]!) + 4;
  if (p + len > data.length || data[p + 4] !== 0x30) return false;
  let tbsLen: number;
  let q: number;
  if (data[p + 5] === 0x82) {
    tbsLen = (data[p + 6]! << 8) | data[p + 7]!;
    q = p + 8;
  } else if (data[p + 5] === 0x81) {
    tbsLen = data[p + 6]!;
    q = p + 7;
  } else return false;
  if (q + tbsLen > p + len) return false;
  const v3 =
    data[q] === 0xa0 && data[q + 1] === 0x03 && data[q + 2] === 0x02 && data[q + 3] === 0x01 && data[q + 4]! <= 2;
  return v3 || data[q] === 0x02;
}

/**
 * Offset of a word equal to `e - s` after the run, with only zeros in between except one
 * 4-byte `system_extra_cert_used` value just before it (4-aligned positions relative to `s`).
 */
function findSizeWord(data: Uint8Array, s: number, e: number, layout: WordLayout): number | undefined {
  const want = e - s;
  const r = new ByteReader(data, { file: '', format: 'certs', littleEndian: layout.littleEndian });
  let zerosTo = e; // data[e, zerosTo) are all zero
  const limit = Math.min(data.length - layout.wordSize, e + MAX_EXTRA_AREA_SCAN);
  for (let p = e + ((4 - ((e - s) % 4)) % 4); p <= limit; p += 4) {
    while (zerosTo < p && data[zerosTo] === 0) zerosTo++;
    // Allowed non-zero bytes before p: only the used word at p-8 or p-4.
    if (zerosTo < p - 8) return undefined;
    if ((layout.wordSize === 8 ? r.u64(p) : BigInt(r.u32(p))) !== BigInt(want)) continue;
    if (zerosTo < p && !usedWordFits(r, s, e, p, zerosTo)) continue;
    return p;
  }
  return undefined;
}

/** A non-zero gap before the size word must be exactly a plausible `system_extra_cert_used`. */
function usedWordFits(r: ByteReader, s: number, e: number, p: number, firstNonZero: number): boolean {
  for (const at of [p - 8, p - 4]) {
    if (at < e || firstNonZero < at) continue;
    let restZero = true;
    for (let i = at + 4; i < p && restZero; i++) restZero = r.data[i] === 0;
    if (!restZero) continue;
    const used = r.u32(at);
    if (used > 0 && used <= e - s && runEnd(r.data, e - used) === e) return true;
  }
  return false;
}

/**
 * Serial as openssl's `x509 -serial` prints it (lower case): the magnitude's bytes in hex, without
 * the sign byte, so an even number of digits ("0e6e..."); negative serials as "-" and their magnitude.
 */
function serialMagnitudeHex(raw: Uint8Array): string {
  if (raw.length === 0) return '';
  if (raw[0]! & 0x80) {
    let v = 0n;
    for (const x of raw) v = (v << 8n) | BigInt(x);
    const m = ((1n << BigInt(raw.length * 8)) - v).toString(16);
    return '-' + (m.length % 2 ? '0' + m : m);
  }
  let i = 0;
  while (i < raw.length - 1 && raw[i] === 0) i++;
  return toHex(raw.subarray(i));
}

/** x509_fabricate_name(): CN, O or email; "O: CN" unless CN starts with O (or they share 7 bytes). Raw value bytes, as latin1. */
function fabricateName(subjectDer: Uint8Array, file: string, offset: number): string {
  let cn: string | undefined;
  let o: string | undefined;
  let email: string | undefined;
  for (const a of nameAttributes(subjectDer, file, offset)) {
    const v = latin1(a.value, 0, a.value.length);
    if (a.oid === OID_CN) cn = v;
    else if (a.oid === OID_O) o = v;
    else if (a.oid === OID_EMAIL) email = v;
  }
  if (cn && o) {
    if (cn.length >= o.length && cn.startsWith(o)) return cn;
    if (cn.length >= 7 && o.length >= 7 && cn.slice(0, 7) === o.slice(0, 7)) return cn;
    return `${o}: ${cn}`;
  }
  return cn ?? o ?? email ?? '';
}
