/** newc writing and initramfs re-packing, over archives built here and read back by readInitramfs(). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { readInitramfs, S_IFDIR, S_IFLNK, S_IFREG, type InitramfsEntry } from './initramfs.js';
import { cpioChecksum, repackInitramfs, repackable, replaceCpioData, writeNewc, type CpioEntry } from './write.js';

const te = new TextEncoder();
const bytes = (s: string): Uint8Array => te.encode(s);
const gzip = (b: Uint8Array): Uint8Array => new Uint8Array(zlib.gzipSync(b));
const gunzipAll = async (_c: string, cpio: Uint8Array): Promise<Uint8Array> => gzip(cpio);

const ROOT: CpioEntry[] = [
  { name: '.', mode: S_IFDIR | 0o755, ino: 1, nlink: 2, mtime: 1700000000 },
  { name: 'init', mode: S_IFREG | 0o755, ino: 2, uid: 0, gid: 0, mtime: 1700000001, data: bytes('#!/bin/sh\n') },
  { name: 'lib', mode: S_IFLNK | 0o777, ino: 3, data: bytes('usr/lib') },
  {
    name: 'usr/lib/modules/6.1.0-1-amd64/kernel/a.ko',
    mode: S_IFREG | 0o644,
    ino: 4,
    uid: 12,
    gid: 34,
    mtime: 0xabcdef,
    data: bytes('module a, 17 bytes'),
  },
  { name: 'usr/lib/modules/6.1.0-1-amd64/kernel/b.ko', mode: S_IFREG | 0o644, ino: 5, data: bytes('b') },
];

test('writeNewc: headers, padding and the trailer as readInitramfs reads them; GNU cpio block padding', async () => {
  const a = writeNewc(ROOT);
  assert.equal(a.length % 4, 0);
  assert.equal(Buffer.from(a.subarray(0, 6)).toString(), '070701');
  const fs = await readInitramfs(a, 'a.cpio');
  assert.equal(fs.archives.length, 1);
  assert.deepEqual(
    fs.entries.map((e) => [e.name, e.mode, e.ino, e.mtime, Buffer.from(e.data).toString()]),
    ROOT.map((e) => [e.name, e.mode, e.ino ?? 0, e.mtime ?? 0, Buffer.from(e.data ?? new Uint8Array()).toString()]),
  );
  // the trailer: namesize 11, nlink 1
  const text = Buffer.from(a).toString('latin1');
  const t = text.lastIndexOf('070701');
  assert.equal(text.slice(t + 110, t + 120), 'TRAILER!!!');
  assert.equal(text.slice(t + 6 + 8 * 4, t + 6 + 8 * 5), '00000001');
  assert.equal(text.slice(t + 6 + 8 * 11, t + 6 + 8 * 12), '0000000B');
  // uid and gid are where newc has them
  const h = text.indexOf('usr/lib/modules/6.1.0-1-amd64/kernel/a.ko') - 110;
  assert.equal(text.slice(h + 6 + 16, h + 6 + 32), '0000000C00000022');
  const padded = writeNewc(ROOT, { blockSize: 512 });
  assert.equal(padded.length % 512, 0);
  assert.deepEqual(padded.subarray(0, a.length), a);
  assert.ok(padded.subarray(a.length).every((b) => b === 0));
  assert.throws(() => writeNewc([{ name: '', mode: S_IFREG }]), /empty or holds a NUL/);
  assert.throws(() => writeNewc([{ name: 'x', mode: S_IFREG, mtime: 2 ** 32 }]), /E_RANGE|does not fit/);
});

function byName(entries: readonly InitramfsEntry[], name: string): InitramfsEntry {
  const e = entries.find((x) => x.name === name);
  assert.ok(e, name);
  return e;
}

test('replaceCpioData: a replaced entry keeps its header but c_filesize; other bytes kept; lower-case hex stays so', async () => {
  const a = writeNewc(ROOT);
  const fs = await readInitramfs(a, 'a.cpio');
  const target = byName(fs.entries, 'usr/lib/modules/6.1.0-1-amd64/kernel/a.ko');
  const longer = bytes('module a, signed now: quite a bit longer than before');
  const out = replaceCpioData(a, 'a.cpio', fs.entries, new Map([[target, longer]]));
  const back = await readInitramfs(out, 'out.cpio');
  assert.deepEqual(
    back.entries.map((e) => e.name),
    fs.entries.map((e) => e.name),
  );
  for (const e of back.entries) {
    const was = byName(fs.entries, e.name);
    assert.equal(e.mode, was.mode);
    assert.equal(e.ino, was.ino);
    assert.equal(e.mtime, was.mtime);
    assert.deepEqual(e.data, e.name === target.name ? longer : was.data);
  }
  // the bytes before the replaced entry are identical; uid/gid kept
  assert.deepEqual(out.subarray(0, target.offset), a.subarray(0, target.offset));
  const t = Buffer.from(out).toString('latin1');
  const h = t.indexOf(target.name) - 110;
  assert.equal(t.slice(h + 6 + 16, h + 6 + 32), '0000000C00000022');
  assert.equal(t.slice(h + 6 + 48, h + 6 + 56), longer.length.toString(16).toUpperCase().padStart(8, '0'));

  // an archive written with lower-case hex digits (and the crc format) keeps them, with c_check recomputed
  const lower = bytes(
    Buffer.from(a)
      .toString('latin1')
      .replace(/070701([0-9A-F]{104})/g, (_m, h: string) => '070702' + h.toLowerCase()),
  );
  const lfs = await readInitramfs(lower, 'lower.cpio');
  const lt = byName(lfs.entries, target.name);
  const lout = Buffer.from(replaceCpioData(lower, 'lower.cpio', lfs.entries, new Map([[lt, longer]]))).toString(
    'latin1',
  );
  const lh = lout.indexOf(target.name) - 110;
  assert.equal(lout.slice(lh, lh + 6), '070702');
  assert.equal(lout.slice(lh + 6 + 48, lh + 6 + 56), longer.length.toString(16).padStart(8, '0'));
  assert.equal(lout.slice(lh + 6 + 96, lh + 6 + 104), cpioChecksum(longer).toString(16).padStart(8, '0'));
  assert.equal(cpioChecksum(new Uint8Array([255, 255, 1])), 511);
});

test('repackInitramfs: the early archive is copied, the compressed one re-packed with its codec; offsets stay 4-aligned', async () => {
  const early = writeNewc(
    [
      { name: 'kernel', mode: S_IFDIR | 0o755 },
      { name: 'kernel/x86/microcode/AuthenticAMD.bin', mode: S_IFREG | 0o644, data: bytes('ucode!') },
    ],
    { blockSize: 512 },
  );
  const main = gzip(writeNewc(ROOT, { blockSize: 512 }));
  const tail = new Uint8Array(3); // NUL padding after the last archive
  const image = new Uint8Array(early.length + main.length + tail.length);
  image.set(early);
  image.set(main, early.length);
  const fs = await readInitramfs(image, 'initrd.img');
  assert.deepEqual(
    fs.archives.map((a) => a.compression),
    ['none', 'gzip'],
  );
  const target = byName(fs.entries, 'usr/lib/modules/6.1.0-1-amd64/kernel/b.ko');
  const codecs: string[] = [];
  const out = await repackInitramfs(
    image,
    'initrd.img',
    fs,
    new Map([[target, bytes('b, and a signature of 35 bytes here')]]),
    async (codec, cpio, i) => {
      codecs.push(`${codec}:${i}`);
      return gunzipAll(codec, cpio);
    },
  );
  assert.deepEqual(codecs, ['gzip:1']);
  assert.deepEqual(out.subarray(0, early.length), early, 'the early archive is copied byte for byte');
  assert.deepEqual(out.subarray(out.length - 3), tail);
  const back = await readInitramfs(out, 'out.img');
  assert.deepEqual(
    back.entries.map((e) => e.name),
    fs.entries.map((e) => e.name),
  );
  assert.equal(Buffer.from(byName(back.entries, target.name).data).toString(), 'b, and a signature of 35 bytes here');
  // nothing to replace: the same bytes
  assert.deepEqual(await repackInitramfs(image, 'initrd.img', fs, new Map(), gunzipAll), image);

  // a plain archive after a compressed one whose length changes stays 4-aligned
  const odd = gzip(writeNewc(ROOT));
  const plain = writeNewc([{ name: 'etc/x', mode: S_IFREG | 0o644, data: bytes('x') }]);
  const gap = (4 - (odd.length % 4)) % 4;
  const img2 = new Uint8Array(odd.length + gap + plain.length);
  img2.set(odd);
  img2.set(plain, odd.length + gap);
  const fs2 = await readInitramfs(img2, 'two.img');
  const t2 = byName(fs2.entries, 'init');
  for (const extra of ['', 'a', 'ab', 'abc']) {
    const out2 = await repackInitramfs(img2, 'two.img', fs2, new Map([[t2, bytes('#!/bin/sh\n' + extra)]]), gunzipAll);
    const b2 = await readInitramfs(out2, 'two.out');
    assert.equal(b2.archives.length, 2);
    assert.equal(b2.archives[1]!.offset % 4, 0);
    assert.deepEqual(out2.subarray(b2.archives[1]!.offset), plain);
  }
  // an entry of another image is refused
  await assert.rejects(
    repackInitramfs(image, 'initrd.img', fs, new Map([[t2, bytes('x')]]), gunzipAll),
    /not one of this image's/,
  );
});

test('repackable: lz4 (and the codecs the kernel reader names but cannot decode) refused with a clear message', () => {
  const fs = {
    archives: [
      { offset: 0, length: 512, compression: 'none' as const, size: 512, entries: 1 },
      { offset: 512, length: 100, compression: 'lz4' as const, size: 512, entries: 1 },
    ],
    entries: [],
  };
  repackable('i.img', fs, 0);
  assert.throws(() => repackable('i.img', fs, 1), /lz4-compressed archive at 0x200 .*gzip, xz and zstd/);
});
