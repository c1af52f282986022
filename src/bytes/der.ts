/**
 * The one DER TLV splitter for re-encoded, trusted DER (values @peculiar just serialized):
 * tag, content octets and end. Hostile DER goes through ByteReader-based readers instead.
 */
export interface DerTlv {
  readonly tag: number;
  /** Zero-copy view of the content octets. */
  readonly content: Uint8Array;
  /** Offset just past this TLV. */
  readonly end: number;
}

/** The TLV at `at` (short or long definite length); lengths past the data are clipped. */
export function derTlv(der: Uint8Array, at = 0): DerTlv {
  let len = der[at + 1] ?? 0;
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[p + i] ?? 0);
    p += n;
  }
  const content = der.subarray(p, Math.min(der.length, p + len));
  return { tag: der[at] ?? 0, content, end: p + len };
}
