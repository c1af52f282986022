/**
 * The kernel series whose rules kmodseal applies, and the one mapping from a release string to
 * it. A leaf: imports nothing, so every floor (BTF validation, signature verdicts, checks) can
 * name a series.
 */

/** The kernel series whose rules kmodseal applies: 6.1 (Debian 12) or 6.12 (Debian 13, and newer kernels). */
export type KernelSeries = '6.1' | '6.12';

/**
 * The series of a release (`uname -r`): 6.12 from 6.12 on, 6.1 before; 6.12 when the release is
 * unknown or unreadable. Module BTF checking changed in 6.11 (distilled base) and 6.12
 * (DATASEC names); the signature algorithm tables in 6.12.
 */
export function kernelSeries(release: string | undefined): KernelSeries {
  const m = /^(\d+)\.(\d+)/.exec(release ?? '');
  if (!m) return '6.12';
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 6 || (major === 6 && minor >= 12) ? '6.12' : '6.1';
}
