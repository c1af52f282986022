/**
 * Test-only helpers for the BTF tests: the cached Debian kernels, vmlinux extraction from a
 * bzImage (xz/zstd CLI; the real extractor lives elsewhere), and running bpftool.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = new URL('../../', import.meta.url).pathname;
export { TESTKERNEL } from '../helpers.js';
export const BPFTOOL = '/usr/sbin/bpftool';
export const CACHE = join(tmpdir(), 'kmodseal-btf-test');

export function haveBpftool(): boolean {
  return existsSync(BPFTOOL);
}

export interface KernelSet {
  set: string;
  arch: string;
  version: string;
  dir: string;
  release: string;
}

/** Rows of .cache/kernels/index.tsv whose unpacked tree exists. */
export function kernelSets(): KernelSet[] {
  const index = join(ROOT, '.cache/kernels/index.tsv');
  if (!existsSync(index)) return [];
  const out: KernelSet[] = [];
  for (const line of readFileSync(index, 'utf8').trim().split('\n')) {
    const [set, arch, pkg, version, dir] = line.split('\t');
    if (!set || !arch || !version || !dir || !pkg?.startsWith('linux-image-') || !existsSync(join(dir, 'lib/modules')))
      continue;
    const release = readdirSync(join(dir, 'lib/modules'))[0];
    if (release) out.push({ set, arch, version, dir, release });
  }
  return out;
}

/** Every module file of a kernel set, sorted. */
export function moduleFiles(k: KernelSet): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ko(\.xz|\.zst|\.gz)?$/.test(e.name)) out.push(p);
    }
  };
  walk(join(k.dir, 'lib/modules', k.release, 'kernel'));
  return out.sort();
}

/** `count` files spread evenly over the list (deterministic). */
export function sample<T>(list: readonly T[], count: number): T[] {
  if (list.length <= count) return [...list];
  const out: T[] = [];
  for (let i = 0; i < count; i++) out.push(list[Math.floor((i * list.length) / count)]!);
  return out;
}

/**
 * The uncompressed vmlinux ELF inside an x86 bzImage (setup_sects at 0x1f1, payload_offset/length
 * at 0x248/0x24c), decompressed with the xz, zstd or lz4 CLI and cached under the OS temp dir.
 * Returns the path, or undefined when the payload is none of these or the tool is missing.
 */
export function extractVmlinux(bzImage: string, name: string): string | undefined {
  mkdirSync(CACHE, { recursive: true });
  const out = join(CACHE, `vmlinux-${name}`);
  if (existsSync(out) && statSync(out).size > 0) return out;
  const d = readFileSync(bzImage);
  const setupSects = d[0x1f1] || 4;
  const payloadOff = d.readUInt32LE(0x248);
  const payloadLen = d.readUInt32LE(0x24c);
  const start = (setupSects + 1) * 512 + payloadOff;
  const payload = d.subarray(start, start + payloadLen);
  let cmd: string[];
  let input = payload;
  if (payload[0] === 0x28 && payload[1] === 0xb5 && payload[2] === 0x2f && payload[3] === 0xfd) cmd = ['zstd', '-dc'];
  else if (payload[0] === 0xfd && payload.subarray(1, 6).toString('latin1') === '7zXZ\0')
    cmd = ['xz', '-dc', '--single-stream'];
  else if (payload.readUInt32LE(0) === 0x184c2102) {
    cmd = ['lz4', '-dc']; // legacy frame (lz4 -l), without the uncompressed size the kernel appends
    input = payload.subarray(0, payload.length - 4);
  } else return undefined;
  // zstd warns about the trailing bytes after the frame; its stdout is still complete
  const r = spawnSync(cmd[0]!, cmd.slice(1), { input, maxBuffer: 1 << 30 });
  if (!r.stdout || r.stdout.length < 1024 || r.stdout.subarray(0, 4).toString('latin1') !== '\x7fELF') return undefined;
  // written aside and renamed: another test file (they run two at a time) may be extracting the same vmlinux
  const part = `${out}.${process.pid}`;
  writeFileSync(part, r.stdout);
  renameSync(part, out);
  return out;
}

/** The vmlinux for a kernel set (extracted from its boot/vmlinuz), or undefined. */
export function vmlinuxFor(k: KernelSet): string | undefined {
  const bz = join(k.dir, 'boot', `vmlinuz-${k.release}`);
  if (!existsSync(bz) || k.arch !== 'amd64') return undefined;
  return extractVmlinux(bz, k.release);
}

/** bpftool stdout as latin1 (bytes preserved). Batch mode amortises base parsing over many files. */
export function bpftool(args: string[]): string {
  return execFileSync(BPFTOOL, args, { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] }).toString('latin1');
}

/**
 * `bpftool [-B base] batch file` over `files`: the concatenated raw dumps. bpftool 7.1 ends a
 * batch of `btf dump file` commands with a spurious "reading batch file failed: Bad file
 * descriptor" and status 255 (it closes fd -1); the output is complete regardless.
 */
export function bpftoolBatchDump(files: string[], base: string | undefined, json = false): string {
  mkdirSync(CACHE, { recursive: true });
  const batch = join(CACHE, `batch-${process.pid}.txt`);
  writeFileSync(batch, files.map((f) => `btf dump file ${f} format raw\n`).join(''));
  const r = spawnSync(BPFTOOL, [...(json ? ['-j'] : []), ...(base ? ['-B', base] : []), 'batch', 'file', batch], {
    maxBuffer: 1 << 30,
  });
  return r.stdout.toString('latin1');
}
