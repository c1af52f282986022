/**
 * The file-system edge of src/kernel: read a kernel file (and optionally its System.map) and
 * inspect it. Everything else in src/kernel is pure over Uint8Array.
 */
import { readFile } from 'node:fs/promises';
import { KmodsealError } from '../bytes/errors.js';
import { inspectKernelImage, type KernelInspection } from './inspect.js';
import { parseSystemMap } from './system-map.js';

export interface LoadKernelOptions {
  /** Path of a System.map matching the image (used when the vmlinux has no .symtab). */
  systemMapPath?: string;
  maxSize?: number;
}

/**
 * Reads and inspects a kernel file.
 * @throws KmodsealError E_IO when a file cannot be read; FormatError from {@link inspectKernelImage}.
 */
export async function loadKernelImage(path: string, options: LoadKernelOptions = {}): Promise<KernelInspection> {
  const data = await readOrFail(path);
  const systemMap = options.systemMapPath
    ? parseSystemMap((await readOrFail(options.systemMapPath)).toString('latin1'))
    : undefined;
  return inspectKernelImage(data, {
    file: path,
    ...(options.maxSize !== undefined ? { maxSize: options.maxSize } : {}),
    ...(systemMap ? { systemMap } : {}),
  });
}

async function readOrFail(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new KmodsealError('E_IO', `${path}: ${(e as Error).message}`, { cause: e });
  }
}
