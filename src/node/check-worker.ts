/**
 * Worker entry for parallel `check`. Two ways to be driven:
 * - pool (runOrdered): `workerData` is the CheckShared context; answers {id, tasks} with {id, results};
 * - claims (startCheck): `workerData` holds the task list and a shared claim cell. Until the
 *   kernel is known ({init} message) it reads modules from the back of the list and keeps them
 *   (bounded); then it checks those and claims more until the list is used up, sending
 *   {results: [index, result][]} and finally {done: true}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  Claims, frontResult, openCheckContext, prefetchTask, runCheckTask,
  type CheckContext, type CheckJobError, type CheckJobResult, type CheckShared, type CheckTask,
} from './check-job.js';
import type { Prepared } from '../check/check.js';

/** What startCheck gives each worker. */
export interface ClaimWorkerData {
  readonly tasks: readonly CheckTask[];
  readonly claims: SharedArrayBuffer;
  /** How much to read ahead of the kernel: modules and bytes kept at most. */
  readonly prefetch: { readonly count: number; readonly bytes: number };
}

function poolMode(shared: CheckShared): void {
  const ctx = openCheckContext(shared);
  parentPort!.on('message', (m: { id: number; tasks: CheckTask[] }) => {
    void (async () => {
      const results: CheckJobResult[] = [];
      for (const t of m.tasks) results.push(await runCheckTask(ctx, t));
      parentPort!.postMessage({ id: m.id, results });
    })();
  });
}

function claimMode(data: ClaimWorkerData): void {
  const claims = new Claims(new BigInt64Array(data.claims));
  let ctx: CheckContext | undefined;
  let wake: (() => void) | undefined;
  parentPort!.on('message', (m: { init?: CheckShared }) => {
    if (!m.init) return;
    ctx = openCheckContext(m.init);
    wake?.();
  });
  const out: [number, CheckJobResult][] = [];
  const send = (all: boolean): void => {
    if (out.length >= 32 || (all && out.length)) parentPort!.postMessage({ results: out.splice(0) });
  };
  void (async () => {
    const held: { i: number; r: { prepared: Prepared } | { error: CheckJobError } }[] = [];
    let bytes = 0;
    while (!ctx && held.length < data.prefetch.count && bytes < data.prefetch.bytes) {
      const i = claims.back();
      if (i < 0) break;
      const r = await prefetchTask(data.tasks[i]!);
      if ('bytes' in r) bytes += r.bytes;
      held.push({ i, r });
      await new Promise((resolve) => setImmediate(resolve)); // let {init} in
    }
    if (!ctx) await new Promise<void>((resolve) => (wake = resolve));
    const c = ctx!;
    for (const h of held.splice(0)) {
      out.push([h.i, 'error' in h.r ? { error: h.r.error } : frontResult(c, data.tasks[h.i]!.file, h.r.prepared)]);
      send(false);
    }
    for (let i = claims.back(); i >= 0; i = claims.back()) {
      out.push([i, await runCheckTask(c, data.tasks[i]!)]);
      send(false);
    }
    send(true);
    parentPort!.postMessage({ done: true });
  })();
}

if (workerData && typeof workerData === 'object' && 'claims' in workerData) claimMode(workerData as ClaimWorkerData);
else poolMode(workerData as CheckShared);
