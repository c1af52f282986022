/**
 * `kmodseal inspect [FILE|DIR|NAME...]`: modinfo, byte for byte, plus --json.
 */
import fs from 'node:fs';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { absolutePath, hasModuleExtension, runningRelease, walkModules } from '../../io/files.js';
import { moduleDirectory, type ModuleDirectory } from '../../kernel/module-directory.js';
import type { InspectResult, InspectTask } from '../../run/jobs/inspect.js';
import { nativeModinfoTexts } from '../../run/modinfo-native.js';
import { defaultJobs, runJob } from '../../run/pool.js';
import { renderBuiltin, type ModinfoTextOptions } from '../../report/modinfo-text.js';
import { utf8 } from '../../report/inspect-json.js';
import { isKmodsealError } from '../../bytes/errors.js';

export interface InspectOptions {
  field?: string;
  nul?: boolean;
  modname?: boolean;
  setVersion?: string;
  basedir?: string;
  json?: boolean;
  jobs?: number;
}

/** Below this many files, threads cost more than they save. */
const PARALLEL_THRESHOLD = 16;
/** Modules handed to the native renderer at a time (bounds its memory; output streams between). */
const NATIVE_WINDOW = 4096;

/** The TypeScript path (and the PKI library under it) is loaded only when a module needs it. */
async function runTask(task: InspectTask): Promise<InspectResult> {
  const { runInspectTask } = await import('../../run/jobs/inspect.js');
  return runInspectTask(task);
}

type Job =
  | { kind: 'task'; task: InspectTask }
  | { kind: 'builtin'; name: string; text: string; json: object }
  | { kind: 'error'; code: ExitCode; message: string };

