/**
 * Signs many modules on every core, with a progress bar on a terminal. Used by `sign` and
 * `seal`. PKCS#11 keys sign on this thread only (one HSM session).
 */
import cliProgress from 'cli-progress';
import { defaultJobs, runJob } from './pool.js';
import { runSignTask, type SignerSpec, type SignResult, type SignTask } from './jobs/sign.js';

export async function signMany(
  spec: SignerSpec,
  tasks: readonly SignTask[],
  options: { jobs?: number; progress?: boolean; onResult?: (r: SignResult) => void } = {},
): Promise<SignResult[]> {
  const results: SignResult[] = [];
  const bar =
    options.progress && tasks.length > 1
      ? new cliProgress.SingleBar(
          { format: 'signing [{bar}] {value}/{total} {eta_formatted} left', hideCursor: true, stream: process.stderr },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  bar?.start(tasks.length, 0);
  const take = (r: SignResult): void => {
    results.push(r);
    options.onResult?.(r);
    bar?.increment();
  };
  const workers = spec.key.startsWith('pkcs11:') ? 1 : (options.jobs ?? defaultJobs());
  try {
    if (workers > 1 && tasks.length >= 8) {
      // the spec (key, certificate, chain) goes to each worker once, not with every task
      await runJob<SignTask, SignResult>(
        'sign',
        tasks,
        workers,
        take,
        async (batch) => {
          const out: SignResult[] = [];
          for (const t of batch) out.push(await runSignTask(spec, t));
          return out;
        },
        spec,
      );
    } else {
      for (const t of tasks) take(await runSignTask(spec, t));
    }
  } finally {
    bar?.stop();
  }
  return results;
}
