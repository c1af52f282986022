/** Worker entry for parallel signing: answers {id, tasks: {spec, task}[]} with {id, results}. */
import { parentPort } from 'node:worker_threads';
import { runSignTask, type SignerSpec, type SignResult, type SignTask } from './sign-job.js';

parentPort!.on('message', (m: { id: number; tasks: { spec: SignerSpec; task: SignTask }[] }) => {
  void (async () => {
    const results: SignResult[] = [];
    for (const t of m.tasks) results.push(await runSignTask(t.spec, t.task));
    parentPort!.postMessage({ id: m.id, results });
  })();
});
