/**
 * Btf.parse on malformed input: a negative table asserting code and offset, and mutation
 * fuzzing (fast-check) showing that parse + dump either succeed or throw a FormatError,
 * with bounded work.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { FormatError } from '../../src/bytes/errors.js';
import { Btf, findElfBtf, parseBtfFile } from '../../src/btf/btf.js';
import { dumpBtfJson, dumpBtfRaw } from '../../src/btf/dump.js';
import { Elf } from '../../src/elf/elf.js';
import { BtfBuilder, splitBuilder } from './build.js';
import { TESTKERNEL } from './helpers.js';

function small(): BtfBuilder {
  const b = new BtfBuilder();
  const int = b.int('int', 4, 32, 1); /* [1] */
  b.struct('s', 8, [
    { name: 'a', type: int, bitsOffset: 0 },
    { name: 'b', type: int, bitsOffset: 32 },
  ]); /* [2] */
  b.ref('PTR', 2); /* [3] */
  return b;
}

/** Bytes of `small()` with a patch applied (little-endian u32 writes). */
function patched(
  patch: (dv: DataView, u8: Uint8Array) => void,
  header?: Parameters<BtfBuilder['build']>[0],
): Uint8Array {
  const bytes = small().build(header);
  patch(new DataView(bytes.buffer), bytes);
  return bytes;
}

const TYPES = 24; // first type record
const cases: { descr: string; bytes: Uint8Array; code: string; offset: number }[] = [
  { descr: 'empty input', bytes: new Uint8Array(0), code: 'E_MAGIC', offset: 0 },
  { descr: 'bad magic', bytes: patched((dv) => dv.setUint16(0, 0x1234, true)), code: 'E_MAGIC', offset: 0 },
  { descr: 'truncated header', bytes: small().build().subarray(0, 20), code: 'E_TRUNCATED', offset: 0 },
  { descr: 'version 2', bytes: small().build({ header: { version: 2 } }), code: 'E_UNSUPPORTED', offset: 2 },
  { descr: 'flags set', bytes: small().build({ header: { flags: 1 } }), code: 'E_UNSUPPORTED', offset: 3 },
  { descr: 'hdr_len past the end', bytes: small().build({ header: { hdr_len: 0x10000 } }), code: 'E_RANGE', offset: 4 },
  { descr: 'hdr_len too small', bytes: small().build({ header: { hdr_len: 8 } }), code: 'E_FORMAT', offset: 4 },
  {
    descr: 'string section past the end',
    bytes: small().build({ header: { str_len: 0xffffff } }),
    code: 'E_RANGE',
    offset: 16,
  },
  {
    descr: 'types overlap strings',
    bytes: small().build({ header: { type_len: 0x1000 } }),
    code: 'E_RANGE',
    offset: 8,
  },
  {
    descr: 'misaligned type section',
    bytes: small().build({ header: { type_off: 2, type_len: 4 } }),
    code: 'E_FORMAT',
    offset: 8,
  },
  {
    descr: 'string section without final NUL',
    bytes: patched((_dv, u8) => {
      u8[u8.length - 1] = 0x41;
    }),
    code: 'E_FORMAT',
    offset: -1,
  },
  {
    descr: 'base string section not starting with ""',
    bytes: (() => {
      const b = small();
      const bytes = b.build();
      const strOff = new DataView(bytes.buffer).getUint32(16, true);
      bytes[24 + strOff] = 0x41;
      return bytes;
    })(),
    code: 'E_FORMAT',
    offset: -2,
  },
  {
    descr: 'unknown kind 20',
    bytes: patched((dv) => dv.setUint32(TYPES + 4, 20 << 24, true)),
    code: 'E_FORMAT',
    offset: TYPES + 4,
  },
  {
    descr: 'huge vlen (struct with 0xffff members in a 100-byte section)',
    bytes: patched((dv) => dv.setUint32(TYPES + 16 + 4, (4 << 24) | 0xffff, true)),
    code: 'E_TRUNCATED',
    offset: TYPES + 16,
  },
  {
    descr: 'type record cut short',
    bytes: (() => {
      const b = new BtfBuilder();
      b.int('int', 4, 32);
      return b.build({ header: { type_len: 12, str_off: 16 } });
    })(),
    code: 'E_TRUNCATED',
    offset: TYPES, // the INT's 4 data bytes fall outside the 12-byte type section
  },
];

