/**
 * `check` of many modules on every core. What a module's checks find on its own (reading and
 * decompressing it, its signature, ELF, vermagic, module_layout CRC, BTF) is worked out on
 * worker threads and this one; what depends on the modules loaded before it (names, symbols,
 * CRCs of imports, duplicate exports) then runs here in load order. The verdicts are those of
 * checkModules(), which does the same on one thread.
 */
import {
  checkInOrder,
  frontTarget,
  trustedKeys,
  type CheckOptions,
  type ModuleFront,
  type ModuleVerdict,
} from '../check/check.js';
import type { CheckTarget } from '../check/target.js';
import { defaultJobs, runJob } from './pool.js';
import { raiseJobError, type JobError } from './job.js';
import {
  runCheckTask,
  type CheckContext,
  type CheckJobResult,
  type CheckShared,
  type CheckTask,
} from './jobs/check.js';

export interface CheckManyOptions extends CheckOptions {
  /** Threads (default: all cores, or KMODSEAL_JOBS); 1 checks on this thread only. */
  readonly jobs?: number;
}

/** Below this many modules, starting a worker costs more than it saves. */
const MIN_PARALLEL = 16;

export async function checkMany(
  target: CheckTarget,
  tasks: readonly CheckTask[],
  options: CheckManyOptions = {},
): Promise<ModuleVerdict[]> {
  const extra = options.extraTrusted ?? [];
  // this thread's context: the target's own parsed BTF and keys (an unparsable --trust fails here, first)
  const local: CheckContext = { target: frontTarget(target), keys: trustedKeys(target, extra) };
  const fronts: ModuleFront[] = new Array(tasks.length);
  let failed: JobError | undefined;
  const take = (r: CheckJobResult, i: number): void => {
    if ('error' in r)
      failed ??= r.error; // the first in input order, as reading them all up front would have
    else fronts[i] = r.front;
  };
  const workers = options.jobs ?? defaultJobs();
  if (workers > 1 && tasks.length >= MIN_PARALLEL) {
    const { btf, ...rest } = local.target;
    const shared: CheckShared = {
      target: rest,
      btf: btf ? { data: btf.data, file: btf.file } : undefined,
      trusted: target.trusted.map((c) => ({ der: c.der, kernelName: c.kernelName })),
      extraTrusted: extra,
    };
    // bytes already in memory travel to a worker by copy: never a whole enclosing buffer
    const own = tasks.map((t) =>
      t.data && t.data.byteLength !== t.data.buffer.byteLength ? { ...t, data: t.data.slice() } : t,
    );
    await runJob<CheckTask, CheckJobResult>(
      'check',
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
  if (failed) raiseJobError(failed);
  return checkInOrder(target, fronts, options.order ?? 'given');
}
