/**
 * Boot image detection and unwrapping: codec refusal, output bounds, raw (non-ELF) images,
 * the extract-vmlinux-style scan, and truncation/mutation robustness. Fixtures are built here
 * (from the test kernel's bzImage where a real header is needed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { FormatError } from '../../src/bytes/errors.js';
import { probeKernelImage, unwrapKernelImage, parseBzImageHeader } from '../../src/kernel/image.js';
import { inspectVmlinux } from '../../src/kernel/vmlinux.js';
import { findBanner } from '../../src/kernel/banner.js';
import { xzStreamEnd, zstdFrameEnd } from '../../src/compress/stream.js';
import { needTestKernel } from './helpers.js';

const MiB = 1024 * 1024;
const BANNER =
  'Linux version 6.1.0-99-arm64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld 2.40) ' +
  '#1 SMP Debian 6.1.999-1 (2026-01-01)';

/** A raw arm64 Image: "ARM\x64" at 0x38, a placeholder banner (6.1+ has one) and the real one. */
function arm64Image(): Uint8Array {
  const img = new Uint8Array(64 * 1024);
  img.set([0x41, 0x52, 0x4d, 0x64], 0x38);
  img.set(Buffer.from(`Linux version 6.1.0-99-arm64 (x@y) (gcc) # SMP\n\0`, 'latin1'), 0x800);
  img.set(Buffer.from(`${BANNER}\n\0`, 'latin1'), 0x1000);
  return img;
}

