/**
 * Byte-range comparison with named masks: which ranges of two equal-length buffers differ,
 * coalesced, each labelled by the mask that covers it (an expected, ignorable difference such
 * as the certificate list) or by where it lies (a real difference).
 */
import { bytesEqual } from './module-parts.js';

export interface Mask {
  readonly offset: number;
  readonly length: number;
  readonly label: string;
}

/** A range of differing bytes, and whether a mask (certificate, build id, signature) explains it. */
export interface ByteRegion {
  readonly offset: number;
  readonly length: number;
  /** The mask's label, or the location (e.g. "section .text") for an unmasked difference. */
  readonly label: string;
  /** True when the whole region lies inside a mask. */
  readonly masked: boolean;
}

/** Most regions listed per comparison (the count of all is reported separately). */
export const MAX_REGIONS = 200;
/** Differences closer than this many bytes merge into one region. */
const MERGE_GAP = 32;
const BLOCK = 4096;

/**
 * Differing byte ranges of `a` and `b`: each a maximal run of differing bytes, exact (equal bytes
 * between two runs belong to neither, so a mask boundary never makes them a difference);
 * labelRanges coalesces. Unbounded list; callers cap.
 */
export function differingRanges(a: Uint8Array, b: Uint8Array): { offset: number; length: number }[] {
  const n = Math.min(a.length, b.length);
  const out: { offset: number; length: number }[] = [];
  let start = -1;
  let last = -1;
  for (let blk = 0; blk < n; blk += BLOCK) {
    const end = Math.min(n, blk + BLOCK);
    if (bytesEqual(a.subarray(blk, end), b.subarray(blk, end))) continue;
    for (let i = blk; i < end; i++) {
      if (a[i] === b[i]) continue;
      if (start >= 0 && i === last + 1) last = i;
      else {
        if (start >= 0) out.push({ offset: start, length: last - start + 1 });
        start = last = i;
      }
    }
  }
  if (start >= 0) out.push({ offset: start, length: last - start + 1 });
  if (a.length !== b.length) out.push({ offset: n, length: Math.max(a.length, b.length) - n });
  return out;
}

/**
 * Splits differing ranges at mask boundaries, labels each piece, and merges pieces of one label
 * closer than MERGE_GAP bytes. `locate(offset)` names an unmasked position (e.g. its section).
 */
export function labelRanges(
  ranges: readonly { offset: number; length: number }[],
  masks: readonly Mask[],
  locate: (offset: number) => string,
): ByteRegion[] {
  const sorted = [...masks].filter((m) => m.length > 0).sort((x, y) => x.offset - y.offset);
  const out: ByteRegion[] = [];
  for (const r of ranges) {
    let p = r.offset;
    const end = r.offset + r.length;
    while (p < end) {
      const inside = sorted.find((m) => p >= m.offset && p < m.offset + m.length);
      if (inside) {
        const e = Math.min(end, inside.offset + inside.length);
        push(out, { offset: p, length: e - p, label: inside.label, masked: true });
        p = e;
        continue;
      }
      const nextMask = sorted.find((m) => m.offset > p);
      const e = Math.min(end, nextMask ? nextMask.offset : end);
      push(out, { offset: p, length: e - p, label: locate(p), masked: false });
      p = e;
    }
  }
  return out;
}

function push(out: ByteRegion[], r: ByteRegion): void {
  const prev = out[out.length - 1];
  if (prev && prev.label === r.label && prev.masked === r.masked && prev.offset + prev.length + MERGE_GAP >= r.offset) {
    out[out.length - 1] = { ...prev, length: r.offset + r.length - prev.offset };
  } else out.push(r);
}

/** Same content modulo masks (for equal-length buffers). */
export function equalOutsideMasks(a: Uint8Array, b: Uint8Array, masks: readonly Mask[]): boolean {
  if (a.length !== b.length) return false;
  return labelRanges(differingRanges(a, b), masks, () => '').every((r) => r.masked);
}
