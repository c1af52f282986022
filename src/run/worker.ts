/**
 * The one worker entry of the parallel runner (src/run/pool.ts): `workerData` names the job and
 * carries what its tasks share; the job's context is opened once, and each {id, tasks} message
 * is answered with {id, results}, tasks run one after another.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadJob, type WorkerData } from './job.js';

const data = workerData as WorkerData;
const job = await loadJob(data.job);
const ctx = job.open(data.shared);
parentPort!.on('message', (m: { id: number; tasks: unknown[] }) => {
  void (async () => {
    const results: unknown[] = [];
    for (const t of m.tasks) results.push(await job.run(ctx, t));
    parentPort!.postMessage({ id: m.id, results });
  })();
});
