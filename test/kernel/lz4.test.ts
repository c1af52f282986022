/**
 * LZ4 legacy kernel payloads (src/compress/lz4.ts): streams the `lz4` tool writes (`lz4 -l`,
 * as scripts/Makefile.lib does) decoded against `lz4 -dc`, a bzImage whose payload is rebuilt as
 * lz4 with its size word, the container's termination rules (lib/decompress_unlz4.c), hostile
 * streams (code and absolute offset each), a mutation sweep, and, when a Debian cloud-amd64
 * 6.1 package is cached, the real image against the kernel's extract-vmlinux.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../../src/bytes/errors.js';
import { decodeLz4Legacy, LZ4_LEGACY_BLOCK_SIZE } from '../../src/compress/lz4.js';
import { decompressPayload } from '../../src/compress/stream.js';
import { parseBzImageHeader, unwrapKernelImage } from '../../src/kernel/image.js';
import { parseDeb, readDebData } from '../../src/deb/deb.js';
import { needTestKernel } from './helpers.js';
import { ROOT, kernelSet, runCli } from '../helpers.js';

const MiB = 1024 * 1024;
const MAGIC = [0x02, 0x21, 0x4c, 0x18];

/** `lz4 -l` (legacy frame) at a level, as the kernel build runs it (-9) or faster (-1). */
function lz4l(data: Uint8Array, level = '-1'): Buffer {
  return execFileSync('lz4', ['-l', level, '-c'], { input: data, maxBuffer: 1 << 30 });
}
function unlz4(stream: Uint8Array): Buffer {
  return execFileSync('lz4', ['-d', '-c'], { input: stream, maxBuffer: 1 << 30 });
}

function le32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
/** A legacy stream of raw blocks. */
function legacy(...blocks: (Uint8Array | number[])[]): Buffer {
  return Buffer.concat([Buffer.from(MAGIC), ...blocks.flatMap((b) => [le32(b.length), Buffer.from(b)])]);
}
/** LZ4 length extension bytes for a length field of `n` (beyond the nibble's 15). */
function ext(n: number): number[] {
  const out: number[] = [];
  for (; n >= 255; n -= 255) out.push(255);
  out.push(n);
  return out;
}

/** Deterministic, compressible-in-parts test data: text, zero runs, a counter, noise. */
function mixed(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  const text = Buffer.from('Linux version 6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP ');
  for (let i = 0; i < size;) {
    x = (x * 1103515245 + 12345) >>> 0;
    const run = Math.min(size - i, 16 + (x >>> 20));
    const kind = (x >>> 8) & 3;
    for (let j = 0; j < run; j++, i++) {
      if (kind === 0) out[i] = text[(i + j) % text.length]!;
      else if (kind === 1) out[i] = 0;
      else if (kind === 2) out[i] = i & 0xff;
      else out[i] = (x = (x * 1664525 + 1013904223) >>> 0) >>> 24;
    }
  }
  return out;
}

