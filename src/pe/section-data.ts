/**
 * Sections by name, with their bytes as `sectionBytes()` of pe.ts gives them. A UKI is a PE
 * image with a `.linux` section (uapi-group specs/unified_kernel_image.md).
 */
import { sectionBytes, type PeImage } from './pe.js';

/** The bytes of the first section named `name`, or undefined. */
export function peSectionData(data: Uint8Array, pe: PeImage, name: string): Uint8Array | undefined {
  const s = pe.sections.find((x) => x.name === name);
  return s ? sectionBytes(data, s) : undefined;
}

/** Whether a PE image is a unified kernel image (it has a `.linux` section). */
export function isUki(pe: PeImage): boolean {
  return pe.sections.some((s) => s.name === '.linux');
}
