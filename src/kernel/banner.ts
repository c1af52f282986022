/**
 * The kernel banner (init/version-timestamp.c `linux_banner`, include/linux/printk.h):
 *
 *   "Linux version " UTS_RELEASE " (" LINUX_COMPILE_BY "@" LINUX_COMPILE_HOST ") ("
 *   LINUX_COMPILER ") " UTS_VERSION "\n" NUL
 *
 * It is what `uname -r` (the release) and /proc/version show. Found by scanning raw bytes, so
 * it works on an ELF vmlinux and on a raw binary Image alike.
 */
import { latin1 } from '../bytes/reader.js';

export interface KernelBanner {
  /** The banner without its trailing newline. */
  readonly banner: string;
  /** Second word of "Linux version RELEASE (...": what `uname -r` prints. */
  readonly release: string;
  /** Offset of the banner in the scanned data. */
  readonly offset: number;
}

const PREFIX = Buffer.from('Linux version ', 'latin1');
/** A banner is a short line; anything longer is not one. */
const MAX_BANNER_LENGTH = 1024;
/** The release starts with the version digit; ") #" precedes UTS_VERSION. */
const BANNER_RE = /^Linux version (\d\S*) \(.*\) #/;

/**
 * The NUL-terminated "Linux version RELEASE (...)\n" string in `data` (in `[start, end)`).
 * Other "Linux version" strings (format strings, messages) are skipped. Since 6.1 the image
 * also holds init/version.c's weak placeholder banner with an empty build number ("# SMP");
 * the real one (init/version-timestamp.c, "#1 SMP") wins when both are present.
 * @returns undefined when there is no banner. Never throws.
 */
export function findBanner(data: Uint8Array, start = 0, end = data.length): KernelBanner | undefined {
  const hay = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let first: KernelBanner | undefined;
  for (let i = hay.indexOf(PREFIX, start); i >= 0 && i < end; i = hay.indexOf(PREFIX, i + 1)) {
    const stop = Math.min(end, i + MAX_BANNER_LENGTH);
    const nul = hay.indexOf(0, i);
    if (nul < 0 || nul > stop || nul === 0 || data[nul - 1] !== 0x0a) continue;
    const s = latin1(data, i, nul - 1);
    if (s.includes('\n') || /[^\x20-\x7e]/.test(s)) continue;
    const m = BANNER_RE.exec(s);
    if (!m) continue;
    const found = { banner: s, release: m[1]!, offset: i };
    if (/\) #\d/.test(s)) return found;
    first ??= found;
  }
  return first;
}
