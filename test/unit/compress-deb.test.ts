/** src/compress (gzip, zstd, xz, lz4 legacy) and src/deb (ar, .deb members, data.tar), inputs built by code. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { decompressModule, probeCompression, xzBackend } from '../../src/compress/index.js';
import { decodeLz4Legacy, LZ4_LEGACY_MAGIC } from '../../src/compress/lz4.js';
import { gzipCompress, xzCompress, zstdCompress } from '../../src/sign/compressed.js';
import { parseAr, probeAr } from '../../src/deb/ar.js';
import { parseDeb, readDebControl, readDebData } from '../../src/deb/deb.js';
import { latin1, patched, rejectsAt, throwsAt } from './fixtures.js';

const PLAIN = Uint8Array.from({ length: 5000 }, (_, i) => i % 7);
const flipped = (d: Uint8Array, at: number): Uint8Array => patched(d, (_, b) => void (b[at] = b[at]! ^ 0xff));

describe('module decompression', () => {
  const codecs = [
    ['gzip', async () => gzipCompress(PLAIN)],
    ['zstd', async () => zstdCompress(PLAIN)],
    ['xz', async () => xzCompress(PLAIN)],
  ] as const;
  for (const [name, make] of codecs) {
    test(`${name}: probed by magic and decoded to the same bytes`, async () => {
      const c = await make();
      assert.equal(probeCompression(c), name);
      const r = await decompressModule(c, `m.ko.${name}`);
      assert.equal(r.compression, name);
      assert.deepEqual(Buffer.from(r.data), Buffer.from(PLAIN));
    });
  }

  test('uncompressed input is returned as is', async () => {
    const r = await decompressModule(PLAIN, 'm.ko');
    assert.equal(r.compression, 'none');
    assert.equal(r.data, PLAIN);
  });

  // [codec, what, input, maxSize, code, offset]
  const bad = async (): Promise<[string, Uint8Array, number | undefined, string, number][]> => {
    const gz = gzipCompress(PLAIN);
    const zst = zstdCompress(PLAIN);
    const xz = await xzCompress(PLAIN);
    const native = xzBackend() === 'liblzma';
    return [
      ['gzip cut short: at its end', gz.subarray(0, gz.length - 20), undefined, 'E_TRUNCATED', gz.length - 20],
      ['gzip corrupt', flipped(gz, 24), undefined, 'E_COMPRESS', 0],
      ['gzip bomb', gz, 100, 'E_LIMIT', 0],
      ['zstd cut short: at its end', zst.subarray(0, 9), undefined, 'E_TRUNCATED', 9],
      ['zstd checksum', flipped(zst, 14), undefined, 'E_COMPRESS', 0],
      ['zstd bomb: at Frame_Content_Size', zst, 100, 'E_LIMIT', 5],
      ['xz bomb: at the index', xz, 100, 'E_LIMIT', xz.length - 12],
      // liblzma reports where it stopped; lzma-native (no addon built) reports no offset
      [
        'xz cut short',
        xz.subarray(0, xz.length - 20),
        undefined,
        native ? 'E_TRUNCATED' : 'E_COMPRESS',
        native ? xz.length - 20 : 0,
      ],
      ['xz corrupt block', flipped(xz, 50), undefined, 'E_COMPRESS', native ? 66 : 0],
    ];
  };
  test('corrupt, truncated and oversized streams: code and offset', async () => {
    for (const [what, data, max, code, offset] of await bad()) {
      await rejectsAt(() => decompressModule(data, 'm.ko', max), code, offset, what);
    }
  });
});

describe('lz4 legacy (kernel payloads)', () => {
  // literals "abcdefgh", a 16-byte match 8 back, then 12 closing literals
  const block = Uint8Array.from([0x8c, ...latin1('abcdefgh'), 0x08, 0x00, 0xc0, ...latin1('ABCDEFGHIJKL')]);
  const want = latin1('abcdefghabcdefghabcdefghABCDEFGHIJKL');
  const frame = (...blocks: Uint8Array[]): Uint8Array => {
    const parts: number[] = [];
    const u32 = (n: number): void => void parts.push(n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24);
    u32(LZ4_LEGACY_MAGIC);
    for (const b of blocks) {
      u32(b.length);
      parts.push(...b);
    }
    return Uint8Array.from(parts);
  };

  test('literals and an overlapping match decode; the appended size is checked', () => {
    const decode = (o: { uncompressedSize?: number }): Buffer =>
      Buffer.from(decodeLz4Legacy(frame(block), { file: 'vmlinuz', maxSize: 1 << 20, ...o }));
    assert.deepEqual(decode({}), Buffer.from(want));
    assert.deepEqual(decode({ uncompressedSize: 36 }), Buffer.from(want));
  });

  const cases: [string, Uint8Array, { maxSize?: number; uncompressedSize?: number; base?: number }, string, number][] =
    [
      ['no magic', latin1('\x02\x21\x4c\x19xxxx'), {}, 'E_MAGIC', 0],
      ['no magic, in a container at 0x1000', latin1('abcd'), { base: 0x1000 }, 'E_MAGIC', 0x1000],
      ['a block longer than the data', frame(block).subarray(0, 20), {}, 'E_TRUNCATED', 4],
      [
        'a smaller size appended: at the token that passes it',
        frame(block),
        { uncompressedSize: 35 },
        'E_COMPRESS',
        19,
      ],
      [
        'a larger size appended: at the end',
        frame(block),
        { uncompressedSize: 40 },
        'E_COMPRESS',
        4 + 4 + block.length,
      ],
      [
        'appended size above the limit',
        frame(block),
        { maxSize: 20, uncompressedSize: 36 },
        'E_LIMIT',
        4 + 4 + block.length,
      ],
      ['output above the limit: at the match', frame(block), { maxSize: 20 }, 'E_LIMIT', 8],
      ['a short block followed by another', frame(block, block), {}, 'E_COMPRESS', 8 + block.length],
      ['match offset 0', frame(patched(block, (_, b) => void (b[9] = 0))), {}, 'E_COMPRESS', 17],
    ];
  for (const [name, data, o, code, offset] of cases) {
    test(`${name} → ${code} at ${offset}`, () =>
      throwsAt(() => decodeLz4Legacy(data, { file: 'vmlinuz', maxSize: o.maxSize ?? 1 << 20, ...o }), code, offset));
  }
});

/** An ar member: 60-byte header, data, pad to even. */
function arMember(name: string, data: Uint8Array, size = String(data.length)): Uint8Array {
  const h = `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${size.padEnd(10)}\`\n`;
  return Uint8Array.from(Buffer.concat([latin1(h), data, data.length & 1 ? latin1('\n') : new Uint8Array(0)]));
}
const ar = (...members: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat([latin1('!<arch>\n'), ...members]));

