import fs from 'node:fs';

/** The command's view of the outside world, so tests can run commands in-process. */
export interface Io {
  stdout(chunk: string | Uint8Array): void;
  stderr(chunk: string): void;
  /** Whether stdout is a terminal (progress bars, colours). */
  readonly isTTY: boolean;
}

/** An Io that buffers stdout writes into large chunks (modinfo-sized lines are tiny). */
export function processIo(): Io & { flush(): Promise<void> } {
  let buf: Buffer[] = [];
  let size = 0;
  const flushSync = (): void => {
    if (size === 0) return;
    const all = buf.length === 1 ? buf[0]! : Buffer.concat(buf, size);
    buf = [];
    size = 0;
    let off = 0;
    while (off < all.length) {
      try {
        off += fs.writeSync(1, all, off);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === 'EAGAIN') continue;
        if (err.code === 'EPIPE') return;
        throw e;
      }
    }
  };
  return {
    isTTY: Boolean(process.stdout.isTTY),
    stdout(chunk) {
      const b =
        typeof chunk === 'string'
          ? Buffer.from(chunk, 'latin1')
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      buf.push(b);
      size += b.length;
      if (size >= 1 << 16) flushSync();
    },
    stderr(chunk) {
      flushSync();
      process.stderr.write(chunk);
    },
    async flush() {
      flushSync();
    },
  };
}
