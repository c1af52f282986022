/**
 * Bad input: every malformed file gets one clear line naming the file and the byte offset,
 * exit code 1, and the other files of the same call are still processed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { BIN, kernelSet, modulesBelow, runCli } from '../helpers.js';

const k61 = kernelSet('amd64-6.1');
const k612 = kernelSet('amd64-6.12');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-bad-'));
const dummy = k61 && modulesBelow(k61.modulesDir).find((f) => f.endsWith('/dummy.ko'))!;
const dummyXz = k612 && modulesBelow(k612.modulesDir).find((f) => f.endsWith('/dummy.ko.xz'))!;

function write(name: string, data: Uint8Array): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, data);
  return p;
}

/** One case: the file, the error code expected in the message, and an offset check. */
function cases(): { name: string; file: string; code: RegExp }[] {
  const good = fs.readFileSync(dummy!);
  const dv = new DataView(good.buffer, good.byteOffset, good.byteLength);
  const out: { name: string; file: string; code: RegExp }[] = [];
  out.push({ name: 'empty file', file: write('empty.ko', new Uint8Array(0)), code: /E_MAGIC/ });
  out.push({ name: 'not ELF', file: write('text.ko', Buffer.from('this is not a kernel module\n')), code: /E_MAGIC/ });
  out.push({ name: 'truncated to 40 bytes', file: write('trunc40.ko', good.subarray(0, 40)), code: /E_TRUNCATED/ });
  out.push({
    name: 'truncated before the section table',
    file: write('trunc-half.ko', good.subarray(0, good.length >> 1)),
    code: /E_RANGE/,
  });
  const badShoff = Buffer.from(good);
  new DataView(badShoff.buffer, badShoff.byteOffset).setBigUint64(40, 0xffffffffn, true);
  out.push({ name: 'e_shoff out of range', file: write('shoff.ko', badShoff), code: /E_RANGE/ });
  const badSection = Buffer.from(good);
  const shoff = Number(dv.getBigUint64(40, true));
  new DataView(badSection.buffer, badSection.byteOffset).setBigUint64(shoff + 64 * 2 + 32, 0x7fffffffn, true); // section 2 sh_size
  out.push({ name: 'section size past the end', file: write('secsize.ko', badSection), code: /E_RANGE/ });
  const badSigLen = Buffer.from(good);
  badSigLen.writeUInt32BE(0x7fffffff, good.length - 28 - 4);
  out.push({ name: 'sig_len larger than the file', file: write('siglen.ko', badSigLen), code: /E_SIG/ });
  const badPkcs7 = Buffer.from(good);
  const sigLen = good.readUInt32BE(good.length - 28 - 4);
  badPkcs7.fill(0x41, good.length - 40 - sigLen, good.length - 40 - sigLen + 32);
  out.push({ name: 'garbage PKCS#7', file: write('pkcs7.ko', badPkcs7), code: /E_ASN1/ });
  if (dummyXz) {
    const xz = fs.readFileSync(dummyXz);
    out.push({
      name: 'truncated xz',
      file: write('trunc.ko.xz', xz.subarray(0, xz.length >> 1)),
      code: /E_TRUNCATED|E_COMPRESS/,
    });
    const corrupt = Buffer.from(xz);
    corrupt.fill(0x55, 200, 260);
    out.push({ name: 'corrupt xz', file: write('corrupt.ko.xz', corrupt), code: /E_COMPRESS/ });
  }
  const zst = execFileSync('zstd', ['-q', '-c', dummy!]);
  out.push({
    name: 'truncated zstd',
    file: write('trunc.ko.zst', zst.subarray(0, zst.length >> 1)),
    code: /E_TRUNCATED|E_COMPRESS/,
  });
  const gz = execFileSync('gzip', ['-n', '-c', dummy!]);
  out.push({
    name: 'truncated gzip',
    file: write('trunc.ko.gz', gz.subarray(0, gz.length >> 1)),
    code: /E_TRUNCATED|E_COMPRESS/,
  });
  const gzBad = Buffer.from(gz);
  gzBad.fill(0xff, 20, 40);
  out.push({ name: 'corrupt gzip', file: write('corrupt.ko.gz', gzBad), code: /E_COMPRESS|E_TRUNCATED/ });
  return out;
}