async function tarOf(files: Record<string, string>): Promise<Uint8Array> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  pack.entry({ name: './', type: 'directory' });
  for (const [name, text] of Object.entries(files)) pack.entry({ name: `./${name}`, mode: 0o644 }, text);
  pack.finalize();
  await done;
  return Uint8Array.from(Buffer.concat(chunks));
}

describe('ar and .deb', () => {
  test('ar members: names, GNU "/" stripped, odd sizes padded, offsets absolute', () => {
    const a = ar(
      arMember('debian-binary', latin1('2.0\n')),
      arMember('odd/', latin1('abc')),
      arMember('last', latin1('z')),
    );
    assert.equal(probeAr(a), true);
    const m = parseAr(a, 'p.deb');
    assert.deepEqual(
      m.map((x) => [x.name, x.offset, Buffer.from(x.data).toString(), x.mode]),
      [
        ['debian-binary', 68, '2.0\n', 0o100644],
        ['odd', 132, 'abc', 0o100644],
        ['last', 196, 'z', 0o100644],
      ],
    );
  });

  const one = arMember('x', latin1('12'));
  const bad: [string, Uint8Array, string, number][] = [
    ['no magic', latin1('!<arch>'), 'E_MAGIC', 0],
    ['header cut off', ar(one.subarray(0, 30)), 'E_TRUNCATED', 8],
    ['no "`\\n" at the end of the header', ar(patched(one, (_, b) => void (b[58] = 0x20))), 'E_FORMAT', 8 + 58],
    ['ar_size not a number', ar(arMember('x', latin1('12'), '1x')), 'E_FORMAT', 8 + 48],
    ['ar_size past the end', ar(arMember('x', latin1('12'), '99')), 'E_TRUNCATED', 8 + 60],
  ];
  for (const [name, data, code, offset] of bad) {
    test(`ar: ${name} → ${code} at ${offset}`, () => throwsAt(() => parseAr(data, 'p.deb'), code, offset));
  }

  test('a .deb: format 2.0, control.tar.gz read, data.tar listed and files selected', async () => {
    const control = zlib.gzipSync(
      await tarOf({ control: 'Package: linux-image-unit\nVersion: 1\nDescription: a\n b\n' }),
    );
    const data = await tarOf({ 'boot/vmlinuz-6.12.0': 'kernel', 'lib/modules/6.12.0/kernel/a.ko': 'module' });
    const deb = ar(
      arMember('debian-binary', latin1('2.0\n')),
      arMember('control.tar.gz', control),
      arMember('data.tar', data),
    );
    const d = parseDeb(deb, 'p.deb');
    assert.deepEqual([d.formatVersion, d.controlCompression, d.dataCompression], ['2.0', 'gzip', 'none']);
    const fields = await readDebControl(d, 'p.deb');
    assert.equal(fields.get('Package'), 'linux-image-unit');
    assert.equal(fields.get('Description'), 'a\nb');
    const t = await readDebData(d, 'p.deb', { select: (e) => e.path.startsWith('boot/') });
    assert.deepEqual(
      t.entries.map((e) => [e.path, e.type]),
      [
        ['.', 'directory'],
        ['boot/vmlinuz-6.12.0', 'file'],
        ['lib/modules/6.12.0/kernel/a.ko', 'file'],
      ],
    );
    assert.deepEqual([...t.files.keys()], ['boot/vmlinuz-6.12.0']);
    assert.equal(Buffer.from(t.files.get('boot/vmlinuz-6.12.0')!).toString(), 'kernel');
  });

  const bin = arMember('debian-binary', latin1('2.0\n'));
  const debs: [string, Uint8Array, string, number][] = [
    ['first member not debian-binary', ar(arMember('control.tar', latin1('x'))), 'E_FORMAT', 8],
    ['format 3.0', ar(arMember('debian-binary', latin1('3.0\n'))), 'E_FORMAT', 68],
    ['no control.tar', ar(bin, arMember('data.tar', latin1('x'))), 'E_FORMAT', 72],
    ['no data.tar', ar(bin, arMember('control.tar', latin1('x'))), 'E_FORMAT', 133],
    [
      'data.tar.bz2',
      ar(bin, arMember('control.tar', latin1('xx')), arMember('data.tar.bz2', latin1('x'))),
      'E_UNSUPPORTED',
      194,
    ],
  ];
  for (const [name, data, code, offset] of debs) {
    test(`.deb: ${name} → ${code} at ${offset}`, () => throwsAt(() => parseDeb(data, 'p.deb'), code, offset));
  }

  test('a corrupt data.tar.gz: E_COMPRESS', async () => {
    const gz = zlib.gzipSync(await tarOf({ a: 'b' }));
    const deb = ar(bin, arMember('control.tar', latin1('xx')), arMember('data.tar.gz', flipped(gz, 20)));
    await assert.rejects(
      () => readDebData(parseDeb(deb, 'p.deb'), 'p.deb'),
      (e: { code?: string }) => e.code === 'E_COMPRESS',
    );
  });
});
