/**
 * Shared test fixtures for test/kernel: the cached Debian kernel packages
 * (.cache/kernels/index.tsv, from `npm run fetch-kernels`) and the test kernel kit
 * (testkernel/build.sh builds it; see testkernel/README.md).
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
    return {
      set,
      arch: arch!,
      pkg: pkg!,
      version: version!,
      dir,
      deb,
      release,
      vmlinuz: join(dir, 'boot', `vmlinuz-${release}`),
    };
  }
  return undefined;
}

/** The cached kernel, or skips the test with a message saying how to get it. */
export function needKernel(t: TestContext, set: string): CachedKernel | undefined {
  const k = cachedKernel(set);
  if (!k) t.skip(`kernel package cache for ${set} absent (run npm run fetch-kernels)`);
  return k;
}

/** The test kernel kit directory; a missing kit fails the test (npm test builds it first). */
export function needTestKernel(_t: TestContext): string {
  if (!existsSync(join(TESTKERNEL, 'vmlinux'))) {
    throw new Error(
      `test kernel kit absent at ${TESTKERNEL}: build it with testkernel/build.sh, or set KMODSEAL_TESTKERNEL`,
    );
  }
  return TESTKERNEL;
}

/**
 * Facts of the kit read with binutils and its keys/trust.json, never with the code under test:
 * a symbol's file offset in vmlinux (nm's address through readelf's section table) and the
 * name the kernel logs for a certificate of keys/.
 */
export function kitFacts(dir = TESTKERNEL): { offset(symbol: string): number; certName(key: string): string } {
  const vmlinux = join(dir, 'vmlinux');
  let syms: Map<string, bigint> | undefined;
  let sections: { addr: bigint; off: bigint; size: bigint }[] | undefined;
  let trust: { name: string; kernel_cert_name: string }[] | undefined;
  return {
    offset(symbol) {
      syms ??= new Map(
        execFileSync('nm', [vmlinux], { maxBuffer: 1 << 28 })
          .toString()
          .split('\n')
          .map((l) => l.split(' '))
          .filter((f) => f.length === 3)
          .map((f) => [f[2]!, BigInt(`0x${f[0]}`)]),
      );
      sections ??= [
        ...execFileSync('readelf', ['-SW', vmlinux])
          .toString()
          .matchAll(/^\s*\[\s*\d+\]\s+\S+\s+PROGBITS\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/gm),
      ].map((m) => ({ addr: BigInt(`0x${m[1]}`), off: BigInt(`0x${m[2]}`), size: BigInt(`0x${m[3]}`) }));
      const a = syms.get(symbol);
      if (a === undefined) throw new Error(`${vmlinux}: no symbol ${symbol}`);
      const s = sections.find((x) => a >= x.addr && a < x.addr + x.size);
      if (!s) throw new Error(`${vmlinux}: ${symbol} is in no PROGBITS section`);
      return Number(a - s.addr + s.off);
    },
    certName(key) {
      trust ??= JSON.parse(readFileSync(join(dir, 'keys/trust.json'), 'utf8')) as {
        name: string;
        kernel_cert_name: string;
      }[];
      const t = trust.find((x) => x.name === key);
      if (!t) throw new Error(`keys/trust.json: no ${key}`);
      return t.kernel_cert_name;
    },
  };
}

/** subject, serial and sha256 fingerprint of a DER certificate as openssl prints them. */
export function opensslCert(der: Uint8Array): { subject: string; serial: string; sha256: string } {
  const out = execFileSync(
    'openssl',
    [
      'x509',
      '-inform',
      'DER',
      '-noout',
      '-subject',
      '-serial',
      '-fingerprint',
      '-sha256',
      '-nameopt',
      'utf8,sep_comma_plus_space,sname',
    ],
    { input: der },
  ).toString();
  const get = (re: RegExp): string => re.exec(out)?.[1] ?? '';
  return {
    subject: get(/^subject=(.*)$/m),
    serial: get(/^serial=(.*)$/m).toLowerCase(),
    sha256: get(/Fingerprint=(.*)$/m)
      .replace(/:/g, '')
      .toLowerCase(),
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
