/**
 * modinfo's text for many plain `.ko` files at once, by the kmodseal_modinfo addon
 * (native/modinfo.c) on several threads. A fast path only: the addon renders the common shape
 * (well-formed ELF, no signature or one kernel-style PKCS#7 signature) exactly as
 * src/report/modinfo-text.ts does and hands every other module back, unrendered, for the
 * TypeScript path, which stays the reference and the source of every error message.
 */
import { loadAddon } from '../io/addon.js';

interface NativeModinfo {
  texts(paths: string[], displays: string[], threads: number): { out: Buffer; lens: Int32Array };
}

export interface NativeTexts {
  /** The rendered texts, concatenated in order (modules handed back take no bytes). */
  readonly out: Buffer;
  /** Per module: its text's length in `out`, or -1 when the TypeScript path must render it. */
  readonly lens: Int32Array;
}

let addon: NativeModinfo | null | undefined;

/** Whether the addon is there (KMODSEAL_NO_NATIVE=1 or an unbuilt addon: no). */
export function nativeModinfoAvailable(): boolean {
  if (addon === undefined) addon = loadAddon<NativeModinfo>('kmodseal_modinfo');
  return addon !== null;
}

/**
 * modinfo's text (no options) for each `paths[i]`, shown as `displays[i]`, on `threads`
 * threads; null without the addon.
 */
export function nativeModinfoTexts(paths: string[], displays: string[], threads: number): NativeTexts | null {
  if (!nativeModinfoAvailable()) return null;
  return addon!.texts(paths, displays, Math.max(1, Math.min(64, Math.floor(threads))));
}
