/**
 * One signing job: read a module (any compression), sign it, recompress with the kernel's
 * settings, write it atomically (in place or to `dest`). Runs in a worker or in-process.
 * The key reaches workers in memory (PEM over postMessage): it never touches disk.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readFileBytes } from './files.js';
import { writeFileAtomic } from './atomic.js';
import { signModuleFile } from '../sign/compressed.js';
import { createNodeSigner } from '../keys/node-signer.js';
import { openPkcs11Signer } from '../keys/pkcs11-signer.js';
import type { HashAlgorithm, Signer } from '../keys/signer.js';
import { flattenError, type JobError } from './inspect-job.js';

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
  const signer = spec.key.startsWith('pkcs11:')
    ? openPkcs11Signer(spec.key, { certificate: spec.certificate, ...(spec.pkcs11Module ? { modulePath: spec.pkcs11Module } : {}) })
    : createNodeSigner(spec.key, spec.certificate);
  cached = { id: spec.id, signer };
  return signer;
}

const sha256 = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

/** Output directories this thread has already created (one mkdir per directory, not per module). */
const madeDirs = new Set<string>();

export async function runSignTask(spec: SignerSpec, task: SignTask): Promise<SignResult> {
  try {
    const data = readFileBytes(task.src);
    const out = await signModuleFile(data, signerFor(spec), { hash: spec.hash, keyIdForm: spec.keyIdForm, ...(spec.chain ? { chain: spec.chain } : {}), file: task.src });
    const mode = fs.statSync(task.src).mode & 0o7777;
    if (task.dest === task.src) writeFileAtomic(task.dest, out.data, mode, false);
    else {
      const dir = path.dirname(task.dest);
      if (!madeDirs.has(dir)) {
        fs.mkdirSync(dir, { recursive: true });
        madeDirs.add(dir);
      }
      try {
        writeFileAtomic(task.dest, out.data, mode, false);
      } catch (e) {
        // the directory went away since this thread made it: make it again, once
        if (!fs.existsSync(dir)) {
          fs.mkdirSync(dir, { recursive: true });
          writeFileAtomic(task.dest, out.data, mode, false);
        } else throw e;
      }
    }
    return { file: task.dest, compression: out.compression, ...(spec.digests ? { sha256Before: sha256(data), sha256After: sha256(out.data) } : {}) };
  } catch (e) {
    return { file: task.src, error: flattenError(e) };
  }
}
