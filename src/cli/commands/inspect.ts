/**
 * `kmodseal inspect [FILE|DIR|NAME...]`: modinfo, byte for byte, plus --json.
 */
import fs from 'node:fs';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { absolutePath, hasModuleExtension, runningRelease, walkModules } from '../../io/files.js';
import { moduleDirectory, type ModuleDirectory, type ModuleLookup } from '../../kernel/module-directory.js';
import type { InspectResult, InspectTask } from '../../run/jobs/inspect.js';
import { nativeModinfoTexts } from '../../run/modinfo-native.js';
import { defaultJobs, runJob } from '../../run/pool.js';
import { renderBuiltin, type ModinfoTextOptions } from '../../report/modinfo-text.js';
import { builtinToJson, renderInspectJson } from '../../report/inspect-json.js';
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

type Mode = 'json' | 'text';

/** The module directory names are looked up in (BASEDIR/lib/modules/RELEASE), opened on first use. */
function lazyModuleDirectory(opts: InspectOptions): () => ModuleDirectory {
  let dirCache: ModuleDirectory | undefined;
  return () => (dirCache ??= moduleDirectory(opts.setVersion ?? runningRelease(), opts.basedir ?? ''));
}

export async function inspectCommand(targets: string[], opts: InspectOptions, io: Io): Promise<ExitCode> {
  const mode: Mode = opts.json ? 'json' : 'text';
  const text: ModinfoTextOptions = { field: opts.field, nul: Boolean(opts.nul) };
  const modDir = lazyModuleDirectory(opts);
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
  const jobs = targets.flatMap((t) => targetJobs(t, opts, modDir, mode, text));
  const out = new Output(io, mode);
  const tasks = jobs.flatMap((j) => (j.kind === 'task' ? [j.task] : []));
  const workers = opts.jobs ?? defaultJobs();
  // Threads pay off on compressed modules (decompression dominates); a plain .ko costs less to
  // read than a message round trip, so those stay on this thread.
  const compressed = tasks.filter((t) => !t.path.endsWith('.ko')).length;
  if (tasks.length >= PARALLEL_THRESHOLD && workers > 1 && compressed * 4 >= tasks.length)
    await runOnWorkers(jobs, tasks, workers, out);
  else if (mode === 'text' && opts.field === undefined && !opts.nul && tasks.some((t) => t.path.endsWith('.ko')))
    await runNative(jobs, workers, out);
  else for (const job of jobs) out.emit(job, job.kind === 'task' ? await runTask(job.task) : undefined);
  out.end();
  return out.exit;
}

/**
 * What one command-line target stands for: a file, the modules below a directory, or (looked up
 * in the module directory like modinfo) a module name or alias; what cannot be read is an error
 * job, reported in its place.
 */
function targetJobs(
  t: string,
  opts: InspectOptions,
  modDir: () => ModuleDirectory,
  mode: Mode,
  text: ModinfoTextOptions,
): Job[] {
  let st: fs.Stats | undefined;
  try {
    st = opts.modname ? undefined : fs.statSync(t);
  } catch {
    st = undefined;
  }
  const task = (path: string, display: string): Job => ({ kind: 'task', task: { path, display, mode, text } });
  if (st?.isFile()) return [task(t, absolutePath(t))];
  if (st?.isDirectory()) return walkModules(t).map((p) => task(p, absolutePath(p)));
  if (st && (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice() || st.isSocket()))
    // modinfo takes these for module names ("Module /dev/zero not found."); reading one could
    // wait forever (a FIFO) or never end (/dev/zero)
    return [{ kind: 'error', code: EXIT.BAD_INPUT, message: `${t}: cannot read: not a regular file` }];
  if (!opts.modname && hasModuleExtension(t))
    return [{ kind: 'error', code: EXIT.NOT_FOUND, message: `Module file ${t} not found.` }];
  let found: ModuleLookup[];
  try {
    const dir = modDir();
    if (opts.modname) {
      const one = dir.lookupName(t);
      found = one ? [one] : [];
    } else found = dir.lookup(t);
  } catch (e) {
    if (!isKmodsealError(e)) throw e;
    return [{ kind: 'error', code: EXIT.NOT_FOUND, message: e.message }];
  }
  if (found.length === 0)
    return [
      {
        kind: 'error',
        code: EXIT.NOT_FOUND,
        message: opts.modname ? `Module name ${t} not found.` : `Module ${t} not found.`,
      },
    ];
  return found.map((m) =>
    m.kind === 'file'
      ? task(m.path, m.path)
      : {
          kind: 'builtin',
          name: m.name,
          text: renderBuiltin(m.name, m.modinfo, text),
          json: builtinToJson(m.name, m.modinfo),
        },
  );
}

