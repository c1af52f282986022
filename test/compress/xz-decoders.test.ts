/**
 * The two native xz decoders agree: kmodseal_unxz (static liblzma from Debian's newest xz-utils,
 * scripts/build-liblzma.sh) and kmodseal_xz (the system liblzma, what kmod links): same bytes as
 * `xz -dc` on real modules, and the same verdict (error code and offset) on damaged ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { kernelSet, ROOT } from '../helpers.js';
import { xzDecodeWhole, xzUncompressedSize } from '../../src/compress/index.js';

const require = createRequire(import.meta.url);
interface Decoder {
  decode(input: Uint8Array, maxOutput: number, sizeHint?: number, threads?: number): Buffer;
  decodeInto(input: Uint8Array, output: Uint8Array): number;
  version(): string;
}
const load = (name: string): Decoder => require(path.join(ROOT, 'native/build/Release', `${name}.node`)) as Decoder;
const fast = load('kmodseal_unxz');
const system = load('kmodseal_xz');

function outcome(d: Decoder, input: Uint8Array): string {
  try {
    const out = d.decode(input, 64 << 20);
    return `ok ${out.length} ${Buffer.from(out).toString('base64').slice(-64)}`;
  } catch (e) {
    const err = e as Error & { code?: string; offset?: number };
    return `${err.code} @${err.offset}: ${err.message}`;
  }
}

test('the static liblzma is newer than the system one (the point of building it)', () => {
  const v = (s: string): number =>
    s
      .split('.')
      .map(Number)
      .reduce((a, b) => a * 1000 + b, 0);
  assert.ok(v(fast.version()) > v(system.version()), `${fast.version()} vs ${system.version()}`);
});

const set = kernelSet('amd64-6.12')!;
const modules = execFileSync('find', [set.modulesDir, '-name', '*.ko.xz'], { encoding: 'utf8' })
  .trim()
  .split('\n')
  .sort();
const sample = modules.filter((_, i) => i % 14 === 0); // ~300

test(`${sample.length} Debian 6.12 modules: both decoders give xz -dc's bytes`, { timeout: 300_000 }, () => {
  for (const f of sample) {
    const input = fs.readFileSync(f);
    const want = execFileSync('xz', ['-dc', f], { maxBuffer: 1 << 28 });
    assert.ok(fast.decode(input, 1 << 29).equals(want), f);
    assert.ok(system.decode(input, 1 << 29).equals(want), f);
    const into = Buffer.alloc(want.length + 1);
    assert.equal(fast.decodeInto(input, into), want.length, f);
    assert.ok(into.subarray(0, want.length).equals(want), f);
  }
});

test('damaged modules: the same error code, offset and message from both', { timeout: 300_000 }, () => {
  const inputs = sample.slice(0, 40).map((f) => fs.readFileSync(f));
  fc.assert(
    fc.property(
      fc.nat(inputs.length - 1),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 0, max: 3 }),
      fc.nat(255),
      (k, where, how, byte) => {
        const input = Buffer.from(inputs[k]!);
        const at = Math.min(input.length - 1, Math.floor(where * input.length));
        let bad: Buffer;
        if (how === 0)
          bad = input.subarray(0, at); // truncated
        else if (how === 1) {
          input[at] = input[at]! ^ (byte || 1);
          bad = input;
        } // one byte changed
        else if (how === 2) {
          input.fill(byte, at, Math.min(input.length, at + 64));
          bad = input;
        } // a run overwritten
        else bad = Buffer.concat([input, input.subarray(0, at % 64)]); // trailing garbage
        assert.equal(outcome(fast, bad), outcome(system, bad));
      },
    ),
    { numRuns: 400, seed: 20261203 },
  );
});

test(
  'threaded decoding of a multi-block stream (as xz -T and dpkg-deb write): the same bytes and the same verdicts',
  { timeout: 300_000 },
  () => {
    const plain = Buffer.concat(sample.slice(0, 60).map((f) => execFileSync('xz', ['-dc', f], { maxBuffer: 1 << 28 })));
    const multi = execFileSync('xz', ['-T2', '--block-size=262144', '-c'], { input: plain, maxBuffer: 1 << 28 });
    const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-xz-')), 'multi.xz');
    fs.writeFileSync(tmp, multi);
    assert.ok(Number(/Blocks:\s+(\d+)/.exec(execFileSync('xz', ['-lv', tmp]).toString())![1]) > 4, 'several blocks');
    fs.rmSync(path.dirname(tmp), { recursive: true });
    for (const d of [fast, system]) {
      assert.ok(d.decode(multi, 1 << 29, plain.length, 2).equals(plain));
      assert.ok(d.decode(multi, 1 << 29, 0, 4).equals(plain), 'without a size hint');
    }
    const code = (d: Decoder, input: Uint8Array, threads: number): string => {
      try {
        return `ok ${d.decode(input, 1 << 29, 0, threads).length}`;
      } catch (e) {
        return String((e as { code?: string }).code);
      }
    };
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean(), fc.nat(255), (where, cut, byte) => {
        const input = Buffer.from(multi);
        const at = Math.min(input.length - 1, Math.floor(where * input.length));
        const bad = cut ? input.subarray(0, at) : ((input[at] = input[at]! ^ (byte || 1)), input);
        assert.equal(code(fast, bad, 2), code(fast, bad, 1));
      }),
      { numRuns: 60, seed: 20261203 },
    );
  },
);

test('xzDecodeWhole: a bomb is left to the caller to stream; an index that understates the size meets the bound as E_LIMIT', () => {
  const zeros = Buffer.alloc(100 << 20);
  const bomb = execFileSync('xz', ['-T1', '-c'], { input: zeros, maxBuffer: 1 << 28 });
  assert.ok(bomb.length < 1 << 20);
  assert.equal(
    xzDecodeWhole(bomb, 'bomb.xz', 1 << 30, 2),
    undefined,
    '100 MiB from a few KiB: not decoded into one buffer',
  );
  const small = execFileSync('xz', ['-T1', '-c'], { input: zeros.subarray(0, 1 << 20), maxBuffer: 1 << 28 });
  assert.equal(xzDecodeWhole(small, 'small.xz', 1 << 30, 2)!.length, 1 << 20, 'within the bound: decoded');
  // the index claims 2 MiB (same varint length as 100 MiB; CRC32 recomputed)
  const lying = Buffer.from(bomb);
  const n = lying.length;
  const indexStart = n - 12 - (lying.readUInt32LE(n - 8) + 1) * 4;
  const varint = (v: number): number[] => {
    const out: number[] = [];
    while (v >= 0x80) {
      out.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(v);
    return out;
  };
  const want = varint(100 << 20);
  const at = lying.indexOf(Buffer.from(want), indexStart);
  assert.ok(at > indexStart && at < n - 12, 'the uncompressed size in the index');
  Buffer.from(varint(2 << 20)).copy(lying, at);
  assert.equal(varint(2 << 20).length, want.length);
  const crcAt = n - 12 - 4;
  lying.writeUInt32LE(crc32(lying.subarray(indexStart, crcAt)), crcAt);
  assert.equal(xzUncompressedSize(lying), 2 << 20);
  assert.throws(
    () => xzDecodeWhole(lying, 'lying.xz', 1 << 30, 2),
    (e: Error & { code?: string; file?: string }) => e.code === 'E_LIMIT' && e.file === 'lying.xz',
  );
});

function crc32(data: Uint8Array): number {
  let c = ~0;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}