async function rejectsWith(p: Promise<unknown>, code: string, detail?: RegExp): Promise<FormatError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof FormatError, `expected FormatError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (detail) assert.match(caught.message, detail);
  return caught;
}

function payloadStart(bz: Uint8Array): number {
  const h = parseBzImageHeader(bz, 'bz');
  return (h.setup_sects + 1) * 512 + h.payload_offset;
}

test('probeKernelImage', (t) => {
  assert.equal(probeKernelImage(new Uint8Array(0)), undefined);
  assert.equal(probeKernelImage(arm64Image()), 'arm64-image');
  assert.equal(probeKernelImage(zlib.gzipSync(arm64Image())), 'gzip');
  const dir = needTestKernel(t);
  if (!dir) return;
  assert.equal(probeKernelImage(readFileSync(join(dir, 'bzImage'))), 'bzimage');
  assert.equal(probeKernelImage(readFileSync(join(dir, 'vmlinux')).subarray(0, 64)), 'vmlinux');
});

test('arm64 Image and Image.gz: not ELF, banner and release from the raw image', async () => {
  for (const [data, kind] of [
    [arm64Image(), 'arm64-image'],
    [zlib.gzipSync(arm64Image()), 'gzip'],
  ] as const) {
    const u = await unwrapKernelImage(data, { file: 'Image' });
    assert.equal(u.kind, kind);
    assert.equal(u.isElf, false);
    assert.ok(Buffer.from(u.data).equals(arm64Image()));
    const info = await inspectVmlinux(u.data, { file: 'Image' });
    assert.equal(info.isElf, false);
    assert.equal(info.banner, BANNER, 'the real banner wins over the "# SMP" placeholder');
    assert.equal(info.release, '6.1.0-99-arm64');
    assert.equal(info.exports, undefined);
    assert.equal(info.certificates, undefined);
  }
});

test('findBanner skips format strings and unterminated text', () => {
  const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1');
  assert.equal(findBanner(enc('Linux version %s (%s) #%s\n\0')), undefined);
  assert.equal(findBanner(enc('Linux version 6.1.0 (a)\n\0')), undefined, 'no build number part');
  assert.equal(findBanner(enc('Linux version 6.1 (a) #1\0')), undefined, 'no trailing newline');
  assert.equal(findBanner(enc('Linux version 6.1.0 (a) #1 SMP\n')), undefined, 'no NUL');
  assert.equal(findBanner(enc('xxLinux version 6.1.0 (a) #1 SMP\n\0'))!.offset, 2);
});

test('scan: the first decodable stream after false magics, with trailing bytes', async () => {
  const xz = execFileSync('xz', ['-c', '--check=crc32'], { input: arm64Image() });
  assert.equal(xzStreamEnd(Buffer.concat([xz, Buffer.alloc(100, 0x59)]), 0), xz.length);
  const junk = Buffer.from([
    0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2, 3, 0x1f, 0x8b, 0x08, 0, 0, 0, 0x28, 0xb5, 0x2f, 0xfd, 9, 9,
  ]);
  const container = Buffer.concat([Buffer.alloc(0x200, 0x11), junk, xz, Buffer.from('trailing bytes YZ')]);
  const u = await unwrapKernelImage(container, { file: 'zImage' });
  assert.equal(u.kind, 'scanned');
  assert.equal(u.compression, 'xz');
  assert.equal(u.payloadOffset, 0x200 + junk.length);
  assert.equal(u.payloadLength, xz.length);
  assert.ok(Buffer.from(u.data).equals(arm64Image()));

  const gz = zlib.gzipSync(arm64Image());
  const u2 = await unwrapKernelImage(Buffer.concat([Buffer.alloc(16), gz, Buffer.alloc(33, 0xee)]), { file: 'zImage' });
  assert.deepEqual([u2.compression, u2.payloadOffset], ['gzip', 16]);

  await rejectsWith(unwrapKernelImage(Buffer.concat([Buffer.alloc(64), junk]), { file: 'junk' }), 'E_MAGIC');
});

test('zstdFrameEnd walks blocks to the frame end', () => {
  const z = execFileSync('zstd', ['-c', '-q', '--check'], { input: arm64Image() });
  assert.equal(zstdFrameEnd(Buffer.concat([z, Buffer.alloc(7, 1)]), 0), z.length);
  assert.equal(zstdFrameEnd(z.subarray(0, z.length - 1), 0), undefined);
});

test('bzImage: lzma/bzip2/lzo payloads are refused by name (lz4 is decoded: lz4.test.ts); unknown payload is E_MAGIC', async (t) => {
  const dir = needTestKernel(t);
  if (!dir) return;
  const bz = readFileSync(join(dir, 'bzImage'));
  const start = payloadStart(bz);
  const refused = [
    ['bzip2', [0x42, 0x5a, 0x68, 0x39]],
    ['lzma', [0x5d, 0, 0, 0x80]],
    ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
  ] as const;
  for (const [codec, magic] of refused) {
    const copy = Buffer.from(bz);
    copy.set(magic, start);
    const e = await rejectsWith(unwrapKernelImage(copy, { file: 'bz' }), 'E_UNSUPPORTED', new RegExp(codec));
    assert.equal(e.offset, start);
  }
  // an lz4 magic over another codec's stream is decoded, and fails as corrupt lz4 data
  const lz4 = Buffer.from(bz);
  lz4.set([0x02, 0x21, 0x4c, 0x18], start);
  let e: unknown;
  await unwrapKernelImage(lz4, { file: 'bz' }).catch((err: unknown) => (e = err));
  assert.ok(e instanceof FormatError && ['E_COMPRESS', 'E_TRUNCATED', 'E_LIMIT'].includes(e.code), String(e));
  assert.equal(e.format, 'lz4');
  const copy = Buffer.from(bz);
  copy.fill(0, start, start + 8);
  await rejectsWith(unwrapKernelImage(copy, { file: 'bz' }), 'E_MAGIC');
  const old = Buffer.from(bz);
  old.writeUInt16LE(0x0206, 0x206);
  await rejectsWith(unwrapKernelImage(old, { file: 'bz' }), 'E_UNSUPPORTED', /2\.06/);
});

test('decompression is bounded: E_LIMIT, never an allocation past the limit', async (t) => {
  // gzip bomb as Image.gz
  await rejectsWith(
    unwrapKernelImage(zlib.gzipSync(Buffer.alloc(64 * MiB)), { file: 'bomb.gz', maxSize: MiB }),
    'E_LIMIT',
  );
  // zstd bomb inside an unknown container (scan path)
  const z = execFileSync('zstd', ['-c', '-q'], { input: Buffer.alloc(64 * MiB) });
  await rejectsWith(
    unwrapKernelImage(Buffer.concat([Buffer.alloc(100), z]), { file: 'bomb', maxSize: MiB }),
    'E_LIMIT',
  );
  const dir = needTestKernel(t);
  if (!dir) return;
  const bz = readFileSync(join(dir, 'bzImage'));
  const h = parseBzImageHeader(bz, 'bz');
  const sizeAt = payloadStart(bz) + h.payload_length - 4;
  // the appended size is checked before decoding ...
  const e = await rejectsWith(unwrapKernelImage(bz, { file: 'bz', maxSize: MiB }), 'E_LIMIT');
  assert.equal(e.offset, sizeAt);
  // ... and a lying size field does not get past the decoder's own bound.
  const lying = Buffer.from(bz);
  lying.writeUInt32LE(100, sizeAt);
  await rejectsWith(unwrapKernelImage(lying, { file: 'bz', maxSize: MiB }), 'E_LIMIT');
});

test('truncated and mutated images give FormatError, never a crash or hang', { timeout: 120_000 }, async (t) => {
  const dir = needTestKernel(t);
  if (!dir) return;
  const bz = readFileSync(join(dir, 'bzImage'));
  const start = payloadStart(bz);
  const end = start + bz.readUInt32LE(0x24c); // the decompressor's own code and data follow the payload
  for (const n of [0, 1, 0x1f1, 0x202, 0x24f, 0x250, start, start + 1000, bz.length >> 1, end - 5, end - 1]) {
    const r = await unwrapKernelImage(bz.subarray(0, n), { file: 'bz' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(r instanceof FormatError, `length ${n}: ${String(r)}`);
  }
  // A shortened payload_length: the stream is cut and the "size" is stream bytes.
  for (const cut of [8, 1000, 100_000]) {
    const copy = Buffer.from(bz);
    copy.writeUInt32LE(copy.readUInt32LE(0x24c) - cut, 0x24c);
    const r = await unwrapKernelImage(copy, { file: 'bz', maxSize: 64 * MiB }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(r instanceof FormatError, `payload_length - ${cut}: ${String(r)}`);
  }
  // Seeded byte mutations of the setup header and the stream start: success or FormatError.
  let seed = 12345;
  const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
  for (let i = 0; i < 12; i++) {
    const copy = Buffer.from(bz);
    const at = i % 2 ? 0x1f0 + rand(0x70) : start + rand(4096);
    copy[at] = rand(256);
    const r = await unwrapKernelImage(copy, { file: 'bz', maxSize: 64 * MiB }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(r === undefined || r instanceof FormatError, `mutation at 0x${at.toString(16)}: ${String(r)}`);
  }
  // A truncated vmlinux: the section table or a section lies past the end.
  const vmlinux = readFileSync(join(dir, 'vmlinux'));
  for (const n of [64, 0x1000, vmlinux.length >> 1, vmlinux.length - 1]) {
    const r = await inspectVmlinux(vmlinux.subarray(0, n), { file: 'vmlinux' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(r instanceof FormatError, `vmlinux length ${n}: ${String(r)}`);
  }
});
