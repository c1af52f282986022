/**
 * The initramfs reader on images built here: newc archives written by code (as
 * usr/gen_init_cpio and cpio -H newc write them), plain and gzip/zstd-compressed, concatenated
 * with NUL padding as initramfs-tools puts its early-microcode archive first; and hostile input:
 * bad headers, missing trailers, names and sizes that do not fit, unknown compressions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { FormatError } from '../bytes/errors.js';
import { initramfsModules, probeInitramfs, readInitramfs, S_IFDIR, S_IFLNK, S_IFREG } from './initramfs.js';

const require = createRequire(import.meta.url);

interface Entry {
  name: string;
  mode: number;
  data?: Uint8Array | string;
  ino?: number;
}

const hex = (n: number): string => n.toString(16).padStart(8, '0').toUpperCase();
const pad4 = (n: number): number => (4 - (n % 4)) % 4;

/** A newc archive of `entries`, TRAILER!!! last. */
function newc(entries: Entry[], magic = '070701'): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 }]) {
    const data = typeof e.data === 'string' ? Buffer.from(e.data) : Buffer.from(e.data ?? []);
    const name = Buffer.from(`${e.name}\0`);
    const fields = [e.ino ?? ino++, e.mode, 0, 0, 1, 1700000000, data.length, 0, 0, 0, 0, name.length, 0];
    const header = Buffer.from(magic + fields.map(hex).join(''), 'latin1');
    parts.push(header, name, Buffer.alloc(pad4(header.length + name.length)), data, Buffer.alloc(pad4(data.length)));
  }
  return Buffer.concat(parts);
}

const ko = (n: number): Buffer => Buffer.concat([Buffer.from('\x7fELF'), Buffer.alloc(n, 7)]);

const MAIN: Entry[] = [
  { name: '.', mode: S_IFDIR | 0o755 },
  { name: 'usr/lib/modules/6.1.0-9-amd64/kernel/fs/ext4/ext4.ko', mode: S_IFREG | 0o644, data: ko(1000) },
  { name: 'usr/lib/modules/6.1.0-9-amd64/kernel/drivers/md/dm-mod.ko.xz', mode: S_IFREG | 0o644, data: ko(33) },
  { name: 'usr/lib/modules/6.1.0-9-amd64/modules.dep', mode: S_IFREG | 0o644, data: 'x' },
  { name: 'lib', mode: S_IFLNK | 0o777, data: 'usr/lib' },
  { name: 'init', mode: S_IFREG | 0o755, data: '#!/bin/sh\n' },
];
const EARLY: Entry[] = [
  { name: 'kernel', mode: S_IFDIR | 0o755 },
  { name: 'kernel/x86/microcode/GenuineIntel.bin', mode: S_IFREG | 0o644, data: Buffer.alloc(517, 0xaa) },
];

test('a plain newc archive: every entry, in order, with its data', async () => {
  const img = newc(MAIN);
  const r = await readInitramfs(img, 'initrd.img');
  assert.equal(r.archives.length, 1);
  assert.deepEqual(r.archives[0], { offset: 0, length: img.length, compression: 'none', size: img.length, entries: 6 });
  assert.deepEqual(
    r.entries.map((e) => e.name),
    MAIN.map((e) => e.name),
  );
  assert.equal(Buffer.from(r.entries[5]!.data).toString(), '#!/bin/sh\n');
  assert.equal(r.entries[4]!.mode, S_IFLNK | 0o777);
  assert.ok(probeInitramfs(img));
});

test('early microcode (plain) + NUL padding + the main archive compressed with gzip, then zstd', async () => {
  const early = newc(EARLY);
  const zstd = require('zstd-napi') as typeof import('zstd-napi');
  for (const [codec, z] of [
    ['gzip', zlib.gzipSync(newc(MAIN))],
    ['zstd', new zstd.Compressor().compress(newc(MAIN))],
  ] as const) {
    const img = Buffer.concat([early, Buffer.alloc(512 - (early.length % 512)), z]);
    const r = await readInitramfs(img, `initrd.${codec}`);
    assert.deepEqual(
      r.archives.map((a) => [a.compression, a.entries]),
      [
        ['none', 2],
        [codec, 6],
      ],
    );
    assert.equal(r.archives[1]!.offset, early.length + 512 - (early.length % 512));
    assert.equal(r.archives[1]!.length, z.length);
    assert.equal(r.entries.length, 8);
    assert.equal(r.entries[2]!.archive, 1);
    const mods = initramfsModules(r);
    assert.deepEqual(
      mods.map((m) => [m.path, m.release, m.entry.data.length]),
      [
        ['usr/lib/modules/6.1.0-9-amd64/kernel/drivers/md/dm-mod.ko.xz', '6.1.0-9-amd64', 37],
        ['usr/lib/modules/6.1.0-9-amd64/kernel/fs/ext4/ext4.ko', '6.1.0-9-amd64', 1004],
      ],
    );
  }
});

