/**
 * The file edge for signing and verifying: read a module file, call the pure functions in
 * cms.ts / compressed.ts / verify.ts, write the result atomically (temp + rename, keeping the
 * original file's permission bits). Nothing else in src/sign/ touches the file system.
 */
import fs from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import { readFileBytes } from '../io/files.js';
import { decompressModule, type Compression } from '../compress/index.js';
import { signModuleFile, type RecompressOptions } from './compressed.js';
import { stripModuleSignature, type Pkcs7Options } from './cms.js';
import { findModuleSignature } from '../modsig/signature.js';
import { verifyModuleSignature, type TrustedKeyring, type VerifyOptions, type VerifyResult } from './verify.js';
import type { Signer } from '../keys/signer.js';

function readFile(file: string): Uint8Array {
  return new Uint8Array(readFileBytes(file));
}

export interface SignFileOptions extends Pkcs7Options, RecompressOptions {
  /** Write here instead of replacing `file` (sign-file's `dest`). */
  readonly dest?: string;
  /** Also write the detached PKCS#7 here (sign-file -p writes `<module>.p7s`). */
  readonly p7sPath?: string;
}

/**
 * Signs a module file (.ko, .ko.xz, .ko.zst, .ko.gz) in place or to `dest`, replacing any
 * existing signature and keeping the compression.
 * @throws KmodsealError E_IO; FormatError from decoding the module
 */
export async function signModulePath(
  file: string,
  signer: Signer,
  options: SignFileOptions = {},
): Promise<{ compression: Compression; size: number }> {
  const input = readFile(file);
  const out = await signModuleFile(input, signer, { ...options, file });
  const mode = fs.statSync(file).mode & 0o7777;
  writeFileAtomic(options.dest ?? file, out.data, mode);
  if (options.p7sPath) {
    const sig = findModuleSignature(out.signed, file)!;
    writeFileAtomic(options.p7sPath, sig.sigData, 0o644);
  }
  return { compression: out.compression, size: out.data.length };
}

/**
 * Reads, decompresses and verifies a module file (see {@link verifyModuleSignature}).
 * @throws KmodsealError E_IO; FormatError when the compressed stream is corrupt
 */
export async function verifyModulePath(
  file: string,
  trusted: readonly Uint8Array[] | TrustedKeyring,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const { data } = await decompressModule(readFile(file), file);
  return verifyModuleSignature(data, trusted, { ...options, file });
}

/** The unsigned ELF of a module file (decompressed, every appended signature removed). */
export async function readUnsignedModule(file: string): Promise<Uint8Array> {
  const { data } = await decompressModule(readFile(file), file);
  return stripModuleSignature(data, file);
}
