/**
 * The `check` job: read a module, decompress it, and run the checks that do not depend on the
 * modules loaded before it (checkFront). Runs in a worker or in-process; the result is plain
 * data (the module's bytes stay behind), so it crosses thread boundaries.
 */
import { readFileScratch } from '../../io/files.js';
import { decompressModuleTransient } from '../../compress/index.js';
import { parseBtf } from '../../btf/btf.js';
import {
  checkFront,
  MODULE_FILE_MAX,
  prepareModule,
  trustedKeys,
  unreadableSize,
  type FrontTarget,
  type ModuleFront,
} from '../../check/check.js';
import type { KeyCert } from '../../check/signature.js';
import { flattenError, type Job, type JobError } from '../job.js';

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

/** A module's front, or the error that stops the whole run (an unreadable file, a bug). */
export type CheckJobResult = { readonly front: ModuleFront } | { readonly error: JobError };

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
    const prepared =
      typeof raw === 'number' ? unreadableSize(raw)! : await prepareModule(task.file, raw, decompressModuleTransient);
    return { front: checkFront(ctx.target, ctx.keys, task.file, prepared) };
  } catch (e) {
    return { error: flattenError(e) };
  }
}

/** The `check` job: the target's front facts shared, opened once per thread. */
export const checkJob: Job<CheckShared, CheckContext, CheckTask, CheckJobResult> = {
  open: openCheckContext,
  run: runCheckTask,
};
