/**
 * One `check` job: read a module, decompress it, and run the checks that do not depend on the
 * modules loaded before it (checkFront). Runs in a worker or in-process; the result is plain
 * data (the module's bytes stay behind), so it crosses thread boundaries.
 */
import { readFileScratch } from './files.js';
import { decompressModuleTransient } from '../compress/index.js';
import { parseBtf } from '../btf/btf.js';
import { checkFront, MODULE_FILE_MAX, prepareModule, trustedKeys, unreadableSize, type FrontTarget, type ModuleFront } from '../check/check.js';
import type { KeyCert } from '../check/signature.js';
import { isKmodsealError } from '../bytes/errors.js';

/** A module to check: a file to read, or bytes already in memory (a module inside a .deb). */
export interface CheckTask {
  /** The name results and messages use. */
  readonly file: string;
  readonly path?: string;
  readonly data?: Uint8Array;
}

/** What every task of one run shares, sent once to each worker (plain data). */
export interface CheckShared {
  readonly target: Omit<FrontTarget, 'btf'>;
  /** The kernel's BTF bytes (each worker parses them once). */
  readonly btf: { readonly data: Uint8Array; readonly file: string } | undefined;
  readonly trusted: readonly { readonly der: string; readonly kernelName: string }[];
  readonly extraTrusted: readonly Uint8Array[];
}

/** {@link CheckShared} opened on one thread: BTF and certificates parsed once. */
export interface CheckContext {
  readonly target: FrontTarget;
  readonly keys: readonly KeyCert[];
}

export function openCheckContext(shared: CheckShared): CheckContext {
  return {
    target: { ...shared.target, btf: shared.btf ? parseBtf(shared.btf.data, { file: shared.btf.file }) : undefined },
    keys: trustedKeys({ trusted: shared.trusted }, shared.extraTrusted),
  };
}

/** An error that stops the whole run (an unreadable file, a bug), as plain data. */
export interface CheckJobError {
  /** A KmodsealError's code; undefined for a bug. */
  readonly code: string | undefined;
  readonly message: string;
  readonly stack: string | undefined;
}

/** A module's front, or the error that stops the whole run. */
export type CheckJobResult = { readonly front: ModuleFront } | { readonly error: CheckJobError };

/**
 * Reads a whole file into this thread's reused buffer (errors as readFileBytes words them); a
 * file larger than the kernel reads for a module is not read: its size comes back instead.
 */
function readTransient(path: string): Uint8Array | number {
  return readFileScratch(path, MODULE_FILE_MAX); // its errors are readFileBytes's
}

export async function runCheckTask(ctx: CheckContext, task: CheckTask): Promise<CheckJobResult> {
  try {
    // Buffers are reused from module to module: nothing of them outlives checkFront.
    const raw = task.data ?? readTransient(task.path ?? task.file);
    const prepared = typeof raw === 'number' ? unreadableSize(raw)! : await prepareModule(task.file, raw, decompressModuleTransient);
    return { front: checkFront(ctx.target, ctx.keys, task.file, prepared) };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return { error: { code: isKmodsealError(e) ? e.code : undefined, message: err.message, stack: err.stack } };
  }
}