test(
  'each bad file: one error line with file and offset, exit 1, the good file still printed',
  { skip: !dummy && 'no cached amd64-6.1 package' },
  async () => {
    for (const c of cases()) {
      const r = await runCli(['inspect', c.file, dummy!]);
      assert.equal(r.code, 1, `${c.name}: exit code`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `${c.name}: one line, got ${r.stderr}`);
      assert.ok(lines[0]!.includes(c.file), `${c.name}: names the file: ${lines[0]}`);
      assert.match(lines[0]!, /: 0x[0-9a-f]+: /, `${c.name}: names the offset: ${lines[0]}`);
      assert.match(lines[0]!, c.code, `${c.name}: ${lines[0]}`);
      assert.match(
        r.stdout.toString('latin1'),
        new RegExp(`filename: +${dummy!.replace(/[.+]/g, '\\$&')}\n`),
        `${c.name}: good file still shown`,
      );
    }
  },
);

test(
  '--json reports the error per file and still lists the good one',
  { skip: !dummy && 'no cached amd64-6.1 package' },
  async () => {
    const bad = write('json-bad.ko', Buffer.from('garbage'));
    const r = await runCli(['inspect', '--json', bad, dummy!]);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout.toString('utf8')) as { filename: string; error?: { code: string } }[];
    assert.equal(out.length, 2);
    assert.equal(out[0]!.error!.code, 'E_MAGIC');
    assert.equal(out[1]!.filename, dummy);
  },
);

test('a missing file, a directory without modules, and usage errors have their exit codes', async () => {
  const r = await runCli(['inspect', path.join(tmp, 'missing.ko')]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /missing\.ko not found/);
  const u = await runCli(['inspect', '--no-such-option']);
  assert.equal(u.code, 2);
  const j = await runCli(['inspect', '-j', '0', 'x']);
  assert.equal(j.code, 2);
});

test('no arguments on a machine without /lib/modules/RELEASE says what it needs', async () => {
  const r = await runCli(['inspect', '-b', tmp, '-k', '0.0.0-none']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /does not exist on this machine/);
  assert.match(r.stderr, /kmodseal inspect FILE\.ko/);
});

test(
  'a FIFO or a device given as a file: one error line, exit 1, no wait for a writer and no endless read',
  { skip: !k61 && 'no cached amd64-6.1 package' },
  () => {
    const fifo = path.join(tmp, 'fifo.ko');
    execFileSync('mkfifo', [fifo]);
    const cases: [string[], RegExp][] = [
      [['inspect', fifo], /fifo\.ko: cannot read: not a regular file/],
      [['inspect', '/dev/zero'], /\/dev\/zero: cannot read: not a regular file/],
      [['check', '--kernel', k61!.dir, fifo], /fifo\.ko: cannot read: not a regular file \(a FIFO\)/],
      [
        ['check', '--kernel', k61!.dir, '/dev/zero'],
        /\/dev\/zero: cannot read: not a regular file \(a character device\)/,
      ],
      [['check', '--kernel', fifo, dummy!], /fifo\.ko: cannot read: not a regular file \(a FIFO\)/],
      [['kernel', '/dev/zero'], /\/dev\/zero: cannot read: not a regular file \(a character device\)/],
      [['btf', 'dump', fifo], /fifo\.ko: cannot read: not a regular file \(a FIFO\)/],
      [['diff', fifo, dummy!], /fifo\.ko: cannot read: not a regular file \(a FIFO\)/],
      [['verify', '--kernel', k61!.dir, fifo], /fifo\.ko: cannot read: not a regular file \(a FIFO\)/],
    ];
    for (const [args, message] of cases) {
      // as a process with a deadline: a hang fails the test instead of stopping the suite
      const r = spawnSync(process.execPath, [BIN, ...args], { timeout: 60_000, encoding: 'utf8' });
      assert.equal(r.signal, null, `${args.join(' ')}: timed out`);
      assert.equal(r.status, 1, `${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line: ${r.stderr}`);
    }
  },
);
