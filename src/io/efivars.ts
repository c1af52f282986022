/**
 * The machine's UEFI variables, read through efivarfs (Documentation/filesystems/efivarfs.rst):
 * each variable is a file `NAME-GUID` whose contents are the u32 attributes followed by the
 * value. Reads only; nothing here knows what a value means.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KmodsealError } from '../bytes/errors.js';

/** Where the kernel mounts efivarfs. */
export const DEFAULT_EFIVARS = '/sys/firmware/efi/efivars';

/**
 * Checks that `dir` is a directory of EFI variables.
 * @throws KmodsealError E_NOTFOUND naming the directory and why (no UEFI boot, efivarfs not mounted)
 */
export function checkEfivarsDirectory(dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new KmodsealError(
      'E_NOTFOUND',
      `${dir}: no efivarfs here (the machine was not booted through UEFI, or efivarfs is not mounted)`,
    );
  }
  if (!st.isDirectory()) throw new KmodsealError('E_NOTFOUND', `${dir}: not a directory of EFI variables`);
}

/** The path of variable `name` of vendor `guid` in `dir`. */
export function efiVariablePath(dir: string, name: string, guid: string): string {
  return path.join(dir, `${name}-${guid}`);
}

/**
 * The bytes of an efivarfs variable file (attributes + value), or undefined when the variable
 * does not exist. efivarfs files may report size 0, so the file is read to its end.
 * @throws KmodsealError E_IO when it exists but cannot be read
 */
export function readEfiVariable(dir: string, name: string, guid: string): Uint8Array | undefined {
  const file = efiVariablePath(dir, name, guid);
  try {
    return new Uint8Array(fs.readFileSync(file));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return undefined;
    throw new KmodsealError('E_IO', `${file}: cannot read: ${err.message}`);
  }
}

/** shim's vendor GUID (SHIM_LOCK_GUID), under which SbatLevel and SbatLevelRT live. */
export const SHIM_LOCK_GUID = '605dab50-e046-4300-abb6-3dd810dd8b23';

/**
 * The running machine's SBAT revocation level, as shim mirrors it for the OS: the variable
 * `SbatLevelRT` (SbatLevel itself is boot-services only): its path and bytes (attributes + payload).
 * @throws KmodsealError E_NOTFOUND when `dir` is not an efivarfs directory, or when the variable
 *   is absent (shim did not boot this machine, or one older than 15.3); E_IO when it cannot be read
 */
export function readSbatLevelRT(dir = DEFAULT_EFIVARS): { file: string; bytes: Uint8Array } {
  checkEfivarsDirectory(dir);
  const bytes = readEfiVariable(dir, 'SbatLevelRT', SHIM_LOCK_GUID);
  const file = efiVariablePath(dir, 'SbatLevelRT', SHIM_LOCK_GUID);
  if (!bytes)
    throw new KmodsealError(
      'E_NOTFOUND',
      `${file}: no SbatLevelRT variable (this boot did not go through shim 15.3 or later)`,
    );
  return { file, bytes };
}
