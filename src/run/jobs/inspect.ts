/**
 * The `inspect` job: read a module file, inspect it, render it. Runs in a worker or in-process;
 * results are plain data (errors flattened) so they cross thread boundaries.
 */
import { openRangeFile, readFileHead, readFileScratch, scratchBuffer } from '../../io/files.js';
import { readModuleSparse } from '../../modinfo/sparse.js';
import { inspectDecompressed, type ModuleInspection } from '../../modinfo/inspect.js';
import { decompressModuleTransient, probeCompression } from '../../compress/index.js';
import { probeElf } from '../../elf/elf.js';
import { renderModinfo, type ModinfoTextOptions } from '../../report/modinfo-text.js';
import { KmodsealError } from '../../bytes/errors.js';
import { flattenError, type Job, type JobError } from '../job.js';
import { MODULE_FILE_MAX } from '../../check/limits.js';
import { inspectionToJson, type InspectJson } from '../../report/inspect-json.js';

export interface InspectTask {
  /** Path to read. */
  readonly path: string;
  /** Name shown as `filename:` (modinfo shows the absolute path). */
  readonly display: string;
  readonly mode: 'text' | 'json';
  readonly text?: ModinfoTextOptions;
}

export interface InspectResult {
  readonly text?: string;
  readonly json?: InspectJson;
  /** The module could not be read at all. */
  readonly error?: JobError;
  /** The module was read but something in it is malformed (e.g. the signature). */
  readonly warning?: JobError;
}

/** Files this large are looked at before they are read whole. */
const LARGE = 64 << 20;

export async function runInspectTask(task: InspectTask): Promise<InspectResult> {
  let info: ModuleInspection;
  try {
    // Plain modules: read only the parts modinfo looks at; anything unusual is read whole.
    const sparse = task.path.endsWith('.ko') ? readSparse(task.path) : undefined;
    if (sparse) info = inspectDecompressed(sparse, task.path, 'none', sparse.length, task.mode === 'json');
    else {
      let raw = readFileScratch(task.path, LARGE);
      if (typeof raw === 'number') {
        if (raw > MODULE_FILE_MAX)
          throw new KmodsealError(
            'E_LIMIT',
            `${task.path}: ${raw} bytes: larger than any module can be (the kernel reads at most ${MODULE_FILE_MAX})`,
          );
        // A large file that is neither ELF nor compressed is refused from its first bytes (as
        // modinfo, which maps it, does), not read whole first.
        const head = readFileHead(task.path, 16);
        if (probeCompression(head) === 'none' && !probeElf(head)) inspectDecompressed(head, task.path, 'none'); // throws E_MAGIC at 0x0
        raw = readFileScratch(task.path);
      }
      const { data, compression } = await decompressModuleTransient(raw, task.path);
      info = inspectDecompressed(data, task.path, compression, raw.length, task.mode === 'json');
    }
  } catch (e) {
    return { error: flattenError(e) };
  }
  const warning = info.signatureError ? flattenError(info.signatureError) : undefined;
  if (task.mode === 'json') return { json: inspectionToJson(info, task.display), ...(warning ? { warning } : {}) };
  // The text is bytes (one char per byte, written as latin1); the name is a real string: its
  // UTF-8 bytes are what modinfo prints for it.
  return {
    text: renderModinfo(Buffer.from(task.display, 'utf8').toString('latin1'), info.modinfo, task.text),
    ...(warning ? { warning } : {}),
  };
}

/** The `inspect` job: nothing shared. */
export const inspectJob: Job<undefined, undefined, InspectTask, InspectResult> = {
  open: () => undefined,
  run: (_ctx, task) => runInspectTask(task),
};

/** The sparse read of a plain `.ko` into this thread's scratch buffer; undefined: read it whole. */
function readSparse(file: string): Uint8Array | undefined {
  const f = openRangeFile(file);
  if (!f) return undefined;
  try {
    return readModuleSparse(f, scratchBuffer);
  } finally {
    f.close();
  }
}
