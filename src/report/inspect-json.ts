/** `inspect --json`: one object per module, modinfo pairs in order plus a structured signature. */
import type { ModuleInspection, SignatureSummary } from '../modinfo/inspect.js';
import type { ModinfoEntry } from '../modinfo/modinfo.js';

/** One module in `kmodseal inspect --json` output (see {@link inspectionToJson}). */
export interface InspectJson {
  readonly filename: string;
  readonly compression: string;
  readonly fileSize: number;
  readonly size: number;
  /** Ordered [key, value] pairs exactly as modinfo lists them (signature fields included). */
  readonly modinfo: readonly (readonly [string, string])[];
  readonly signature: SignatureSummary | null;
  readonly error?: { readonly code: string; readonly message: string };
}

/** Values are byte strings (latin1); JSON carries them decoded as UTF-8, as they were written. */
export function utf8(s: string): string {
  return /[\x80-\xff]/.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s;
}

/**
 * The object `kmodseal inspect --json` prints for one module.
 * @param info - what {@link inspectModuleBytes} returned
 * @param filename - the name to print (the CLI passes the absolute path)
 */
export function inspectionToJson(info: ModuleInspection, filename: string): InspectJson {
  return {
    filename,
    compression: info.compression,
    fileSize: info.fileSize,
    size: info.size,
    modinfo: info.modinfo.map((e) => [utf8(e.key), utf8(e.value)] as const),
    signature: info.signature ? { ...info.signature, signer: utf8(info.signature.signer) } : null,
  };
}

/** The object `kmodseal inspect --json` prints for a built-in module (modules.builtin.modinfo). */
export function builtinToJson(name: string, modinfo: readonly ModinfoEntry[]): object {
  return {
    filename: '(builtin)',
    name,
    builtin: true,
    modinfo: modinfo.map((e) => [utf8(e.key), utf8(e.value)]),
    signature: null,
  };
}

/** `inspect --json`: the array of module objects, UTF-8. */
export function renderInspectJson(objects: readonly object[]): Uint8Array {
  return Buffer.from(JSON.stringify(objects, null, 2) + '\n', 'utf8');
}