test('a compressed archive followed by more archives (gzip members end where their stream ends)', async () => {
  const img = Buffer.concat([zlib.gzipSync(newc(EARLY)), Buffer.alloc(3), newc(MAIN, '070702')]);
  // the plain archive after the gzip member must start 4-aligned: pad the NULs so it does
  const gz = zlib.gzipSync(newc(EARLY));
  const aligned = Buffer.concat([gz, Buffer.alloc(8 - (gz.length % 4)), newc(MAIN, '070702')]);
  const r = await readInitramfs(aligned, 'x');
  assert.deepEqual(
    r.archives.map((a) => [a.compression, a.entries]),
    [
      ['gzip', 2],
      ['none', 6],
    ],
  );
  // misaligned: the kernel does not take "0707..." at an odd offset for a cpio header
  await assert.rejects(readInitramfs(img, 'x'), (e: FormatError) => e.code === 'E_FORMAT' && e.file === 'x');
});

test('the last of two entries with one path wins, as when unpacked', async () => {
  const p = 'lib/modules/6.12.0/kernel/a.ko';
  const r = await readInitramfs(
    Buffer.concat([
      newc([{ name: p, mode: S_IFREG | 0o644, data: 'one' }]),
      newc([{ name: `./${p}`, mode: S_IFREG | 0o644, data: 'second' }]),
    ]),
    'x',
  );
  const mods = initramfsModules(r);
  assert.equal(mods.length, 1);
  assert.equal(Buffer.from(mods[0]!.entry.data).toString(), 'second');
});

test('bad input: one clear error with file and offset, never a crash or a hang', async () => {
  const good = newc(MAIN);
  const cases: [string, Buffer, string, RegExp][] = [
    ['truncated header', good.subarray(0, 50), 'E_TRUNCATED', /cpio header/],
    ['truncated data', good.subarray(0, 300), 'E_TRUNCATED', /./],
    ['no trailer', good.subarray(0, good.length - 124), 'E_TRUNCATED', /TRAILER/],
    ['bad hex digit', Buffer.concat([Buffer.from('070701ZZ'), good.subarray(8)]), 'E_FORMAT', /hex digit/],
    ['junk', Buffer.from('hello world, not an initramfs'), 'E_FORMAT', /neither a cpio archive/],
    ['bzip2', Buffer.concat([Buffer.from('BZh91AY&SY'), Buffer.alloc(64)]), 'E_UNSUPPORTED', /bzip2/],
    [
      'corrupt gzip',
      Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.alloc(40, 0xff)]),
      'E_COMPRESS',
      /gzip/,
    ],
    ['gzip junk after cpio', zlib.gzipSync(Buffer.concat([newc(EARLY), Buffer.from('junk')])), 'E_FORMAT', /junk/],
  ];
  // a name size beyond PATH_MAX
  const huge = Buffer.from(good);
  huge.write(hex(1 << 30), 6 + 88, 'latin1');
  cases.push(['huge c_namesize', huge, 'E_FORMAT', /c_namesize/]);
  // a file size beyond the image
  const big = Buffer.from(good);
  big.write(hex(0xfffffff0), 6 + 48, 'latin1');
  cases.push(['huge c_filesize', big, 'E_TRUNCATED', /cpio data of/]);
  for (const [what, img, code, detail] of cases) {
    await assert.rejects(
      readInitramfs(img, 'initrd.img'),
      (e: unknown) => {
        assert.ok(e instanceof FormatError, `${what}: ${String(e)}`);
        assert.equal(e.code, code, `${what}: ${e.message}`);
        assert.match(e.message, detail, what);
        assert.match(e.file, /^initrd\.img/, what);
        assert.ok(e.offset >= 0, what);
        return true;
      },
      what,
    );
  }
  // 16 MiB of NULs: read through quickly, nothing found
  const r = await readInitramfs(new Uint8Array(16 << 20), 'zeros');
  assert.deepEqual(r, { archives: [], entries: [] });
  assert.equal(probeInitramfs(Buffer.from('MZ...')), false);
});

test('a gzip bomb stops at the bound with E_LIMIT', async () => {
  const bomb = zlib.gzipSync(Buffer.alloc(64 << 20));
  await assert.rejects(readInitramfs(bomb, 'bomb', 1 << 20), (e: FormatError) => e.code === 'E_LIMIT');
});
