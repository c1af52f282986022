/**
 * Shared test fixtures for test/kernel: the cached Debian kernel packages
 * (.cache/kernels/index.tsv, from `npm run fetch-kernels`) and the test kernel kit
 * (../shared/testkernel beside the checkout, see its README.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
import { TESTKERNEL } from '../helpers.js';
export { TESTKERNEL };
export const KERNEL_CACHE = process.env.KMODSEAL_KERNEL_CACHE ?? join(ROOT, '.cache/kernels');

export interface CachedKernel {
  readonly set: string;
  readonly arch: string;
  readonly pkg: string;
  readonly version: string;
  readonly dir: string;
  readonly deb: string;
  /** The one directory name under lib/modules/ (the release). */
  readonly release: string;
  readonly vmlinuz: string;
}

/** The cached package of a set ("amd64-6.1", ...), or undefined when the cache is absent. */
export function cachedKernel(set: string): CachedKernel | undefined {
  const index = join(KERNEL_CACHE, 'index.tsv');
  if (!existsSync(index)) return undefined;
  for (const line of readFileSync(index, 'utf8').split('\n')) {
    const [s, arch, pkg, version, dir, deb] = line.split('\t');
    if (s !== set || !dir || !deb || !existsSync(join(dir, 'lib/modules'))) continue;
    const release = pkg!.replace(/^linux-image-/, '');
    return { set, arch: arch!, pkg: pkg!, version: version!, dir, deb, release, vmlinuz: join(dir, 'boot', `vmlinuz-${release}`) };
  }
  return undefined;
}

/** The cached kernel, or skips the test with a message saying how to get it. */
export function needKernel(t: TestContext, set: string): CachedKernel | undefined {
  const k = cachedKernel(set);
  if (!k) t.skip(`kernel package cache for ${set} absent (run npm run fetch-kernels)`);
  return k;
}

/** The test kernel kit directory, or skips the test. */
export function needTestKernel(t: TestContext): string | undefined {
  if (!existsSync(join(TESTKERNEL, 'vmlinux'))) {
    t.skip(`test kernel kit absent at ${TESTKERNEL} (set KMODSEAL_TESTKERNEL)`);
    return undefined;
  }
  return TESTKERNEL;
}

/** subject, serial and sha256 fingerprint of a DER certificate as openssl prints them. */
export function opensslCert(der: Uint8Array): { subject: string; serial: string; sha256: string } {
  const out = execFileSync('openssl', ['x509', '-inform', 'DER', '-noout', '-subject', '-serial', '-fingerprint', '-sha256', '-nameopt', 'utf8,sep_comma_plus_space,sname'], { input: der }).toString();
  const get = (re: RegExp): string => re.exec(out)?.[1] ?? '';
  return {
    subject: get(/^subject=(.*)$/m),
    serial: get(/^serial=(.*)$/m).toLowerCase(),
    sha256: get(/Fingerprint=(.*)$/m).replace(/:/g, '').toLowerCase(),
  };
}

/** sha256 of a PEM certificate file's DER, via openssl. */
export function opensslPemFingerprint(pemPath: string): string {
  const out = execFileSync('openssl', ['x509', '-in', pemPath, '-noout', '-fingerprint', '-sha256']).toString();
  return /Fingerprint=(.*)$/m.exec(out)![1]!.replace(/:/g, '').toLowerCase();
}

/** Evenly spaced sample of at most n items. */
export function sample<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(items[Math.floor((i * items.length) / n)]!);
  return out;
}
