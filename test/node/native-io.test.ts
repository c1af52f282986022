/**
 * native/io.c (kmodseal_io): positional reads for the many-small-files paths. It must read the
 * same bytes as node:fs, report system errors as -errno without throwing, refuse arguments
 * that would write outside the buffer, and `inspect` must print the same bytes and errors with
 * and without it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { constants } from 'node:os';
import { loadAddon } from '../../src/io/addon.js';
import { walkModules, walkModulesPortable } from '../../src/io/files.js';
import { kernelSet, modulesBelow, runBin } from '../helpers.js';

interface NativeIo {
  open(path: string): number;
  size(fd: number): number;
  pread(fd: number, buf: Uint8Array, at: number, len: number, pos: number): number;
  close(fd: number): number;
}
const io = loadAddon<NativeIo>('kmodseal_io');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-io-'));

test('kmodseal_io reads the bytes node:fs reads, at any position', { skip: !io && 'kmodseal_io not built' }, () => {
  const data = Buffer.alloc(70_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const file = path.join(tmp, 'data.bin');
  fs.writeFileSync(file, data);
  const fd = io!.open(file);
  assert.ok(fd >= 0);
  try {
    assert.equal(io!.size(fd), data.length);
    const buf = new Uint8Array(data.length + 10);
    for (const [at, len, pos] of [
      [0, 16384, 0],
      [5, 100, 69_000],
      [0, data.length, 0],
      [3, 0, 10],
    ] as const) {
      assert.equal(io!.pread(fd, buf, at, len, pos), len);
      assert.deepEqual(Buffer.from(buf.subarray(at, at + len)), data.subarray(pos, pos + len));
    }
    // short only at the end of the file
    assert.equal(io!.pread(fd, buf, 0, 100, data.length - 40), 40);
    assert.equal(io!.pread(fd, buf, 0, 100, data.length + 5), 0);
  } finally {
    assert.equal(io!.close(fd), 0);
  }
});

test(
  'kmodseal_io returns -errno for system errors and throws only for bad arguments',
  { skip: !io && 'kmodseal_io not built' },
  () => {
    assert.equal(io!.open(path.join(tmp, 'missing')), -constants.errno.ENOENT);
    assert.equal(io!.open('x'.repeat(5000)), -constants.errno.ENAMETOOLONG);
    const dirFd = io!.open(tmp);
    assert.ok(dirFd >= 0);
    assert.equal(io!.size(dirFd), -constants.errno.EISDIR);
    assert.equal(io!.close(dirFd), 0);
    assert.equal(io!.close(dirFd), -constants.errno.EBADF);
    assert.equal(io!.pread(dirFd, new Uint8Array(4), 0, 4, 0), -constants.errno.EBADF);
    const file = path.join(tmp, 'small');
    fs.writeFileSync(file, 'abcd');
    const fd = io!.open(file);
    try {
      assert.throws(() => io!.pread(fd, new Uint8Array(4), 2, 3, 0), RangeError);
      assert.throws(() => io!.pread(fd, new Uint8Array(4), -1, 1, 0), TypeError);
      assert.throws(() => io!.pread(fd, new Uint8Array(4), 0.5, 1, 0), TypeError);
      assert.throws(() => io!.pread(fd, new Uint16Array(4) as unknown as Uint8Array, 0, 1, 0), TypeError);
      assert.throws(() => (io!.open as (p: unknown) => number)(7), TypeError);
    } finally {
      io!.close(fd);
    }
  },
);

const k61 = kernelSet('amd64-6.1');
test(
  'inspect prints the same bytes and errors with and without the native reader',
  { skip: !k61 && 'amd64-6.1 package not cached' },
  () => {
    const mods = modulesBelow(k61!.modulesDir).filter((_, i) => i % 20 === 0);
    const good = fs.readFileSync(mods[0]!);
    const bad = [
      ['trunc.ko', good.subarray(0, good.length - 7)],
      ['empty.ko', Buffer.alloc(0)],
      ['half.ko', good.subarray(0, good.length >> 1)],
    ] as const;
    const files = [
      ...mods,
      ...bad.map(([n, b]) => {
        const p = path.join(tmp, n);
        fs.writeFileSync(p, b);
        return p;
      }),
      tmp,
      path.join(tmp, 'missing.ko'),
    ];
    const a = runBin(['inspect', ...files]);
    const b = runBin(['inspect', ...files], { env: { KMODSEAL_NO_NATIVE: '1' } });
    assert.notEqual(a.code, 0);
    assert.equal(a.code, b.code);
    assert.ok(a.stdout.length > 100_000);
    assert.ok(a.stdout.equals(b.stdout));
    assert.equal(a.stderr, b.stderr);
    assert.match(a.stderr, /half\.ko: 0x28: elf: section header table/);
  },
);

test(
  'walk lists what the node:fs walk lists, named and sorted the same, for any spelling of the root',
  { skip: !io && 'kmodseal_io not built' },
  () => {
    const root = fs.mkdtempSync(path.join(tmp, 'walk-'));
    const mk = (rel: string, data = 'x'): void => {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), data);
    };
    for (const f of [
      'a.ko',
      'b.ko.xz',
      'c.ko.zst',
      'd.ko.gz',
      'e.ko.bz2',
      'f.txt',
      'kernel/net/g.ko',
      'kernel/net/deep/er/h.ko.xz',
      'Z.ko',
      'é-ü.ko',
      'kernel/.hidden.ko',
      'x.ko.xz.orig',
    ])
      mk(f);
    fs.mkdirSync(path.join(root, 'dir.ko'));
    mk('dir.ko/inner.ko');
    fs.symlinkSync(path.join(root, 'a.ko'), path.join(root, 'link.ko'));
    fs.symlinkSync(path.join(root, 'kernel'), path.join(root, 'linkdir'));
    fs.symlinkSync(path.join(root, 'kernel'), path.join(root, 'linkdir.ko'));
    fs.symlinkSync(path.join(root, 'missing'), path.join(root, 'dangling.ko'));
    const rel = path.relative(process.cwd(), root);
    for (const spelling of [root, `${root}/`, `${root}//kernel/..`, rel, `./${rel}`, `${rel}/kernel/net/`]) {
      const ours = walkModules(spelling);
      assert.deepEqual(ours, walkModulesPortable(spelling), spelling);
      assert.ok(ours.length >= 2, spelling);
    }
    const all = walkModules(root);
    assert.ok(
      all.includes(path.join(root, 'linkdir.ko')) &&
        all.includes(path.join(root, 'dangling.ko')) &&
        all.includes(path.join(root, 'dir.ko/inner.ko')),
    );
    assert.ok(!all.some((f) => f.includes('/linkdir/')));
    const prev = process.cwd();
    process.chdir(root);
    try {
      assert.deepEqual(walkModules('.'), walkModulesPortable('.'));
      assert.equal(walkModules('.')[0], 'Z.ko');
    } finally {
      process.chdir(prev);
    }
    // an error is the node:fs walk's error
    const missing = path.join(root, 'nope');
    assert.throws(
      () => walkModules(missing),
      (e: Error) => {
        assert.throws(() => walkModulesPortable(missing), { message: e.message });
        return /cannot read directory/.test(e.message);
      },
    );
  },
);
