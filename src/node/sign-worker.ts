/**
 * Worker entry for parallel signing: `workerData.spec` is the signer (sent once), each
 * {id, tasks} message is answered with {id, results}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runSignTask, type SignerSpec, type SignResult, type SignTask } from './sign-job.js';

const { spec } = workerData as { spec: SignerSpec };

parentPort!.on('message', (m: { id: number; tasks: SignTask[] }) => {
  void (async () => {
    const results: SignResult[] = [];
    for (const t of m.tasks) results.push(await runSignTask(spec, t));
    parentPort!.postMessage({ id: m.id, results });
  })();
});