export async function inspectCommand(targets: string[], opts: InspectOptions, io: Io): Promise<ExitCode> {
  const mode = opts.json ? 'json' : 'text';
  const text: ModinfoTextOptions = { field: opts.field, nul: Boolean(opts.nul) };
  let dirCache: ModuleDirectory | undefined;
  const modDir = (): ModuleDirectory => {
    if (dirCache) return dirCache;
    const release = opts.setVersion ?? runningRelease();
    return (dirCache = moduleDirectory(release, opts.basedir ?? ''));
  };

  if (targets.length === 0) {
    const dir = modDir();
    if (!dir.exists()) {
      io.stderr(
        `kmodseal: ERROR: no module given, and ${dir.dir} does not exist on this machine.\n` +
          `kmodseal: give module files or directories (kmodseal inspect FILE.ko...), or a module tree with -b BASEDIR -k RELEASE.\n`,
      );
      return EXIT.NOT_FOUND;
    }
    targets = [dir.dir];
  }

  const jobs: Job[] = [];
  for (const t of targets) {
    let st: fs.Stats | undefined;
    try {
      st = opts.modname ? undefined : fs.statSync(t);
    } catch {
      st = undefined;
    }
    if (st?.isFile()) {
      jobs.push({ kind: 'task', task: { path: t, display: absolutePath(t), mode, text } });
      continue;
    }
    if (st?.isDirectory()) {
      for (const p of walkModules(t))
        jobs.push({ kind: 'task', task: { path: p, display: absolutePath(p), mode, text } });
      continue;
    }
    if (st && (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice() || st.isSocket())) {
      // modinfo takes these for module names ("Module /dev/zero not found."); reading one could
      // wait forever (a FIFO) or never end (/dev/zero)
      jobs.push({ kind: 'error', code: EXIT.BAD_INPUT, message: `${t}: cannot read: not a regular file` });
      continue;
    }
    if (!opts.modname && hasModuleExtension(t)) {
      jobs.push({ kind: 'error', code: EXIT.NOT_FOUND, message: `Module file ${t} not found.` });
      continue;
    }
    let found;
    try {
      const dir = modDir();
      if (opts.modname) {
        const one = dir.lookupName(t);
        found = one ? [one] : [];
      } else found = dir.lookup(t);
    } catch (e) {
      if (!isKmodsealError(e)) throw e;
      jobs.push({ kind: 'error', code: EXIT.NOT_FOUND, message: e.message });
      continue;
    }
    if (found.length === 0) {
      jobs.push({
        kind: 'error',
        code: EXIT.NOT_FOUND,
        message: opts.modname ? `Module name ${t} not found.` : `Module ${t} not found.`,
      });
      continue;
    }
    for (const m of found) {
      if (m.kind === 'file') jobs.push({ kind: 'task', task: { path: m.path, display: m.path, mode, text } });
      else
        jobs.push({
          kind: 'builtin',
          name: m.name,
          text: renderBuiltin(m.name, m.modinfo, text),
          json: {
            filename: '(builtin)',
            name: m.name,
            builtin: true,
            modinfo: m.modinfo.map((e) => [utf8(e.key), utf8(e.value)]),
            signature: null,
          },
        });
    }
  }

  let exit: ExitCode = EXIT.OK;
  const jsonOut: object[] = [];
  const emit = (job: Job, r: InspectResult | undefined): void => {
    if (job.kind === 'error') {
      io.stderr(`kmodseal: ERROR: ${job.message}\n`);
      if (exit === EXIT.OK) exit = job.code;
      return;
    }
    if (job.kind === 'builtin') {
      if (mode === 'json') jsonOut.push(job.json);
      else io.stdout(job.text);
      return;
    }
    if (!r) return;
    if (r.error) {
      io.stderr(`kmodseal: ERROR: ${r.error.message}\n`);
      if (r.error.stack) {
        io.stderr(r.error.stack + '\n');
        exit = EXIT.BUG;
      } else if (exit === EXIT.OK) exit = EXIT.BAD_INPUT;
      if (mode === 'json')
        jsonOut.push({ filename: job.task.display, error: { code: r.error.code, message: r.error.message } });
      return;
    }
    if (r.text !== undefined) io.stdout(r.text);
    if (r.json)
      jsonOut.push(r.warning ? { ...r.json, error: { code: r.warning.code, message: r.warning.message } } : r.json);
    if (r.warning) {
      io.stderr(`kmodseal: ERROR: ${r.warning.message}\n`);
      if (exit === EXIT.OK) exit = EXIT.BAD_INPUT;
    }
  };

  const tasks = jobs.flatMap((j) => (j.kind === 'task' ? [j.task] : []));
  const workers = opts.jobs ?? defaultJobs();
  // Threads pay off on compressed modules (decompression dominates); a plain .ko costs less to
  // read than a message round trip, so those stay on this thread.
  const compressed = tasks.filter((t) => !t.path.endsWith('.ko')).length;
  if (tasks.length >= PARALLEL_THRESHOLD && workers > 1 && compressed * 4 >= tasks.length) {
    let ji = 0;
    // Non-task jobs are emitted in place, between the ordered task results.
    const drainUntilTask = (): void => {
      while (ji < jobs.length && jobs[ji]!.kind !== 'task') emit(jobs[ji++]!, undefined);
    };
    drainUntilTask();
    await runJob<InspectTask, InspectResult>(
      'inspect',
      tasks,
      workers,
      (r) => {
        emit(jobs[ji++]!, r);
        drainUntilTask();
      },
      async (batch) => {
        const out: InspectResult[] = [];
        for (const t of batch) out.push(await runTask(t));
        return out;
      },
    );
  } else if (mode === 'text' && opts.field === undefined && !opts.nul && tasks.some((t) => t.path.endsWith('.ko'))) {
    // modinfo's plain text for plain .ko: the native renderer on all cores, window by window;
    // what it hands back (and everything else) goes through the TypeScript path, in order.
    for (let w = 0; w < jobs.length; w += NATIVE_WINDOW) {
      const window = jobs.slice(w, w + NATIVE_WINDOW);
      const ko = window.flatMap((j) => (j.kind === 'task' && j.task.path.endsWith('.ko') ? [j.task] : []));
      const native =
        ko.length > 0
          ? nativeModinfoTexts(
              ko.map((t) => t.path),
              ko.map((t) => t.display),
              workers,
            )
          : null;
      // consecutive native texts are adjacent in `out`: written as one run
      let k = 0,
        from = 0,
        at = 0;
      for (const job of window) {
        const len = native && job.kind === 'task' && job.task === ko[k] ? native.lens[k++]! : -1;
        if (len >= 0) {
          at += len;
          continue;
        }
        if (at > from) io.stdout(native!.out.subarray(from, at));
        from = at;
        emit(job, job.kind === 'task' ? await runTask(job.task) : undefined);
      }
      if (at > from) io.stdout(native!.out.subarray(from, at));
    }
  } else {
    for (const job of jobs) emit(job, job.kind === 'task' ? await runTask(job.task) : undefined);
  }
  if (mode === 'json') io.stdout(Buffer.from(JSON.stringify(jsonOut, null, 2) + '\n', 'utf8'));
  return exit;
}
