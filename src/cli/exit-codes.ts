/** Exit codes of every kmodseal command (documented in README "Exit codes"; tested). */
export const EXIT = {
  /** Everything asked for was done and every input was read. */
  OK: 0,
  /** At least one input is malformed or unreadable (the others were still processed). */
  BAD_INPUT: 1,
  /** The command line is wrong. */
  USAGE: 2,
  /** A module name, alias or default input could not be found. */
  NOT_FOUND: 3,
  /** A check found a module that would not load as asked (BTF rejected, semantic mismatch, ...). */
  CHECK_FAILED: 4,
  /** `check`: every module loads, but at least one taints the kernel. */
  TAINTED: 5,
  /** An internal error (a bug): a stack trace is printed. */
  BUG: 70,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
