/**
 * The one worker of the parallel runner (src/run/pool.ts): `workerData` names the job and
 * carries what its tasks share; the job's context is opened once, and each {id, tasks} message
 * is answered with {id, results}, tasks run one after another.
 *
 * Its entry is src/run/pool.ts itself: `runJob()` starts each worker on the module it is
 * (`import.meta.url`, the same file in every layout: src/run/pool.ts under tsx, dist/src/run/pool.js
 * from tsc, the bundle's chunk that holds it), and that module, loaded on a thread whose
 * `workerData` is a {@link WorkerData}, calls {@link serveJobs}. No path is derived from another.
 */
import { parentPort } from 'node:worker_threads';
import { loadJob, type WorkerData } from './job.js';

/** Whether `data` (a thread's `workerData`) is what `runJob()` gives its workers. */
export function isWorkerData(data: unknown): data is WorkerData {
  return typeof data === 'object' && data !== null && (data as Partial<WorkerData>).entry === 'kmodseal-job';
}

/** Serves the job's tasks on this worker thread until the pool terminates it. */
export async function serveJobs(data: WorkerData): Promise<void> {
  const job = await loadJob(data.job);
  const ctx = job.open(data.shared);
  parentPort!.on('message', (m: { id: number; tasks: unknown[] }) => {
    void (async () => {
      const results: unknown[] = [];
      for (const t of m.tasks) results.push(await job.run(ctx, t));
      parentPort!.postMessage({ id: m.id, results });
    })();
  });
}
