/**
 * Property test: mutated and truncated real modules fed to every parser give a result or a
 * typed error: never a crash (another exception type), a hang, or an oversized allocation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { kernelSet, modulesBelow } from '../helpers.js';
import { inspectModuleBytes } from '../../src/modinfo/inspect.js';
import { Elf } from '../../src/elf/elf.js';
import { findModuleSignature } from '../../src/modsig/signature.js';
import { KmodsealError } from '../../src/bytes/errors.js';

const k = kernelSet('amd64-6.1');
const s390 = kernelSet('s390x-6.1');
const LIMIT = 8 << 20;

function seeds(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const set of [k, s390]) {
    if (!set) continue;
    const files = modulesBelow(set.modulesDir);
    for (const name of ['/dummy.ko', '/loop.ko']) {
      const f = files.find((p) => p.endsWith(name));
      if (f) out.push(fs.readFileSync(f));
    }
  }
  if (out[0]) {
    out.push(execFileSync('xz', ['--check=crc32', '-c'], { input: out[0] }));
    out.push(execFileSync('zstd', ['-q', '-c'], { input: out[0] }));
    out.push(execFileSync('gzip', ['-n', '-c'], { input: out[0] }));
  }
  return out;
}

async function check(data: Uint8Array): Promise<void> {
  try {
    const r = await inspectModuleBytes(data, 'fuzz.ko', { maxSize: LIMIT });
    assert.ok(r.size <= LIMIT);
  } catch (e) {
    if (!(e instanceof KmodsealError)) throw e;
  }
  for (const parse of [() => Elf.parse(data, 'f').symbols(), () => findModuleSignature(data, 'f')]) {
    try {
      parse();
    } catch (e) {
      if (!(e instanceof KmodsealError)) throw e;
    }
  }
}

const corpus = k ? seeds() : [];

test(
  'every truncation length of a small module (every 97th byte) gives a result or a typed error',
  { skip: !k && 'no corpus' },
  async () => {
    for (const seed of corpus) for (let n = 0; n < seed.length; n += 97) await check(seed.subarray(0, n));
  },
);

test('random byte mutations give a result or a typed error (fast-check)', { skip: !k && 'no corpus' }, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.nat({ max: corpus.length - 1 }),
      fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 16,
      }),
      async (which, edits) => {
        const data = Uint8Array.from(corpus[which]!);
        // Mutations concentrate on headers and the trailer, where parsers branch.
        for (const [where, value] of edits) {
          const region =
            where < 0.4 ? where * 160 : where < 0.8 ? data.length - 1 - (where - 0.4) * 1800 : where * data.length;
          const i = Math.min(data.length - 1, Math.max(0, Math.floor(region)));
          data[i] = value;
        }
        await check(data);
      },
    ),
    { numRuns: 600, seed: 20261128 },
  );
});

test('a decompression bomb is refused with E_LIMIT, not allocated', async () => {
  const bomb = execFileSync('sh', ['-c', 'head -c 64M /dev/zero | xz -1 --check=crc32 -c']);
  await assert.rejects(
    inspectModuleBytes(bomb, 'bomb.ko.xz', { maxSize: LIMIT }),
    (e: KmodsealError) => e.code === 'E_LIMIT',
  );
  const zbomb = execFileSync('sh', ['-c', 'head -c 64M /dev/zero | zstd -q -c']);
  await assert.rejects(
    inspectModuleBytes(zbomb, 'bomb.ko.zst', { maxSize: LIMIT }),
    (e: KmodsealError) => e.code === 'E_LIMIT',
  );
  const gbomb = execFileSync('sh', ['-c', 'head -c 64M /dev/zero | gzip -1 -c']);
  await assert.rejects(
    inspectModuleBytes(gbomb, 'bomb.ko.gz', { maxSize: LIMIT }),
    (e: KmodsealError) => e.code === 'E_LIMIT',
  );
});
