/**
 * .deb reading: ar negative table, a .deb built here (tar-stream + gzip/xz/zstd), and the cached
 * s390x kernel package against `ar`/`tar` and its unpacked tree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { FormatError } from '../../src/bytes/errors.js';
import { parseAr } from '../../src/deb/ar.js';
import { parseDeb, readDebControl, readDebData } from '../../src/deb/deb.js';
import { needKernel } from './helpers.js';

function arHeader(name: string, size: number | string, fmag = '`\n'): string {
  return `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(size).padEnd(10)}${fmag}`;
}

function ar(members: [string, Uint8Array][]): Uint8Array {
  const parts: Buffer[] = [Buffer.from('!<arch>\n')];
  for (const [name, data] of members) {
    parts.push(Buffer.from(arHeader(name, data.length), 'latin1'), Buffer.from(data));
    if (data.length & 1) parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

async function tarOf(files: Record<string, string | Uint8Array>): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name: './', type: 'directory' });
  for (const [name, body] of Object.entries(files)) pack.entry({ name: `./${name}`, mode: 0o644 }, Buffer.from(body));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const CONTROL = 'Package: linux-image-test\nVersion: 1.0\nDescription: short\n long line one\n .\n';

async function deb(
  dataName = 'data.tar.gz',
  compress: (b: Buffer) => Uint8Array = (b) => zlib.gzipSync(b),
): Promise<Uint8Array> {
  return ar([
    ['debian-binary', Buffer.from('2.0\n')],
    ['control.tar.gz', zlib.gzipSync(await tarOf({ control: CONTROL }))],
    [
      dataName,
      compress(
        await tarOf({
          'boot/vmlinuz-1.0': 'KERNEL',
          'boot/config-1.0': 'CONFIG_X=y\n',
          'lib/modules/1.0/kernel/a.ko': 'abc',
        }),
      ),
    ],
  ]);
}

test('ar: members, odd-size padding, GNU trailing slash', () => {
  const a = ar([
    ['one/', Buffer.from('x')],
    ['two', Buffer.from('yz')],
  ]);
  const m = parseAr(a, 'a.ar');
  assert.deepEqual(
    m.map((x) => [x.name, Buffer.from(x.data).toString(), x.offset]),
    [
      ['one', 'x', 68],
      ['two', 'yz', 130],
    ],
  );
});

test('ar: negative table asserts code and offset', () => {
  const good = ar([['one', Buffer.from('abc')]]);
  const hdr = (h: string): Uint8Array => Buffer.concat([Buffer.from('!<arch>\n'), Buffer.from(h, 'latin1')]);
  const cases: { descr: string; bytes: Uint8Array; code: string; offset: number }[] = [
    { descr: 'not ar', bytes: Buffer.from('!<arck>\nxxxxxxxx'), code: 'E_MAGIC', offset: 0 },
    { descr: 'header cut', bytes: good.subarray(0, 30), code: 'E_TRUNCATED', offset: 8 },
    { descr: 'bad fmag', bytes: hdr(arHeader('one', 0, 'xx')), code: 'E_FORMAT', offset: 66 },
    { descr: 'size not a number', bytes: hdr(arHeader('one', '12a')), code: 'E_FORMAT', offset: 56 },
    { descr: 'data cut', bytes: good.subarray(0, good.length - 2), code: 'E_TRUNCATED', offset: 68 },
  ];
  for (const c of cases) {
    assert.throws(
      () => parseAr(c.bytes, 'x'),
      (e) => e instanceof FormatError && e.code === c.code && e.offset === c.offset,
      c.descr,
    );
  }
});

test('deb: control fields, listing and selected files for gz, xz and zstd data.tar', async () => {
  const xz = (b: Buffer): Uint8Array => execFileSync('xz', ['-c'], { input: b });
  const zst = (b: Buffer): Uint8Array => execFileSync('zstd', ['-c', '-q'], { input: b });
  for (const [name, fn] of [
    ['data.tar.gz', undefined],
    ['data.tar.xz', xz],
    ['data.tar.zst', zst],
  ] as const) {
    const d = parseDeb(await deb(name, fn), 'p.deb');
    assert.equal(d.formatVersion, '2.0');
    const control = await readDebControl(d, 'p.deb');
    assert.equal(control.get('Package'), 'linux-image-test');
    assert.equal(control.get('Description'), 'short\nlong line one\n.');
    const r = await readDebData(d, 'p.deb', { select: (e) => e.path.startsWith('boot/') });
    assert.deepEqual(
      r.entries.map((e) => [e.path, e.type]),
      [
        ['.', 'directory'],
        ['boot/vmlinuz-1.0', 'file'],
        ['boot/config-1.0', 'file'],
        ['lib/modules/1.0/kernel/a.ko', 'file'],
      ],
      name,
    );
    assert.deepEqual(
      [...r.files].map(([k, v]) => [k, Buffer.from(v).toString()]),
      [
        ['boot/vmlinuz-1.0', 'KERNEL'],
        ['boot/config-1.0', 'CONFIG_X=y\n'],
      ],
    );
  }
});

test('deb: malformed packages and limits', async () => {
  const code = async (p: Promise<unknown> | (() => unknown), want: string): Promise<void> => {
    let caught: unknown;
    try {
      await (typeof p === 'function' ? p() : p);
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof FormatError && caught.code === want, `want ${want}, got ${String(caught)}`);
  };
  await code(() => parseDeb(ar([['control.tar.gz', Buffer.alloc(2)]]), 'x'), 'E_FORMAT');
  await code(
    () =>
      parseDeb(
        ar([
          ['debian-binary', Buffer.from('3.0\n')],
          ['control.tar.gz', Buffer.alloc(2)],
          ['data.tar.gz', Buffer.alloc(2)],
        ]),
        'x',
      ),
    'E_FORMAT',
  );
  await code(
    () =>
      parseDeb(
        ar([
          ['debian-binary', Buffer.from('2.0\n')],
          ['control.tar.gz', Buffer.alloc(2)],
          ['data.tar.bz2', Buffer.alloc(2)],
        ]),
        'x',
      ),
    'E_UNSUPPORTED',
  );
  const corrupt = parseDeb(
    ar([
      ['debian-binary', Buffer.from('2.0\n')],
      ['control.tar.gz', Buffer.alloc(2)],
      ['data.tar.gz', Buffer.from('\x1f\x8b\x08\x00garbage garbage')],
    ]),
    'x',
  );
  await code(readDebData(corrupt, 'x'), 'E_COMPRESS');
  const notTar = parseDeb(
    ar([
      ['debian-binary', Buffer.from('2.0\n')],
      ['control.tar.gz', Buffer.alloc(2)],
      ['data.tar.gz', zlib.gzipSync(Buffer.alloc(1024, 0x41))],
    ]),
    'x',
  );
  await code(readDebData(notTar, 'x'), 'E_FORMAT');
  const good = parseDeb(await deb(), 'p.deb');
  await code(readDebData(good, 'p.deb', { select: () => true, maxEntrySize: 3 }), 'E_LIMIT');
  await code(readDebData(good, 'p.deb', { maxTarSize: 1024 }), 'E_LIMIT');
});

test(
  's390x-6.1 .deb: listing equals tar -t; vmlinuz and config equal the unpacked files',
  { timeout: 120_000 },
  async (t) => {
    const k = needKernel(t, 's390x-6.1');
    if (!k) return;
    const d = parseDeb(readFileSync(k.deb), k.deb);
    assert.equal(d.dataCompression, 'xz');
    assert.equal((await readDebControl(d, k.deb)).get('Package'), k.pkg);
    const r = await readDebData(d, k.deb, { select: (e) => e.path.startsWith('boot/') });
    const theirs = execSync(`ar p '${k.deb}' data.tar.xz | xz -dc | tar -t`, { maxBuffer: 1 << 26 })
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((p) => p.replace(/^\.\//, '') || '.');
    assert.deepEqual(
      r.entries.map((e) => e.path),
      theirs,
    );
    for (const name of [`vmlinuz-${k.release}`, `config-${k.release}`]) {
      assert.ok(Buffer.from(r.files.get(`boot/${name}`)!).equals(readFileSync(join(k.dir, 'boot', name))), name);
    }
    assert.ok(r.entries.filter((e) => /^lib\/modules\/[^/]+\/kernel\/.*\.ko$/.test(e.path)).length > 1000);
    // a whole data.tar.xz is decoded in one piece (threaded); a read that may stop early streams: the same result
    const mods = (e: { path: string }): boolean => /\/(dummy|veth|tun|loop)\.ko$/.test(e.path);
    const whole = await readDebData(d, k.deb, { select: mods });
    const streamed = await readDebData(d, k.deb, { select: mods, until: () => false });
    assert.deepEqual(whole.entries, streamed.entries);
    assert.equal(whole.files.size, 4);
    assert.deepEqual(
      [...whole.files].map(([n, b]) => [n, Buffer.from(b).toString('base64')]),
      [...streamed.files].map(([n, b]) => [n, Buffer.from(b).toString('base64')]),
    );
    // damaged: the same error code either way, named in the member, at an offset inside it
    const bytes = Buffer.from(readFileSync(k.deb));
    const mid = d.data.offset + Math.floor(d.data.data.length / 2);
    bytes[mid] = bytes[mid]! ^ 0x55;
    const bad = parseDeb(bytes, k.deb);
    const codeOf = (p: Promise<unknown>): Promise<string> =>
      p.then(
        () => 'ok',
        (e: { code?: string; offset?: number; message: string }) => {
          if (e.code === 'E_COMPRESS')
            assert.ok(
              e.offset! >= d.data.offset &&
                e.offset! <= d.data.offset + d.data.data.length &&
                e.message.includes('data.tar.xz'),
              e.message,
            );
          return e.code ?? e.message;
        },
      );
    assert.equal(await codeOf(readDebData(bad, k.deb, { select: mods })), 'E_COMPRESS');
    assert.equal(await codeOf(readDebData(bad, k.deb, { select: mods, until: () => false })), 'E_COMPRESS');
  },
);
