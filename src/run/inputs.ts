/**
 * The one input expansion: the module paths a command is given (files, directories and, for
 * `check`, `.deb` packages) turned into the module files it runs over, in the order given.
 *
 * **A missing path** is an error: `E_NOTFOUND` (`PATH: no such file or directory`, exit 3), thrown
 * before any module is read, signed or checked, so that a mistyped path never leaves a tree half
 * done. Any other path that is not a directory (a regular file, a FIFO, a device) is kept as given:
 * reading it reports what it is.
 */
import { hasModuleExtension, readFileBytes, statOrNotFound, walkModules } from '../io/files.js';
import { parseDeb, readDebData } from '../deb/deb.js';
import { initramfsModules, readInitramfs } from '../initrd/initramfs.js';
import type { CheckTask } from './jobs/check.js';

/** One path as given, and the module files it stands for. */
export interface ExpandedPath {
  /** The path as given. */
  readonly path: string;
  /** True for a directory (its modules, walked), false for a path kept as given. */
  readonly directory: boolean;
  /** The module files below a directory (in walk order), or the path itself. */
  readonly files: readonly string[];
}

/** A path and its module files: a directory's modules below it, anything else itself; a missing path throws `E_NOTFOUND`. */
export function expandModulePath(path: string): ExpandedPath {
  const directory = statOrNotFound(path).isDirectory();
  return { path, directory, files: directory ? walkModules(path) : [path] };
}

/** {@link expandModulePath} of each path, in the order given. */
export function expandModulePaths(paths: readonly string[]): ExpandedPath[] {
  return paths.map(expandModulePath);
}

/** The module files of {@link expandModulePaths}, flattened in the order given. */
export function moduleFiles(paths: readonly string[]): string[] {
  return expandModulePaths(paths).flatMap((e) => e.files);
}

/**
 * `check`'s inputs, as {@link expandModulePaths} with `.deb` packages besides: files are read
 * where they are checked (a worker), a package's modules are read into memory here, in name order.
 * `expanded`: whether a directory or a package was given (they load in dependency order, files
 * named one by one in the order given).
 */
export async function checkTasks(paths: readonly string[]): Promise<{ tasks: CheckTask[]; expanded: boolean }> {
  const tasks: CheckTask[] = [];
  let expanded = false;
  for (const path of paths) {
    const e = expandModulePath(path);
    if (e.directory) {
      expanded = true;
      for (const f of e.files) tasks.push({ file: f, path: f });
    } else if (e.path.endsWith('.deb')) {
      expanded = true;
      const p = e.path;
      const data = await readDebData(parseDeb(readFileBytes(p), p), p, { select: (m) => hasModuleExtension(m.path) });
      for (const [name, d] of [...data.files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        tasks.push({ file: `${p}:${name}`, data: d });
    } else tasks.push({ file: e.path, path: e.path });
  }
  return { tasks, expanded };
}

/**
 * `check`'s tasks for the kernel modules inside an initramfs image (`--initrd`, a UKI's `.initrd`):
 * every `*.ko[.xz|.zst|.gz]` below `[usr/]lib/modules/RELEASE/`, held in memory, named
 * `IMAGE:PATH`, in path order (they load in dependency order, as the initramfs's modprobe would).
 */
export async function initrdTasks(data: Uint8Array, file: string): Promise<CheckTask[]> {
  const fs = await readInitramfs(data, file);
  return initramfsModules(fs).map((m) => ({ file: `${file}:${m.path}`, data: m.entry.data }));
}
