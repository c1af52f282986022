/**
 * The one parallel runner: the jobs default, a small worker_threads pool (tasks go to N workers
 * in batches, results come back in task order; a few dozen lines, the ecosystem trial found a
 * hand-rolled pool as fast as piscina), and a bounded in-thread map for I/O-bound work.
 */
import { isMainThread, Worker, workerData as threadData } from 'node:worker_threads';
import os from 'node:os';
import { jobsFromEnv } from '../io/env.js';
import type { JobKind, WorkerData } from './job.js';
import { isWorkerData, serveJobs } from './worker.js';

/** The one jobs default: KMODSEAL_JOBS, else every core. `inspect`, `check`, `seal`/`sign`, `detach` and `attach` use it. */
export function defaultJobs(): number {
  return jobsFromEnv() ?? Math.max(1, os.availableParallelism());
}

/**
 * In-thread concurrency, for work that waits on I/O rather than the CPU (`detach`, `attach`):
 * `fn` over `items` with at most `limit` in flight; results in input order. The first
 * rejection wins after all settle.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failure: { e: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (e) {
        failure ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.e;
  return out;
}

/**
 * Runs the tasks of one job kind (src/run/job.ts) on `workers` threads of the one worker
 * (src/run/worker.ts), calling `onResult` strictly in task order. Each thread starts on this
 * very module (`import.meta.url`: src/run/pool.ts under tsx, dist/src/run/pool.js from tsc, the
 * chunk that holds it in the bundle), which serves the job when it finds itself on one (below).
 * `shared` reaches each worker once; `local`, when given, lets this thread take batches too.
 */
export async function runJob<T, R>(
  job: JobKind,
  tasks: readonly T[],
  workers: number,
  onResult: (r: R, index: number) => void,
  local?: (tasks: T[]) => Promise<R[]>,
  shared?: unknown,
): Promise<void> {
  const data: WorkerData = { entry: 'kmodseal-job', job, shared };
  await runOrdered<T, R>(new URL(import.meta.url), tasks, workers, onResult, local, data);
}

/**
 * Runs `tasks` on `workers` threads of `workerUrl` (a module that answers each
 * `{id, tasks}` message with `{id, results}`), calling `onResult` strictly in task order.
 * Tasks travel in batches so that message passing does not dominate small jobs.
 */
async function runOrdered<T, R>(
  workerUrl: URL,
  tasks: readonly T[],
  workers: number,
  onResult: (r: R, index: number) => void,
  /** When given, the calling thread takes batches too (it starts at once, while workers boot). */
  local?: (tasks: T[]) => Promise<R[]>,
  /** Given to every worker as `workerData` (e.g. what all its tasks share, sent once). */
  workerData?: unknown,
): Promise<void> {
  const n = Math.max(local ? 0 : 1, Math.min(workers - (local ? 1 : 0), tasks.length));
  const batch = Math.max(1, Math.min(256, Math.ceil(tasks.length / (n * 8))));
  const pending = new Map<number, R[]>();
  let nextOut = 0; // batch id
  let nextIn = 0; // task index
  let emitted = 0;
  const flush = (): void => {
    while (pending.has(nextOut)) {
      const rs = pending.get(nextOut)!;
      pending.delete(nextOut++);
      for (const r of rs) onResult(r, emitted++);
    }
  };
  // Batches are numbered in task order; the local thread takes small ones so that it yields
  // often enough to hand workers their next batch without delay.
  let nextId = 0;
  // Guided sizes: a batch is at most a quarter of the remaining work per thread, so the
  // threads run out of work together instead of one waiting on another's last big batch.
  const threads = n + (local ? 1 : 0);
  const take = (cap = batch): { id: number; slice: T[] } | undefined => {
    if (nextIn >= tasks.length) return undefined;
    const size = Math.max(1, Math.min(cap, Math.ceil((tasks.length - nextIn) / (threads * 4))));
    const slice = tasks.slice(nextIn, nextIn + size);
    nextIn += slice.length;
    return { id: nextId++, slice };
  };
  const localBatch = Math.max(1, Math.ceil(batch / 16));
  const localLoop = async (): Promise<void> => {
    if (!local) return;
    for (let b = take(localBatch); b; b = take(localBatch)) {
      pending.set(b.id, await local(b.slice));
      flush();
      // let worker messages in between batches
      await new Promise((r) => setImmediate(r));
    }
  };
  await Promise.all([
    localLoop(),
    ...Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve, reject) => {
          const w = startWorker(workerUrl, workerData);
          // Two batches in flight per worker: it never waits for this thread to hand it work.
          let inFlight = 0;
          const feed = (): void => {
            const b = take();
            if (!b) {
              if (inFlight === 0) void w.terminate().then(() => resolve());
              return;
            }
            inFlight++;
            w.postMessage({ id: b.id, tasks: b.slice });
          };
          w.on('message', (m: { id: number; results: R[] }) => {
            inFlight--;
            pending.set(m.id, m.results);
            flush();
            feed();
          });
          w.on('error', reject);
          feed();
          feed();
        }),
    ),
  ]);
  flush();
}

/** Starts a worker; TypeScript sources (tests, `npm run kmodseal`) get tsx registered first. */
function startWorker(url: URL, workerData?: unknown): Worker {
  const data = workerData === undefined ? {} : { workerData };
  if (!url.pathname.endsWith('.ts')) return new Worker(url, data);
  const boot = `import('tsx/esm/api').then((m) => m.register()).then(() => import(${JSON.stringify(url.href)}))`;
  return new Worker(boot, { eval: true, ...data });
}

// This module is the workers' entry: on a thread runJob() started, serve its job.
if (!isMainThread && isWorkerData(threadData)) void serveJobs(threadData);
