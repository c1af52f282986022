/**
 * The one DER writer and BER/DER TLV reader: the module PKCS#7 kmodseal builds (byte-identical
 * to scripts/sign-file.c), and the raw byte spans of certificates and PKCS#7 messages that the
 * kernel hashes and compares (TBSCertificate, serial, issuer, extensions, signer infos).
 * Everything else about ASN.1 goes through @peculiar/asn1-schema (./certificate.ts, ./pkcs7.ts).
 *
 * Authority: ITU-T X.690 §8 (BER) and §10 (DER).
 *
 *   [ identifier (1 byte; high-tag-number form rejected) ][ length: short | 0x8n + n bytes | 0x80 ][ contents ]
 *
 * The reader goes through {@link ByteReader}, so every error carries the absolute offset.
 */
import { concatBytes } from '../bytes/concat.js';
import { ByteReader } from '../bytes/reader.js';

/** Nesting limit for BER walks (indefinite lengths recurse). */
export const MAX_DER_DEPTH = 32;

export const TAG_INTEGER = 0x02;
export const TAG_BIT_STRING = 0x03;
export const TAG_OCTET_STRING = 0x04;
export const TAG_NULL = 0x05;
export const TAG_OID = 0x06;
export const TAG_SEQUENCE = 0x30;
export const TAG_SET = 0x31;

// ---------------------------------------------------------------------------------------
// Writer

function encodeLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

// the one byte concatenation lives in src/bytes; re-exported for the DER writers' callers
export { concatBytes };

/** A TLV with definite length over the concatenated contents. */
export function encodeTlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const body = contents.length === 1 ? contents[0]! : concatBytes(contents);
  return concatBytes([Uint8Array.of(tag), encodeLength(body.length), body]);
}

/** An OBJECT IDENTIFIER TLV from dotted notation. */
export function encodeOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((s) => BigInt(s));
  if (arcs.length < 2) throw new Error(`bad OID ${dotted}`);
  const out: number[] = [];
  const push = (v: bigint): void => {
    const tmp: number[] = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) tmp.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...tmp);
  };
  push(arcs[0]! * 40n + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return encodeTlv(TAG_OID, Uint8Array.from(out));
}

/** A non-negative INTEGER from its big-endian magnitude (leading zeros removed, 0x00 added when the top bit is set). */
export function encodeUnsignedInteger(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let v = magnitude.subarray(i);
  if (v.length === 0) v = Uint8Array.of(0);
  if (v[0]! & 0x80) v = concatBytes([Uint8Array.of(0), v]);
  return encodeTlv(TAG_INTEGER, v);
}

export function encodeSmallInteger(n: number): Uint8Array {
  if (n < 0 || n > 127) throw new Error('encodeSmallInteger: 0..127 only');
  return encodeTlv(TAG_INTEGER, Uint8Array.of(n));
}

export const DER_NULL = Uint8Array.of(TAG_NULL, 0);

/** Dotted text of the contents of an OBJECT IDENTIFIER. */
export function decodeOid(contents: Uint8Array): string {
  const arcs: bigint[] = [];
  let v = 0n;
  for (const b of contents) {
    v = (v << 7n) | BigInt(b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(v);
      v = 0n;
    }
  }
  const first = arcs.shift() ?? 0n;
  const a0 = first < 80n ? first / 40n : 2n;
  return [a0, first - a0 * 40n, ...arcs].join('.');
}

/**
 * DER SET OF ordering (X.690 §11.6): encodings compared as octet strings, the shorter one
 * padded with zero octets. Returns a new sorted array.
 */
export function sortSetOf(items: readonly Uint8Array[]): Uint8Array[] {
  return [...items].sort((a, b) => {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const x = a[i] ?? 0;
      const y = b[i] ?? 0;
      if (x !== y) return x - y;
    }
    return 0;
  });
}

// ---------------------------------------------------------------------------------------
// Reader

/** One decoded TLV. Offsets are relative to the reader. */
export interface Tlv {
  readonly tag: number;
  readonly constructed: boolean;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly contentStart: number;
  /** Offset just past the contents (for indefinite lengths: before the end-of-contents octets). */
  readonly contentEnd: number;
  /** Offset just past the whole TLV (including end-of-contents octets). */
  readonly end: number;
  readonly indefinite: boolean;
}

/**
 * Reads the TLV at `off`, not past `limit`.
 * @throws FormatError E_ASN1 (high tag numbers, bad lengths, primitive indefinite), E_TRUNCATED
 */
export function readTlv(r: ByteReader, off: number, limit = r.length, depth = 0): Tlv {
  if (depth > MAX_DER_DEPTH) throw r.error('E_LIMIT', off, `ASN.1 nesting deeper than ${MAX_DER_DEPTH}`);
  if (off >= limit) throw r.error('E_TRUNCATED', off, 'ASN.1 element expected, data ends');
  const tag = r.u8(off, 'ASN.1 tag');
  if ((tag & 0x1f) === 0x1f) throw r.error('E_ASN1', off, 'high-tag-number form not supported');
  const constructed = (tag & 0x20) !== 0;
  if (off + 1 >= limit) throw r.error('E_TRUNCATED', off + 1, 'ASN.1 length expected, data ends');
  const l0 = r.u8(off + 1, 'ASN.1 length');
  let p = off + 2;
  if (l0 === 0x80) {
    if (!constructed) throw r.error('E_ASN1', off + 1, 'indefinite length on a primitive element');
    // BER indefinite form: children up to the end-of-contents octets 00 00.
    let q = p;
    for (;;) {
      if (q + 2 > limit) throw r.error('E_TRUNCATED', q, 'indefinite-length element has no end-of-contents');
      if (r.u8(q) === 0 && r.u8(q + 1) === 0) break;
      q = readTlv(r, q, limit, depth + 1).end;
    }
    return { tag, constructed, start: off, contentStart: p, contentEnd: q, end: q + 2, indefinite: true };
  }
  let len = l0;
  if (l0 & 0x80) {
    const n = l0 & 0x7f;
    if (n > 4) throw r.error('E_ASN1', off + 1, `length of ${n} octets not supported`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + r.u8(p + i, 'ASN.1 length');
    p += n;
  }
  if (p + len > limit) throw r.error('E_TRUNCATED', p, `ASN.1 element of ${len} bytes runs past its container`);
  return { tag, constructed, start: off, contentStart: p, contentEnd: p + len, end: p + len, indefinite: false };
}

/** The children of a constructed TLV. */
export function readChildren(r: ByteReader, parent: Tlv, depth = 0): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.contentStart; p < parent.contentEnd;) {
    const t = readTlv(r, p, parent.contentEnd, depth + 1);
    out.push(t);
    p = t.end;
  }
  return out;
}

/** Reads the TLV at `off` and checks its tag. */
export function expectTlv(r: ByteReader, off: number, tag: number, what: string, limit = r.length): Tlv {
  const t = readTlv(r, off, limit);
  if (t.tag !== tag)
    throw r.error('E_ASN1', off, `${what}: expected tag 0x${tag.toString(16)}, found 0x${t.tag.toString(16)}`);
  return t;
}

/** Contents of a primitive TLV (zero-copy view). */
export function tlvContents(r: ByteReader, t: Tlv): Uint8Array {
  return r.data.subarray(t.contentStart, t.contentEnd);
}

/** The whole encoding of a TLV (zero-copy view). */
export function tlvBytes(r: ByteReader, t: Tlv): Uint8Array {
  return r.data.subarray(t.start, t.end);
}
