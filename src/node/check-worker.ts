/** Worker entry for parallel `check`: opens the shared context once, answers {id, tasks} with {id, results}. */
import { parentPort, workerData } from 'node:worker_threads';
import { openCheckContext, runCheckTask, type CheckJobResult, type CheckShared, type CheckTask } from './check-job.js';

const ctx = openCheckContext(workerData as CheckShared);
parentPort!.on('message', (m: { id: number; tasks: CheckTask[] }) => {
  void (async () => {
    const results: CheckJobResult[] = [];
    for (const t of m.tasks) results.push(await runCheckTask(ctx, t));
    parentPort!.postMessage({ id: m.id, results });
  })();
});