describe('Btf.parse negative table', () => {
  for (const c of cases) {
    it(c.descr, () => {
      try {
        Btf.parse(c.bytes, { file: 'fixture.btf', offset: 0x1000 });
        assert.fail('parsed');
      } catch (e) {
        assert.ok(e instanceof FormatError, String(e));
        assert.equal(e.code, c.code, e.message);
        const want = c.offset === -1 ? c.bytes.length - 1 : c.offset === -2 ? e.offset - 0x1000 : c.offset;
        assert.equal(e.offset, 0x1000 + want, e.message);
        assert.equal(e.file, 'fixture.btf');
      }
    });
  }

  it('split BTF whose byte order differs from the base', () => {
    const base = Btf.parse(small().build(), { file: 'base' });
    const s = splitBuilder(base);
    s.ref('PTR', 1);
    assert.throws(
      () => Btf.parse(s.build({ littleEndian: false }), { file: 'split', base }),
      (e: unknown) => e instanceof FormatError && e.code === 'E_FORMAT',
    );
  });

  it('type() of an id out of range is E_RANGE', () => {
    const btf = Btf.parse(small().build(), { file: 'f' });
    assert.throws(
      () => btf.type(4),
      (e: unknown) => e instanceof FormatError && e.code === 'E_RANGE',
    );
    assert.throws(
      () => btf.type(0),
      (e: unknown) => e instanceof FormatError && e.code === 'E_RANGE',
    );
  });

  it('parseBtfFile: ELF without .BTF is E_NOTFOUND, other bytes E_MAGIC', () => {
    const mod = readFileSync(join(TESTKERNEL, 'modules/kms_hello.ko'));
    const elf = new Uint8Array(mod);
    const s = Elf.parse(elf, 'm').findSection('.BTF')!;
    // rename ".BTF" to ".BTG" in the section name table
    const shstr = Elf.parse(elf, 'm').sections[Elf.parse(elf, 'm').header.e_shstrndx]!;
    elf[shstr.sh_offset + s.sh_name + 3] = 0x47;
    assert.throws(
      () => parseBtfFile(elf, 'm'),
      (e: unknown) => e instanceof FormatError && e.code === 'E_NOTFOUND',
    );
    assert.throws(
      () => parseBtfFile(new Uint8Array(64), 'z'),
      (e: unknown) => e instanceof FormatError && e.code === 'E_MAGIC',
    );
  });
});

describe('Btf.parse fuzzing', () => {
  const base = parseBtfFile(readFileSync(join(TESTKERNEL, 'vmlinux')), 'vmlinux');
  const modData = new Uint8Array(readFileSync(join(TESTKERNEL, 'modules/in-tree/dummy.ko')));
  const modBtf = findElfBtf(Elf.parse(modData, 'dummy.ko'))!.btf.slice();
  const synthetic = small().build();

  /** Parse and dump; anything but success or a FormatError fails the property. */
  function parseAndDump(bytes: Uint8Array, withBase: boolean): void {
    try {
      const btf = Btf.parse(bytes, { file: 'fuzz', ...(withBase ? { base } : {}) });
      dumpBtfRaw(btf);
      dumpBtfJson(btf);
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
    }
  }

  const mutation = (len: number) =>
    fc.array(
      fc.record({
        at: fc.nat({ max: len - 1 }),
        value: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0, 0xff, 0x80, 0x7f)),
      }),
      { minLength: 1, maxLength: 8 },
    );

  it('byte mutations of a real module BTF (split on the test kernel vmlinux)', () => {
    fc.assert(
      fc.property(mutation(modBtf.length), fc.nat({ max: modBtf.length }), (muts, cut) => {
        const b = modBtf.slice(0, Math.max(cut, 1));
        for (const m of muts) if (m.at < b.length) b[m.at] = m.value;
        const t0 = performance.now();
        parseAndDump(b, true);
        assert.ok(performance.now() - t0 < 1000, 'bounded work');
      }),
      { numRuns: 400, seed: 1 },
    );
  });

  it('word mutations of a synthetic base BTF (counts, kinds, offsets)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            word: fc.nat({ max: Math.floor(synthetic.length / 4) - 1 }),
            value: fc.oneof(fc.nat(), fc.constantFrom(0xffffffff, 0xffff, 0x0400ffff, 0x1300ffff, 0x80000000)),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        (muts) => {
          const b = synthetic.slice();
          const dv = new DataView(b.buffer);
          for (const m of muts) dv.setUint32(m.word * 4, m.value >>> 0, true);
          parseAndDump(b, false);
        },
      ),
      { numRuns: 1000, seed: 2 },
    );
  });
});
