/**
 * `check` of many modules on every core. What a module's checks find on its own (reading and
 * decompressing it, its signature, ELF, vermagic, module_layout CRC, BTF) is worked out on
 * worker threads and this one; what depends on the modules loaded before it (names, symbols,
 * CRCs of imports, duplicate exports) then runs here in load order. The verdicts are those of
 * checkModules(), which does the same on one thread.
 */
import { KmodsealError, type ErrorCode } from '../bytes/errors.js';
import { checkInOrder, frontTarget, trustedKeys, type CheckOptions, type ModuleFront, type ModuleVerdict } from '../check/check.js';
import type { CheckTarget } from '../check/target.js';
import type { Worker } from 'node:worker_threads';
import { defaultConcurrency, runOrdered, siblingUrl, startWorker } from './pool.js';
import { Claims, runCheckTask, type CheckContext, type CheckJobError, type CheckJobResult, type CheckShared, type CheckTask } from './check-job.js';
import type { ClaimWorkerData } from './check-worker.js';

export interface CheckManyOptions extends CheckOptions {
  /** Threads (default: all cores, or KMODSEAL_JOBS); 1 checks on this thread only. */
  readonly jobs?: number;
}

/** Below this many modules, starting a worker costs more than it saves. */
const MIN_PARALLEL = 16;

export async function checkMany(target: CheckTarget, tasks: readonly CheckTask[], options: CheckManyOptions = {}): Promise<ModuleVerdict[]> {
  const extra = options.extraTrusted ?? [];
  // this thread's context: the target's own parsed BTF and keys (an unparsable --trust fails here, first)
  const local: CheckContext = { target: frontTarget(target), keys: trustedKeys(target, extra) };
  const fronts: ModuleFront[] = new Array(tasks.length);
  let failed: CheckJobError | undefined;
  const take = (r: CheckJobResult, i: number): void => {
    if ('error' in r) failed ??= r.error; // the first in input order, as reading them all up front would have
    else fronts[i] = r.front;
  };
  const workers = options.jobs ?? defaultConcurrency();
  if (workers > 1 && tasks.length >= MIN_PARALLEL) {
    const shared = sharedContext(target, local, extra);
    // bytes already in memory travel to a worker by copy: never a whole enclosing buffer
    const own = tasks.map((t) => (t.data && t.data.byteLength !== t.data.buffer.byteLength ? { ...t, data: t.data.slice() } : t));
    await runOrdered<CheckTask, CheckJobResult>(
      siblingUrl(import.meta.url, 'check-worker'),
      own,
      workers,
      take,
      async (batch) => {
        const out: CheckJobResult[] = [];
        for (const t of batch) out.push(await runCheckTask(local, t));
        return out;
      },
      shared,
    );
  } else {
    for (let i = 0; i < tasks.length; i++) take(await runCheckTask(local, tasks[i]!), i);
  }
  if (failed) throw rebuild(failed);
  return checkInOrder(target, fronts, options.order ?? 'given');
}

function rebuild(failed: CheckJobError): Error {
  if (failed.code !== undefined) return new KmodsealError(failed.code as ErrorCode, failed.message);
  const e = new Error(failed.message);
  if (failed.stack !== undefined) e.stack = failed.stack;
  return e;
}

/** What the workers need of the target, as plain data. */
function sharedContext(target: CheckTarget, local: CheckContext, extra: readonly Uint8Array[]): CheckShared {
  const { btf, ...rest } = local.target;
  return {
    target: rest,
    btf: btf ? { data: btf.data, file: btf.file } : undefined,
    trusted: target.trusted.map((c) => ({ der: c.der, kernelName: c.kernelName })),
    extraTrusted: extra,
  };
}

/** At most this many bytes of modules are read ahead of the kernel (over all workers). */
const PREFETCH_BYTES = 256 << 20;

/** A check started before its kernel is known: workers are reading modules meanwhile. */
export interface EarlyCheck {
  readonly tasks: readonly CheckTask[];
  /** The verdicts, as checkMany() gives them, once the kernel is known. */
  finish(target: CheckTarget, options?: CheckOptions): Promise<ModuleVerdict[]>;
  /** Stops the workers (the kernel could not be read, or other modules are to be checked). */
  cancel(): Promise<void>;
}

/**
 * Starts checking module files before the kernel is read: worker threads read and parse
 * modules from the end of the list (at most half of it, and {@link PREFETCH_BYTES}) while this
 * thread reads the kernel; once it is known, this thread takes modules from the front and the
 * workers check theirs and take more from the back. Undefined when that would not pay (one
 * core, few modules) or a module is not a file.
 */
export function startCheck(tasks: readonly CheckTask[], options: { jobs?: number } = {}): EarlyCheck | undefined {
  const n = (options.jobs ?? defaultConcurrency()) - 1; // this thread is one of them
  if (n < 1 || tasks.length < MIN_PARALLEL || tasks.some((t) => t.data !== undefined || t.path === undefined)) return undefined;
  const claims = Claims.create(tasks.length);
  const data: ClaimWorkerData = {
    tasks: tasks.map((t) => ({ file: t.file, path: t.path! })),
    claims: claims.cell.buffer as SharedArrayBuffer,
    prefetch: { count: Math.floor(tasks.length / 2 / n), bytes: Math.floor(PREFETCH_BYTES / n) },
  };
  const results: (CheckJobResult | undefined)[] = new Array(tasks.length);
  const workers: Worker[] = [];
  const done: Promise<void>[] = [];
  for (let k = 0; k < n; k++) {
    const w = startWorker(siblingUrl(import.meta.url, 'check-worker'), data);
    workers.push(w);
    const d = new Promise<void>((resolve, reject) => {
      w.on('message', (m: { results?: [number, CheckJobResult][]; done?: boolean }) => {
        for (const [i, r] of m.results ?? []) results[i] = r;
        if (m.done) resolve();
      });
      w.on('error', reject);
      w.on('exit', (code) => reject(new Error(`check worker exited early (${code})`)));
    });
    d.catch(() => undefined); // observed in finish(); a cancelled run ignores it
    done.push(d);
  }
  const stop = async (): Promise<void> => {
    await Promise.all(workers.map((w) => w.terminate()));
  };
  return {
    tasks,
    cancel: stop,
    async finish(target, opts = {}) {
      try {
        const extra = opts.extraTrusted ?? [];
        const local: CheckContext = { target: frontTarget(target), keys: trustedKeys(target, extra) };
        const shared = sharedContext(target, local, extra);
        for (const w of workers) w.postMessage({ init: shared });
        let k = 0;
        for (let i = claims.front(); i >= 0; i = claims.front()) {
          results[i] = await runCheckTask(local, tasks[i]!);
          if (++k % 16 === 0) await new Promise((r) => setImmediate(r)); // take workers' results in
        }
        await Promise.all(done);
      } finally {
        await stop();
      }
      const fronts: ModuleFront[] = new Array(tasks.length);
      for (let i = 0; i < tasks.length; i++) {
        const r = results[i];
        if (!r) throw new Error(`check: no result for ${tasks[i]!.file}`);
        if ('error' in r) throw rebuild(r.error); // the first in input order, as reading them all up front would have
        fronts[i] = r.front;
      }
      return checkInOrder(target, fronts, opts.order ?? 'given');
    },
  };
}
