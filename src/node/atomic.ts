/** Atomic file writes: a temp file in the same directory, then rename. The target is never half-written. */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { KmodsealError } from '../bytes/errors.js';

/**
 * Writes `data` to `file` atomically. `mode` applies from creation on (0o600 for keys: the
 * bytes are never readable by others, not even for a moment). `durable` (default) also
 * fsyncs before the rename; bulk module writes skip it, as sign-file and kbuild do (a process
 * failure still never leaves a half-written file; fsync per module would triple the time).
 * @throws KmodsealError E_IO
 */
export function writeFileAtomic(file: string, data: Uint8Array | string, mode = 0o644, durable = true): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', mode);
    fs.writeFileSync(fd, data);
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
