/**
 * Inputs built by code for the unit tier (no files read): modules, signatures and the
 * assertion that a call fails with one error code at one absolute offset.
 */
import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import { buildElf, type SectionSpec } from '../kernel/build-elf.js';
import { generateSigningKey, createNodeSigner, type KeyType, type Signer, FormatError } from '../../src/index.js';
import { signModuleBytes } from '../../src/sign/cms.js';

export const latin1 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));

/** `.modinfo` contents: each entry NUL-terminated, as modpost writes them. */
export function modinfoSection(entries: readonly string[]): Uint8Array {
  return latin1(entries.map((e) => `${e}\0`).join(''));
}

export interface ModuleSpec {
  class?: 32 | 64;
  littleEndian?: boolean;
  machine?: number;
  modinfo?: readonly string[];
  sections?: SectionSpec[];
}

/** A minimal module: `.modinfo` first (section 1), then `sections`, `.shstrtab` last. x86-64 by default. */
export function moduleElf(spec: ModuleSpec = {}): Uint8Array {
  const modinfo = spec.modinfo ?? ['license=GPL', 'name=unit', 'vermagic=6.12.0 SMP mod_unload '];
  return buildElf({
    class: spec.class ?? 64,
    littleEndian: spec.littleEndian ?? true,
    machine: spec.machine ?? 62,
    sections: [{ name: '.modinfo', data: modinfoSection(modinfo), flags: 2 }, ...(spec.sections ?? [])],
  });
}

const keys = new Map<KeyType, Promise<{ privateKey: KeyObject; certificate: Uint8Array; signer: Signer }>>();

/** A generated key (one per type and process) and its node:crypto signer. */
export function testKey(
  type: KeyType = 'p256',
): Promise<{ privateKey: KeyObject; certificate: Uint8Array; signer: Signer }> {
  let k = keys.get(type);
  if (!k) {
    k = generateSigningKey({ type, subject: `CN=unit ${type} key,O=kmodseal` }).then((g) => ({
      privateKey: g.privateKey,
      certificate: g.certificate,
      signer: createNodeSigner(g.privateKey, g.certificate, { native: false }),
    }));
    keys.set(type, k);
  }
  return k;
}

/** `module` signed the way sign-file signs (PKCS#7, issuer and serial), with a generated key. */
export async function signedModule(
  module: Uint8Array,
  type: KeyType = 'p256',
  hash: 'sha256' | 'sha512' = 'sha256',
): Promise<Uint8Array> {
  return signModuleBytes(module, (await testKey(type)).signer, { hash });
}

/** Asserts that `fn` throws a FormatError with this code at this absolute offset. */
export function throwsAt(fn: () => unknown, code: string, offset: number, message?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `not a FormatError: ${String(e)}`);
    assert.equal(`${e.code}@${e.offset}`, `${code}@${offset}`, `${message ?? ''} ${e.message}`);
    return true;
  });
}

/** The async form of {@link throwsAt}. */
export async function rejectsAt(
  fn: () => Promise<unknown>,
  code: string,
  offset: number,
  message?: string,
): Promise<void> {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `not a FormatError: ${String(e)}`);
    assert.equal(`${e.code}@${e.offset}`, `${code}@${offset}`, `${message ?? ''} ${e.message}`);
    return true;
  });
}

/** A copy of `data` with `edit` applied through a DataView. */
export function patched(data: Uint8Array, edit: (v: DataView, b: Uint8Array) => void): Uint8Array {
  const b = Uint8Array.from(data);
  edit(new DataView(b.buffer), b);
  return b;
}
