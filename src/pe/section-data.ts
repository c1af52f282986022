/**
 * A section's bytes, as a PE loader and systemd-stub see them: the first `VirtualSize` bytes of
 * its raw data, never more than `SizeOfRawData` (the rest of the virtual size is zero-filled
 * memory, the rest of the raw size file-alignment padding). A UKI is a PE image with a `.linux`
 * section (uapi-group specs/unified_kernel_image.md).
 */
import type { PeImage, PeSection } from './pe.js';

/** The bytes of `s` in `data` (a view): VirtualSize bytes (0: all of SizeOfRawData), at most SizeOfRawData. */
export function sectionBytes(data: Uint8Array, s: PeSection): Uint8Array {
  const len = s.virtualSize ? Math.min(s.virtualSize, s.sizeOfRawData) : s.sizeOfRawData;
  return data.subarray(s.pointerToRawData, s.pointerToRawData + len);
}

/** The bytes of the first section named `name`, or undefined. */
export function peSectionData(data: Uint8Array, pe: PeImage, name: string): Uint8Array | undefined {
  const s = pe.sections.find((x) => x.name === name);
  return s ? sectionBytes(data, s) : undefined;
}

/** Whether a PE image is a unified kernel image (it has a `.linux` section). */
export function isUki(pe: PeImage): boolean {
  return pe.sections.some((s) => s.name === '.linux');
}
