/**
 * The kernel's errno values kmodseal predicts or reports, in one table: the name, the number
 * (Linux, asm-generic: the same on x86 and arm64) and the message (glibc's strerror text). A
 * leaf: the BTF validator (floor 3), the signature verdict and the checks (6) and `verify` (7)
 * all name errno values.
 */

/** Every errno kmodseal knows, by name. */
export const ERRNO = {
  EPERM: { number: 1, message: 'Operation not permitted' },
  ENOENT: { number: 2, message: 'No such file or directory' },
  E2BIG: { number: 7, message: 'Argument list too long' },
  ENOEXEC: { number: 8, message: 'Exec format error' },
  ENOMEM: { number: 12, message: 'Cannot allocate memory' },
  EFAULT: { number: 14, message: 'Bad address' },
  EEXIST: { number: 17, message: 'File exists' },
  EINVAL: { number: 22, message: 'Invalid argument' },
  EFBIG: { number: 27, message: 'File too large' },
  ELOOP: { number: 40, message: 'Too many levels of symbolic links' },
  ENODATA: { number: 61, message: 'No data available' },
  ENOPKG: { number: 65, message: 'Package not installed' },
  EBADMSG: { number: 74, message: 'Bad message' },
  ENOKEY: { number: 126, message: 'Required key not available' },
  EKEYREJECTED: { number: 129, message: 'Key was rejected by service' },
  /** Kernel-internal (include/linux/errno.h), not EOPNOTSUPP; user space sees it as "Unknown error 524". */
  ENOTSUPP: { number: 524, message: 'Unknown error 524' },
} as const satisfies Record<string, { readonly number: number; readonly message: string }>;

/** The name of an errno kmodseal knows, e.g. `'EKEYREJECTED'`. */
export type Errno = keyof typeof ERRNO;

/** One errno: its name, number and strerror text. */
export interface ErrnoInfo {
  readonly name: Errno;
  readonly number: number;
  readonly message: string;
}

/** Every errno of {@link ERRNO}, in number order. */
export const ERRNO_TABLE: readonly ErrnoInfo[] = (Object.keys(ERRNO) as Errno[])
  .map((name) => ({ name, number: ERRNO[name].number, message: ERRNO[name].message }))
  .sort((a, b) => a.number - b.number);

const BY_NUMBER = new Map<number, Errno>(ERRNO_TABLE.map((e) => [e.number, e.name]));

/** The errno's number, e.g. `errnoNumber('EINVAL') === 22`. */
export function errnoNumber(name: Errno): number {
  return ERRNO[name].number;
}

/** The name of errno `n` (positive or negative, as the kernel returns it), or undefined for one not in the table. */
export function errnoName(n: number): Errno | undefined {
  return BY_NUMBER.get(Math.abs(n));
}

/** Whether `s` is the name of an errno in the table. */
export function isErrno(s: string): s is Errno {
  return Object.prototype.hasOwnProperty.call(ERRNO, s);
}
