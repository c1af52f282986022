/**
 * Typed errors. Every failure a user can cause with a bad file is a {@link FormatError}
 * carrying the file name and the absolute byte offset; anything else that escapes is a bug.
 *
 * Codes are stable: tests and the CLI switch on `code`, never on message text.
 */
export type ErrorCode =
  | 'E_TRUNCATED' // a read ran past the end of the data
  | 'E_MAGIC' // not this format at all
  | 'E_RANGE' // an offset/size field points outside the data or overflows
  | 'E_LIMIT' // a count/size exceeds what we are willing to process
  | 'E_FORMAT' // structurally invalid
  | 'E_UNSUPPORTED' // valid but not handled (e.g. an unknown compression)
  | 'E_SIG' // the appended module signature is malformed
  | 'E_ASN1' // DER/BER that cannot be decoded
  | 'E_COMPRESS' // a compressed stream is corrupt
  | 'E_IO' // the file could not be read
  | 'E_NOTFOUND' // a module name could not be resolved
  | 'E_USAGE'; // bad command-line use

/** Base class of every error kmodseal raises on purpose. */
export class KmodsealError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'KmodsealError';
  }
}

/** A malformed input: names the file, the absolute byte offset and the format being read. */
export class FormatError extends KmodsealError {
  readonly file: string;
  readonly offset: number;
  readonly format: string;
  readonly detail: string;
  constructor(
    code: ErrorCode,
    init: { file: string; offset: number; format: string; detail: string; cause?: unknown },
  ) {
    super(code, `${init.file}: 0x${init.offset.toString(16)}: ${init.format}: ${init.detail} (${code})`, {
      cause: init.cause,
    });
    this.name = 'FormatError';
    this.file = init.file;
    this.offset = init.offset;
    this.format = init.format;
    this.detail = init.detail;
  }

  /** The same error, re-based into an enclosing container (a module inside a .deb, a section inside an ELF). */
  rebase(file: string, delta: number): FormatError {
    return new FormatError(this.code, {
      file,
      offset: this.offset + delta,
      format: this.format,
      detail: this.detail,
      cause: this,
    });
  }
}

export function isKmodsealError(e: unknown): e is KmodsealError {
  return e instanceof KmodsealError;
}
