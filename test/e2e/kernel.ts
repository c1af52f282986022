/** Boots the test kernel under qemu and loads modules: the real kernel's verdicts (test-only). */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, TESTKERNEL } from '../helpers.js';

export interface KernelLoad {
  index: number;
  module: string;
  name: string | null;
  loaded: boolean;
  errno_name: string;
  kernel_log: string[];
  taint: string;
  module_taint: string | null;
  complete: boolean;
}

/** The project's qemu boot-and-load helper (testkernel/README.md). */
export const BOOT_AND_LOAD = path.join(ROOT, 'testkernel', 'boot-and-load.mjs');

/** Booting needs root (qemu's initramfs is built as root); the kit itself must be there. */
export function canBoot(): boolean {
  if (!fs.existsSync(path.join(TESTKERNEL, 'vmlinux')))
    throw new Error(`test kernel kit absent at ${TESTKERNEL}: build it with testkernel/build.sh`);
  return process.getuid?.() === 0;
}

/** One boot: loads `modules` in order; returns one record per module. */
export function bootAndLoad(kernel: string, cmdline: string, modules: readonly string[]): KernelLoad[] {
  const r = spawnSync(process.execPath, [BOOT_AND_LOAD, '--timeout', '120', kernel, cmdline, ...modules], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`boot-and-load failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as KernelLoad);
}

/** Signs a module the way the kernel expects, with openssl (the independent oracle): detached, no attributes. */
export function opensslSign(
  key: string,
  cert: string,
  input: string,
  output: string,
  extra: string[] = ['-nocerts'],
  md = 'sha256',
): void {
  const p7 = `${output}.p7s`;
  const r = spawnSync('openssl', [
    'cms',
    '-sign',
    '-binary',
    '-noattr',
    '-outform',
    'DER',
    '-md',
    md,
    '-signer',
    cert,
    '-inkey',
    key,
    '-in',
    input,
    '-out',
    p7,
    ...extra,
  ]);
  if (r.status !== 0) throw new Error(`openssl cms: ${r.stderr}`);
  const sig = fs.readFileSync(p7);
  const info = Buffer.alloc(12);
  info[2] = 2;
  info.writeUInt32BE(sig.length, 8);
  fs.writeFileSync(
    output,
    Buffer.concat([fs.readFileSync(input), sig, info, Buffer.from('~Module signature appended~\n', 'latin1')]),
  );
  fs.rmSync(p7);
}
