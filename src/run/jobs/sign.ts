/**
 * One signing job: read a module (any compression), sign it, recompress with the kernel's
 * settings, write it atomically (in place or to `dest`). Runs in a worker or in-process.
 * The key reaches workers in memory (PEM over postMessage): it never touches disk.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { KmodsealError } from '../../bytes/errors.js';
import { openRegularFile } from '../../io/files.js';
import { writePartsAtomic } from '../../io/atomic.js';
import { signModuleFileParts } from '../../sign/compressed.js';
import { openSigner } from '../../keys/open-signer.js';
import type { HashAlgorithm, Signer } from '../../keys/signer.js';
import { flattenError, type Job, type JobError } from '../job.js';

export interface SignerSpec {
  /** Identifies this signer across messages (a worker keeps one Signer per id: templates are reused). */
  readonly id: string;
  /** PEM private key (in memory), or a pkcs11: URI. */
  readonly key: string;
  /** DER certificate. */
  readonly certificate: Uint8Array;
  readonly hash: HashAlgorithm;
  readonly keyIdForm: 'issuer-serial' | 'skid';
  /** Extra certificates carried in the PKCS#7 (DER), for chains. */
  readonly chain: readonly Uint8Array[] | undefined;
  readonly pkcs11Module?: string;
  /** Report each module's SHA-256 before and after (two extra passes over the data: only for reports). */
  readonly digests?: boolean;
}

export interface SignTask {
  readonly src: string;
  readonly dest: string;
}

export interface SignResult {
  readonly file: string;
  readonly compression?: string;
  readonly sha256Before?: string;
  readonly sha256After?: string;
  readonly error?: JobError;
}

let cached: { id: string; signer: Signer } | undefined;
function signerFor(spec: SignerSpec): Signer {
  if (cached?.id === spec.id) return cached.signer;
  const signer = openSigner(spec.key, spec.certificate, spec.pkcs11Module);
  cached = { id: spec.id, signer };
  return signer;
}

const sha256 = (parts: readonly Uint8Array[]): string => {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** Output directories this thread has already created (one mkdir per directory, not per module). */
const madeDirs = new Set<string>();

/**
 * The module file's bytes and permission bits: one open, fstat and read into a buffer this
 * thread reuses (no allocation, no fresh pages per module). `release()` hands the buffer back;
 * until then the bytes stay valid. A second read while one is held gets a buffer of its own.
 */
let scratch = Buffer.allocUnsafe(1 << 20);
let scratchHeld = false;
function readModule(file: string): { data: Uint8Array; mode: number; release: () => void } {
  const { fd } = openRegularFile(file);
  try {
    const st = fs.fstatSync(fd);
    const own = scratchHeld;
    let buf = scratch;
    if (own) buf = Buffer.allocUnsafe(st.size);
    else if (st.size > scratch.length) buf = scratch = Buffer.allocUnsafe(Math.max(st.size, scratch.length * 2));
    let off = 0;
    while (off < st.size) {
      const n = fs.readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    if (!own) scratchHeld = true;
    return {
      data: buf.subarray(0, off),
      mode: st.mode & 0o7777,
      release: own ? () => {} : () => void (scratchHeld = false),
    };
  } catch (e) {
    throw new KmodsealError('E_IO', `${file}: cannot read: ${(e as Error).message}`, { cause: e });
  } finally {
    fs.closeSync(fd);
  }
}

export async function runSignTask(spec: SignerSpec, task: SignTask): Promise<SignResult> {
  let input: ReturnType<typeof readModule> | undefined;
  try {
    input = readModule(task.src);
    const { data, mode } = input;
    const out = await signModuleFileParts(data, signerFor(spec), {
      hash: spec.hash,
      keyIdForm: spec.keyIdForm,
      ...(spec.chain ? { chain: spec.chain } : {}),
      file: task.src,
    });
    const digests = spec.digests ? { sha256Before: sha256([data]), sha256After: sha256(out.parts) } : {};
    if (task.dest === task.src) writePartsAtomic(task.dest, out.parts, mode, false);
    else {
      const dir = path.dirname(task.dest);
      if (!madeDirs.has(dir)) {
        fs.mkdirSync(dir, { recursive: true });
        madeDirs.add(dir);
      }
      try {
        writePartsAtomic(task.dest, out.parts, mode, false);
      } catch (e) {
        // the directory went away since this thread made it: make it again, once
        if (!fs.existsSync(dir)) {
          fs.mkdirSync(dir, { recursive: true });
          writePartsAtomic(task.dest, out.parts, mode, false);
        } else throw e;
      }
    }
    return { file: task.dest, compression: out.compression, ...digests };
  } catch (e) {
    return { file: task.src, error: flattenError(e) };
  } finally {
    input?.release();
  }
}

/** The `sign` job: the signer's spec shared (sent to each worker once, in memory). */
export const signJob: Job<SignerSpec, SignerSpec, SignTask, SignResult> = { open: (spec) => spec, run: runSignTask };
