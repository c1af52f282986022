/**
 * One `check` job: read a module, decompress it, and run the checks that do not depend on the
 * modules loaded before it (checkFront). Runs in a worker or in-process; the result is plain
 * data (the module's bytes stay behind), so it crosses thread boundaries.
 */
import { readFileBytes, readFileScratch } from './files.js';
import { decompressModule, decompressModuleTransient } from '../compress/index.js';
import { parseBtf } from '../btf/btf.js';
import { checkFront, prepareModule, trustedKeys, type FrontTarget, type ModuleFront, type Prepared } from '../check/check.js';
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

/** Reads a whole file into this thread's reused buffer; errors as readFileBytes words them. */
function readTransient(path: string): Uint8Array {
  try {
    return readFileScratch(path);
  } catch {
    return readFileBytes(path);
  }
}

/** Plain data for an error that stops the run. */
export function jobError(e: unknown): CheckJobError {
  const err = e instanceof Error ? e : new Error(String(e));
  return { code: isKmodsealError(e) ? e.code : undefined, message: err.message, stack: err.stack };
}

/** checkFront() of a prepared module, as a job result. */
export function frontResult(ctx: CheckContext, file: string, prepared: Prepared): CheckJobResult {
  try {
    return { front: checkFront(ctx.target, ctx.keys, file, prepared) };
  } catch (e) {
    return { error: jobError(e) };
  }
}

export async function runCheckTask(ctx: CheckContext, task: CheckTask): Promise<CheckJobResult> {
  let prepared: Prepared;
  try {
    // Buffers are reused from module to module: nothing of them outlives checkFront.
    const raw = task.data ?? readTransient(task.path ?? task.file);
    prepared = await prepareModule(task.file, raw, decompressModuleTransient);
  } catch (e) {
    return { error: jobError(e) };
  }
  return frontResult(ctx, task.file, prepared);
}

/**
 * Module reading ahead of the kernel: a module read and decompressed into buffers of its own,
 * kept until the kernel is known.
 */
export async function prefetchTask(task: CheckTask): Promise<{ prepared: Prepared; bytes: number } | { error: CheckJobError }> {
  try {
    const raw = task.data ?? readFileBytes(task.path ?? task.file);
    const prepared = await prepareModule(task.file, raw, decompressModule);
    return { prepared, bytes: raw.length + ('data' in prepared && prepared.data !== raw ? prepared.data.length : 0) };
  } catch (e) {
    return { error: jobError(e) };
  }
}

/**
 * One task list shared by threads: the main thread claims from the front, workers from the
 * back, one index at a time (lo and hi packed in one 64-bit cell, changed by compare-and-swap).
 */
export class Claims {
  constructor(readonly cell: BigInt64Array) {}
  static create(n: number): Claims {
    const cell = new BigInt64Array(new SharedArrayBuffer(8));
    cell[0] = BigInt(n);
    return new Claims(cell);
  }
  private claim(fromBack: boolean): number {
    for (;;) {
      const v = Atomics.load(this.cell, 0);
      const lo = Number(v >> 32n);
      const hi = Number(v & 0xffffffffn);
      if (lo >= hi) return -1;
      const next = fromBack ? (BigInt(lo) << 32n) | BigInt(hi - 1) : (BigInt(lo + 1) << 32n) | BigInt(hi);
      if (Atomics.compareExchange(this.cell, 0, v, next) === v) return fromBack ? hi - 1 : lo;
    }
  }
  front(): number {
    return this.claim(false);
  }
  back(): number {
    return this.claim(true);
  }
}