/** Writes each job's result as it comes, in order: text at once, JSON objects at the end; keeps the exit code. */
class Output {
  exit: ExitCode = EXIT.OK;
  private readonly json: object[] = [];
  constructor(
    private readonly io: Io,
    private readonly mode: Mode,
  ) {}

  emit(job: Job, r: InspectResult | undefined): void {
    const io = this.io;
    if (job.kind === 'error') {
      io.stderr(`kmodseal: ERROR: ${job.message}\n`);
      if (this.exit === EXIT.OK) this.exit = job.code;
      return;
    }
    if (job.kind === 'builtin') {
      if (this.mode === 'json') this.json.push(job.json);
      else io.stdout(job.text);
      return;
    }
    if (!r) return;
    if (r.error) {
      io.stderr(`kmodseal: ERROR: ${r.error.message}\n`);
      if (r.error.stack) {
        io.stderr(r.error.stack + '\n');
        this.exit = EXIT.BUG;
      } else if (this.exit === EXIT.OK) this.exit = EXIT.BAD_INPUT;
      if (this.mode === 'json')
        this.json.push({ filename: job.task.display, error: { code: r.error.code, message: r.error.message } });
      return;
    }
    if (r.text !== undefined) io.stdout(r.text);
    if (r.json)
      this.json.push(r.warning ? { ...r.json, error: { code: r.warning.code, message: r.warning.message } } : r.json);
    if (r.warning) {
      io.stderr(`kmodseal: ERROR: ${r.warning.message}\n`);
      if (this.exit === EXIT.OK) this.exit = EXIT.BAD_INPUT;
    }
  }

  /** Bytes already rendered (the native renderer's). */
  write(bytes: Uint8Array): void {
    this.io.stdout(bytes);
  }

  end(): void {
    if (this.mode === 'json') this.io.stdout(renderInspectJson(this.json));
  }
}

/** Tasks on worker threads (this thread takes batches too); non-task jobs are emitted in place, between the ordered results. */
async function runOnWorkers(jobs: readonly Job[], tasks: InspectTask[], workers: number, out: Output): Promise<void> {
  let ji = 0;
  const drainUntilTask = (): void => {
    while (ji < jobs.length && jobs[ji]!.kind !== 'task') out.emit(jobs[ji++]!, undefined);
  };
  drainUntilTask();
  await runJob<InspectTask, InspectResult>(
    'inspect',
    tasks,
    workers,
    (r) => {
      out.emit(jobs[ji++]!, r);
      drainUntilTask();
    },
    async (batch) => {
      const results: InspectResult[] = [];
      for (const t of batch) results.push(await runTask(t));
      return results;
    },
  );
}

/**
 * modinfo's plain text for plain .ko: the native renderer on all cores, window by window; what it
 * hands back (and everything else) goes through the TypeScript path, in order.
 */
async function runNative(jobs: readonly Job[], workers: number, out: Output): Promise<void> {
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
    // consecutive native texts are adjacent in `native.out`: written as one run
    let k = 0,
      from = 0,
      at = 0;
    for (const job of window) {
      const len = native && job.kind === 'task' && job.task === ko[k] ? native.lens[k++]! : -1;
      if (len >= 0) {
        at += len;
        continue;
      }
      if (at > from) out.write(native!.out.subarray(from, at));
      from = at;
      out.emit(job, job.kind === 'task' ? await runTask(job.task) : undefined);
    }
    if (at > from) out.write(native!.out.subarray(from, at));
  }
}
