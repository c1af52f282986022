/** Worker entry for parallel `inspect`: answers {id, tasks} with {id, results}. */
import { parentPort } from 'node:worker_threads';
import { runInspectTask, type InspectResult, type InspectTask } from './inspect-job.js';

parentPort!.on('message', (m: { id: number; tasks: InspectTask[] }) => {
  void (async () => {
    const results: InspectResult[] = [];
    for (const t of m.tasks) results.push(await runInspectTask(t));
    parentPort!.postMessage({ id: m.id, results });
  })();
});
