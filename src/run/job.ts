/**
 * The one job protocol of the parallel runner. A job kind (`inspect`, `check`, `sign`) is a
 * module under src/run/jobs/ exporting a {@link Job}: `open` turns what every task of a run
 * shares (plain data, sent to each worker once as `workerData`) into this thread's context, and
 * `run` does one task. Tasks and results are plain data, so they cross thread boundaries; an
 * error crosses as a {@link JobError}. The same job runs on the calling thread and in the one
 * worker, src/run/worker.ts.
 */
import { isKmodsealError, KmodsealError, type ErrorCode } from '../bytes/errors.js';

export interface Job<Shared, Context, Task, Result> {
  /** Opens what the tasks share, once per thread (e.g. the kernel's BTF parsed, a signer built). */
  open(shared: Shared): Context;
  /** One task; failures come back inside the result as a {@link JobError}, never thrown. */
  run(ctx: Context, task: Task): Promise<Result>;
}

/** The job kinds, by the module that holds each (src/run/jobs/KIND.ts). */
export type JobKind = 'inspect' | 'check' | 'sign';

/** What each worker receives as `workerData`. */
export interface WorkerData {
  /** Marks a thread the runner started (src/run/worker.ts `isWorkerData`). */
  readonly entry: 'kmodseal-job';
  readonly job: JobKind;
  readonly shared: unknown;
}

/** The one error shape of a job: a KmodsealError's code and message, or E_BUG with a stack. */
export interface JobError {
  readonly code: string;
  readonly message: string;
  /** A stack, for errors that are bugs (not KmodsealError). */
  readonly stack?: string;
}

/** Any thrown value as a {@link JobError}. */
export function flattenError(e: unknown): JobError {
  if (isKmodsealError(e)) return { code: e.code, message: e.message };
  const err = e instanceof Error ? e : new Error(String(e));
  return { code: 'E_BUG', message: err.message, stack: err.stack ?? '' };
}

/** A {@link JobError} thrown again on this thread: the KmodsealError it was, or an Error with its stack. */
export function raiseJobError(error: JobError): never {
  if (error.code !== 'E_BUG') throw new KmodsealError(error.code as ErrorCode, error.message);
  const e = new Error(error.message);
  if (error.stack) e.stack = error.stack;
  throw e;
}

/** The job of a kind, loaded on demand (a worker compiles only the code its job needs). */
export async function loadJob(kind: JobKind): Promise<Job<unknown, unknown, unknown, unknown>> {
  switch (kind) {
    case 'inspect':
      return (await import('./jobs/inspect.js')).inspectJob as Job<unknown, unknown, unknown, unknown>;
    case 'check':
      return (await import('./jobs/check.js')).checkJob as Job<unknown, unknown, unknown, unknown>;
    case 'sign':
      return (await import('./jobs/sign.js')).signJob as Job<unknown, unknown, unknown, unknown>;
  }
}