function caught(f: () => unknown): FormatError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof FormatError, `expected a FormatError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a FormatError, nothing was thrown');
}
/** Decoding `stream` placed at absolute offset `base` fails with `code` at `offset` (absolute). */
type FailOptions = { base?: number; maxSize?: number; size?: number };
function fails(stream: Uint8Array, code: string, offset: number, opts: FailOptions = {}): FormatError {
  const base = opts.base ?? 0x1000;
  const maxSize = opts.maxSize ?? 64 * MiB;
  const e = caught(() => decodeLz4Legacy(stream, { file: 'vmlinuz', base, maxSize, uncompressedSize: opts.size }));
  assert.equal(e.code, code, e.message);
  assert.equal(e.offset, base + offset, `${e.message}: offset`);
  assert.equal(e.format, 'lz4');
  return e;
}
function decode(stream: Uint8Array, size?: number): Buffer {
  return Buffer.from(decodeLz4Legacy(stream, { file: 'x', maxSize: 64 * MiB, uncompressedSize: size }));
}

test('lz4 -l streams decode to what lz4 -dc gives, at -1 and -9, across block boundaries', () => {
  const inputs: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['1 byte', Buffer.from('a')],
    ['13 bytes', Buffer.from('aaaaaaaaaaaaa')],
    ['100 KiB mixed', mixed(100 * 1024)],
    ['1 MiB noise (stored literals)', mixed(MiB, 7).map((_, i) => (i * 2654435761) >>> 24)],
    ['8 MiB exactly', mixed(LZ4_LEGACY_BLOCK_SIZE, 3)],
    ['8 MiB + 1', mixed(LZ4_LEGACY_BLOCK_SIZE + 1, 4)],
    ['20 MiB mixed', mixed(20 * MiB, 5)],
    ['24 MiB zeros', new Uint8Array(24 * MiB)],
  ];
  for (const [name, data] of inputs) {
    for (const level of ['-1', '-9']) {
      if (level === '-9' && data.length > 9 * MiB) continue; // slow; the 20 MiB cases run at -1
      const stream = lz4l(data, level);
      const theirs = unlz4(stream);
      assert.ok(theirs.equals(data), `${name}: lz4 round trip`);
      assert.ok(decode(stream).equals(theirs), `${name} ${level}`);
      assert.ok(decode(stream, data.length).equals(theirs), `${name} ${level} with its size`);
    }
  }
});

test('the test kernel as a bzImage with an lz4 payload (lz4 -l -9 + size word), as the kernel builds it', async (t) => {
  const dir = needTestKernel(t);
  const bz = readFileSync(join(dir, 'bzImage'));
  const vmlinux = readFileSync(join(dir, 'vmlinux'));
  const h = parseBzImageHeader(bz, 'bz');
  const start = (h.setup_sects + 1) * 512 + h.payload_offset;
  const stream = lz4l(vmlinux, '-9');
  const payload = Buffer.concat([stream, le32(vmlinux.length)]);
  const image = Buffer.concat([bz.subarray(0, start), payload]);
  image.writeUInt32LE(payload.length, 0x24c);

  const u = await unwrapKernelImage(image, { file: 'bz' });
  assert.deepEqual(
    [u.kind, u.compression, u.isElf, u.payloadOffset, u.payloadLength],
    ['bzimage', 'lz4', true, start, payload.length],
  );
  assert.ok(Buffer.from(u.data).equals(vmlinux));
  const sized = await decompressPayload(stream, 'lz4', 'bz', start, undefined, vmlinux.length);
  assert.ok(Buffer.from(sized).equals(vmlinux));

  // errors inside the payload carry absolute offsets in the image
  const cut = Buffer.concat([bz.subarray(0, start), stream.subarray(0, 1000), le32(vmlinux.length)]);
  cut.writeUInt32LE(1004, 0x24c);
  const e = await unwrapKernelImage(cut, { file: 'bz' }).then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(e instanceof FormatError && e.code === 'E_TRUNCATED', String(e));
  assert.equal(e.offset, start + 4, 'the first block size word');
  const small = await unwrapKernelImage(image, { file: 'bz', maxSize: MiB }).then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(small instanceof FormatError && small.code === 'E_LIMIT', String(small));
});

test('container: end of stream, concatenated frames and the appended size, as unlz4() reads them', () => {
  const data = mixed(50_000);
  const stream = lz4l(data);
  // fewer than 4 bytes left, or a size word of 0, end the stream; what follows is ignored
  for (const tail of [[1], [1, 2], [1, 2, 3], [0, 0, 0, 0], [0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 9]]) {
    assert.ok(decode(Buffer.concat([stream, Buffer.from(tail)])).equals(data), `tail ${tail.join(',')}`);
  }
  assert.equal(decode(Buffer.from(MAGIC)).length, 0);
  // a repeated magic is skipped: frames concatenated after a full 8 MiB block
  const first = mixed(LZ4_LEGACY_BLOCK_SIZE, 9);
  const two = Buffer.concat([lz4l(first), stream]);
  assert.ok(decode(two).equals(unlz4(two)));
  assert.ok(decode(two, first.length + data.length).equals(Buffer.concat([first, data])));
  // a block shorter than 8 MiB that is not the last: the boot decoder (8 MiB per block) misreads it
  fails(Buffer.concat([stream, stream]), 'E_COMPRESS', stream.length + 4);
  fails(legacy([0x10, 0x61], [0x10, 0x62]), 'E_COMPRESS', 4 + 6);
  // the appended size must be the decoded size, and within the limit
  fails(stream, 'E_COMPRESS', stream.length, { size: data.length + 1 });
  fails(legacy([0x10, 0x61]), 'E_COMPRESS', 8, { size: 0 }); // decodes past it: at the sequence that crosses it
  fails(stream, 'E_LIMIT', stream.length, { size: 2 * MiB, maxSize: MiB });
  fails(Buffer.from([0x02, 0x21, 0x4c]), 'E_MAGIC', 0);
  fails(Buffer.from([0x03, 0x21, 0x4c, 0x18, 0, 0, 0, 0]), 'E_MAGIC', 0);
});

test('hand-made blocks: valid ones agree with lz4 -dc; end-of-block rules are kept', () => {
  const lits = Buffer.from('0123456789a');
  // 'A', then a 4-byte match at offset 1 (overlapping), then 11 literals: starts >= 12, ends >= 5 before the end
  const ok = legacy([0x10, 0x41, 1, 0, 0xb0, ...lits]);
  assert.ok(decode(ok).equals(Buffer.from('AAAAA0123456789a')));
  assert.ok(decode(ok).equals(unlz4(ok)));
  // long literal and match lengths (extension bytes, including a 255 followed by 0): 270 literals,
  // a 600-byte match at offset 256, 15 last literals
  const long = legacy([
    0xff,
    ...ext(270 - 15),
    ...mixed(270),
    0,
    1,
    ...ext(600 - 19),
    0xf0,
    ...ext(0),
    ...Buffer.alloc(15, 0x43),
  ]);
  assert.ok(decode(long).equals(unlz4(long)));
  assert.equal(decode(long).length, 270 + 600 + 15);

  const at = 8; // the first block's data
  fails(legacy([0x10, 0x41, 1, 0]), 'E_COMPRESS', at + 4); // ends after a match: no last literals
  fails(legacy([0x10, 0x41, 1, 0, 0x40, 1, 2, 3, 4]), 'E_COMPRESS', at); // last match ends 4 bytes before the end
  fails(legacy([0x10, 0x41, 1, 0, 0x60, ...lits.subarray(0, 6)]), 'E_COMPRESS', at); // last match starts 10 before
});

test('hostile streams: each a FormatError with its code and absolute offset', () => {
  const at = 8;
  const tail = [0x50, 1, 2, 3, 4, 5];
  // a block size past the data: truncated, at the size word
  fails(Buffer.concat([Buffer.from(MAGIC), le32(100), Buffer.alloc(99)]), 'E_TRUNCATED', 4);
  const good = lz4l(mixed(200_000));
  fails(good.subarray(0, good.length - 1), 'E_TRUNCATED', 4);
  fails(good.subarray(0, 7), 'E_COMPRESS', 7, { size: 200_000 }); // 3 bytes: end of stream, no output
  // match offsets: before the block's output, and 0
  fails(legacy([0x10, 0x41, 2, 0, ...tail]), 'E_COMPRESS', at + 2);
  fails(legacy([0x00, 1, 0, ...tail]), 'E_COMPRESS', at + 1);
  fails(legacy([0x10, 0x41, 0, 0, ...tail]), 'E_COMPRESS', at + 2);
  // lengths and fields running past the block
  fails(legacy([0xf0]), 'E_COMPRESS', at + 1);
  fails(legacy([0xf0, 255, 255]), 'E_COMPRESS', at + 3);
  fails(legacy([0x50, 0x61, 0x62]), 'E_COMPRESS', at + 1);
  fails(legacy([0x1f, 0x41, 1]), 'E_COMPRESS', at + 2);
  fails(legacy([0x1f, 0x41, 1, 0, 255, 255]), 'E_COMPRESS', at + 6);
  // a block decoding past 8 MiB (a literal and an 8 MiB match), in 33 KB of input
  const huge = legacy([0x1f, 0x41, 1, 0, ...ext(LZ4_LEGACY_BLOCK_SIZE - 19), ...tail]);
  fails(huge, 'E_COMPRESS', at);
  // output past maxSize: E_LIMIT at the sequence that crosses it; also in a real stream
  const twoMiB = legacy([0x1f, 0x41, 1, 0, ...ext(2 * MiB - 19), 0xb0, ...Buffer.alloc(11)]);
  assert.equal(decode(twoMiB).length, 2 * MiB + 12);
  fails(twoMiB, 'E_LIMIT', at, { maxSize: MiB });
  const zeros = lz4l(new Uint8Array(20 * MiB));
  const second = 8 + zeros.readUInt32LE(4) + 4; // the second block's data
  const e = caught(() => decodeLz4Legacy(zeros, { file: 'z', base: 0x200, maxSize: 9 * MiB }));
  assert.equal(e.code, 'E_LIMIT');
  assert.ok(
    e.offset >= 0x200 + second && e.offset < 0x200 + second + zeros.readUInt32LE(second - 4),
    `0x${e.offset.toString(16)}`,
  );
});

test('mutated and truncated lz4 streams: a result or a FormatError, never anything else', () => {
  const data = mixed(40_000, 11);
  const stream = lz4l(data);
  const codes = new Set(['E_COMPRESS', 'E_TRUNCATED', 'E_LIMIT', 'E_MAGIC']);
  const check = (s: Uint8Array, what: string): void => {
    try {
      const out = decodeLz4Legacy(s, { file: 'm', base: 0x100, maxSize: 256 * 1024 });
      assert.ok(out.length <= 256 * 1024);
    } catch (e) {
      assert.ok(e instanceof FormatError && codes.has(e.code), `${what}: ${String(e)}`);
      assert.ok(e.offset >= 0x100 && e.offset <= 0x100 + s.length, `${what}: offset ${e.offset}`);
    }
  };
  for (let n = 0; n <= stream.length; n += n < 64 ? 1 : 97) check(stream.subarray(0, n), `cut at ${n}`);
  let x = 12345;
  const rand = (m: number): number => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) % m;
  for (let i = 0; i < 3000; i++) {
    const m = Buffer.from(stream);
    for (let k = 1 + rand(4); k > 0; k--) m[4 + rand(m.length - 4)] = rand(256);
    check(m, `mutation ${i}`);
  }
});

/** The kernel's own scripts/extract-vmlinux: from the kit's source tree, else from the source package the BTF oracle fetched. */
function extractVmlinux(): string {
  const inKit = join(ROOT, '.cache/testkernel/work/linux/scripts/extract-vmlinux');
  if (existsSync(inKit)) return inKit;
  const anchors = join(ROOT, '.cache/anchors');
  const deb = readdirSync(anchors)
    .filter((f) => /^linux-source-6\.12_.*_all\.deb$/.test(f))
    .sort()
    .pop();
  assert.ok(deb, 'no linux-source-6.12 package in .cache/anchors (npm test fetches it)');
  const out = join(anchors, 'extract-vmlinux');
  if (!existsSync(out)) {
    const member = execFileSync(
      'sh',
      [
        '-c',
        `dpkg-deb --fsys-tarfile "${join(anchors, deb)}" | tar -xO ./usr/src/linux-source-6.12.tar.xz | xz -dc | ` +
          `tar -xO --wildcards '*/scripts/extract-vmlinux'`,
      ],
      { maxBuffer: 1 << 20 },
    );
    writeFileSync(out, member, { mode: 0o755 });
  }
  return out;
}

test(
  'Debian 12 cloud-amd64 6.1 (lz4 bzImage): kernel --json; vmlinux equals extract-vmlinux',
  { timeout: 300_000 },
  async () => {
    const cloud = kernelSet('amd64-6.1-cloud');
    assert.ok(cloud, 'amd64-6.1-cloud not cached (npm test fetches it: scripts/fetch-kernels.sh)');
    const debs = [cloud.deb];
    const extract = extractVmlinux();
    for (const deb of debs) {
      const r = await runCli(['kernel', '--json', deb]);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout.toString('utf8')) as {
        compression: string;
        exports: { count: number };
        certificates: unknown[];
      };
      assert.equal(j.compression, 'lz4');
      assert.ok(j.exports.count > 1000 && j.certificates.length >= 1, deb);
      const bytes = readFileSync(deb);
      const files = (
        await readDebData(parseDeb(bytes, deb), deb, { select: (e) => e.path.startsWith('boot/vmlinuz-') })
      ).files;
      const [[, vmlinuz]] = [...files] as [[string, Uint8Array]];
      const ours = await unwrapKernelImage(vmlinuz, { file: 'vmlinuz' });
      const tmp = mkdtempSync(join(tmpdir(), 'kmodseal-lz4-'));
      try {
        writeFileSync(join(tmp, 'vmlinuz'), vmlinuz);
        const theirs = execFileSync(extract, [join(tmp, 'vmlinuz')], { maxBuffer: 1 << 30 });
        assert.ok(Buffer.from(ours.data).equals(theirs), `${deb}: vmlinux differs from extract-vmlinux`);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
  },
);
