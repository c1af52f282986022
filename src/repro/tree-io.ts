/**
 * File-system edges shared by detach/attach: module walks with relative paths and all-or-nothing
 * writes (atomic per file, rolled back as a set).
 */
import fs from 'node:fs';
import path from 'node:path';
import { KmodsealError } from '../bytes/errors.js';
import { walkModules } from '../io/files.js';
import { writeFileAtomic } from '../io/atomic.js';
import { agree, count } from '../report/counts.js';

/** A module file of a tree: absolute path, '/'-separated path relative to the root. */
export interface TreeModule {
  readonly file: string;
  readonly relPath: string;
}

/**
 * Regular module files below `root`, sorted. Symbolic links are returned separately: rewriting
 * one in place would replace the link with a file.
 * @throws KmodsealError E_IO
 */
export function listTreeModules(root: string): { modules: TreeModule[]; symlinks: string[] } {
  let st: fs.Stats;
  try {
    st = fs.statSync(root);
  } catch (e) {
    throw new KmodsealError('E_IO', `${root}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  if (!st.isDirectory()) throw new KmodsealError('E_USAGE', `${root}: not a directory`);
  const modules: TreeModule[] = [];
  const symlinks: string[] = [];
  for (const file of walkModules(root)) {
    const relPath = path.relative(root, file).split(path.sep).join('/');
    if (fs.lstatSync(file).isSymbolicLink()) symlinks.push(relPath);
    else modules.push({ file, relPath });
  }
  return { modules, symlinks };
}

export interface PlannedWrite {
  readonly file: string;
  readonly data: Uint8Array | string;
  /** The bytes to restore on rollback; undefined when the file did not exist (rollback removes it). */
  readonly original: Uint8Array | undefined;
  readonly mode: number;
}

/**
 * Writes every file atomically (temp + rename, mode kept). When one write fails, the files
 * already written are restored from `original` (or removed), then the error is rethrown.
 * @throws KmodsealError E_IO (with `cause`); a rollback failure is named in the message.
 */
export function writeAllOrNothing(
  writes: readonly PlannedWrite[],
  hooks: { beforeWrite?: (w: PlannedWrite, index: number) => void } = {},
): void {
  const done: PlannedWrite[] = [];
  try {
    for (const [i, w] of writes.entries()) {
      hooks.beforeWrite?.(w, i);
      fs.mkdirSync(path.dirname(w.file), { recursive: true });
      writeFileAtomic(w.file, w.data, w.mode);
      done.push(w);
    }
  } catch (e) {
    const unrestored: string[] = [];
    for (const w of done.reverse()) {
      try {
        if (w.original) writeFileAtomic(w.file, w.original, w.mode);
        else fs.rmSync(w.file, { force: true });
      } catch {
        unrestored.push(w.file);
      }
    }
    const msg = e instanceof Error ? e.message : String(e);
    throw new KmodsealError(
      'E_IO',
      `${msg}; ${count(done.length, 'file')} already written ${agree(done.length, 'was', 'were')} ` +
        `${unrestored.length ? `restored except ${unrestored.join(', ')}` : 'restored'}`,
      { cause: e },
    );
  }
}

/** Permission bits of a file. */
export function fileMode(file: string): number {
  return fs.statSync(file).mode & 0o7777;
}
