/** EFI zboot images (arm64 and others), built by code: header, payload codecs, bad input. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { unwrapKernelImage, probeKernelImage } from '../../src/kernel/image.js';
import { inspectKernelImage } from '../../src/kernel/inspect.js';
import { FormatError } from '../../src/bytes/errors.js';

/** A raw "Image" with an arm64 header and a banner, as the payload. */
function image(): Buffer {
  const img = Buffer.alloc(256 * 1024, 0);
  img.write('ARMd', 0x38, 'latin1');
  img.write(
    'Linux version 6.1.0-99-arm64 (debian-kernel@lists.debian.org) (gcc-12) #1 SMP Debian 6.1.999-1 (2026-11-28)\n\0',
    0x1000,
    'latin1',
  );
  return img;
}

/** drivers/firmware/efi/libstub/zboot-header.S layout, then the payload. */
function zboot(type: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(512, 0);
  head.write('MZ', 0, 'latin1');
  head.write('zimg', 4, 'latin1');
  head.writeUInt32LE(512, 8);
  head.writeUInt32LE(payload.length, 12);
  head.write(type, 24, 'latin1');
  return Buffer.concat([head, payload]);
}
const withSize = (stream: Buffer, size: number): Buffer => {
  const s = Buffer.alloc(4);
  s.writeUInt32LE(size);
  return Buffer.concat([stream, s]);
};

test('gzip and zstd zboot payloads unwrap to the Image; release and banner are read', async () => {
  const img = image();
  for (const [type, payload] of [
    ['gzip', zlib.gzipSync(img)],
    ['zstd', withSize(execFileSync('zstd', ['-q', '-c', '--ultra', '-22'], { input: img }), img.length)],
    ['xz', withSize(execFileSync('xz', ['--check=crc32', '-c'], { input: img }), img.length)],
  ] as const) {
    const data = zboot(type, payload);
    assert.equal(probeKernelImage(data), 'efi-zboot');
    const u = await unwrapKernelImage(data, { file: `zboot-${type}` });
    assert.equal(u.kind, 'efi-zboot');
    assert.equal(u.compression, type);
    assert.ok(Buffer.from(u.data).equals(img), type);
    const k = await inspectKernelImage(data, { file: `zboot-${type}` });
    assert.equal(k.release, '6.1.0-99-arm64');
  }
});

test('a zboot payload in a codec without a decoder is named; a payload past the end is a range error', async () => {
  const bz2ish = zboot('bzip2', Buffer.from([0x42, 0x5a, 0x68, 0x39, 1, 2, 3, 4, 5, 6, 7, 8]));
  await assert.rejects(
    unwrapKernelImage(bz2ish, { file: 'z' }),
    (e: FormatError) => e.code === 'E_UNSUPPORTED' && /bzip2/.test(e.message),
  );
  // lz4 is decoded now: a damaged stream is a decoding error at its offset
  const lz4ish = zboot('lz4', Buffer.from([0x02, 0x21, 0x4c, 0x18, 1, 2, 3, 4, 5, 6, 7, 8]));
  await assert.rejects(
    unwrapKernelImage(lz4ish, { file: 'z' }),
    (e: FormatError) => e.code === 'E_TRUNCATED' && /lz4 block declares/.test(e.message),
  );
  const bad = zboot('gzip', zlib.gzipSync(image()));
  bad.writeUInt32LE(bad.length * 2, 12);
  await assert.rejects(
    unwrapKernelImage(bad, { file: 'z' }),
    (e: FormatError) => e.code === 'E_RANGE' || e.code === 'E_TRUNCATED',
  );
});
