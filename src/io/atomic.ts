/** Atomic file writes: a temp file in the same directory, then rename. The target is never half-written. */
import fs from 'node:fs';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { KmodsealError } from '../bytes/errors.js';

/**
 * Writes `data` to `file` atomically. `mode` applies from creation on (0o600 for keys: the
 * bytes are never readable by others, not even for a moment). `durable` (default) also
 * fsyncs before the rename; bulk module writes skip it, as sign-file and kbuild do (a process
 * failure still never leaves a half-written file; fsync per module would triple the time).
 * @throws KmodsealError E_IO
 */
export function writeFileAtomic(file: string, data: Uint8Array | string, mode = 0o644, durable = true): void {
  writePartsAtomic(file, [typeof data === 'string' ? Buffer.from(data, 'utf8') : data], mode, durable);
}

let tmpCounter = 0;

/**
 * {@link writeFileAtomic} of the concatenation of `parts`, written with writev (no joined copy).
 * Temp names are unique per process, thread and call (`.NAME.PID-THREAD-N.tmp`).
 * @throws KmodsealError E_IO
 */
export function writePartsAtomic(file: string, parts: readonly Uint8Array[], mode = 0o644, durable = true): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}-${threadId}-${tmpCounter++}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', mode);
    const views = parts
      .filter((p) => p.length > 0)
      .map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
    while (views.length) {
      let n = fs.writevSync(fd, views);
      while (views.length && n >= views[0]!.length) n -= views.shift()!.length;
      if (views.length && n > 0) views[0] = views[0]!.subarray(n);
    }
    if (durable) fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new KmodsealError('E_IO', `${file}: cannot write: ${(e as Error).message}`, { cause: e });
  }
}
