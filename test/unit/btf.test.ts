/** src/btf: parsing (base, split, inside an ELF, both byte orders) and bpftool's raw and JSON dumps. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dumpBtfJson, dumpBtfRaw, parseBtfFile } from '../../src/index.js';
import { Btf } from '../../src/btf/btf.js';
import { BtfBuilder, splitBuilder } from '../btf/build.js';
import { buildElf } from '../kernel/build-elf.js';
import { patched, throwsAt } from './fixtures.js';

function sample(): BtfBuilder {
  const b = new BtfBuilder();
  const int = b.int('int', 4, 32, 1); /* [1] */
  const s = b.struct('s', 8, [
    { name: 'a', type: int, bitsOffset: 0 },
    { name: 'b', type: int, bitsOffset: 32, bitfieldSize: 3 },
  ]); /* [2] */
  b.ref('PTR', s); /* [3] */
  b.enumType(
    'e',
    4,
    [
      { name: 'A', val: -1 },
      { name: 'B', val: 2 },
    ],
    true,
  ); /* [4] */
  const fp = b.funcProto(int, [{ name: 'x', type: int }]); /* [5] */
  b.func('f', fp, 1); /* [6] */
  b.array(int, int, 4); /* [7] */
  return b;
}

const RAW = `[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
[2] STRUCT 's' size=8 vlen=2
\t'a' type_id=1 bits_offset=0
\t'b' type_id=1 bits_offset=32 bitfield_size=3
[3] PTR '(anon)' type_id=2
[4] ENUM 'e' encoding=SIGNED size=4 vlen=2
\t'A' val=-1
\t'B' val=2
[5] FUNC_PROTO '(anon)' ret_type_id=1 vlen=1
\t'x' type_id=1
[6] FUNC 'f' type_id=5 linkage=global
[7] ARRAY '(anon)' type_id=1 index_type_id=1 nr_elems=4
`;

describe('BTF: parse and dump', () => {
  for (const littleEndian of [true, false]) {
    test(`${littleEndian ? 'little' : 'big'}-endian: bpftool's raw text and JSON`, () => {
      const btf = parseBtfFile(sample().build({ littleEndian }), 'x.btf');
      assert.equal(btf.littleEndian, littleEndian);
      assert.equal(btf.ownCount, 7);
      assert.equal(btf.typeCount, 8);
      assert.equal(dumpBtfRaw(btf), RAW);
      const j = JSON.parse(dumpBtfJson(btf)) as { types: { id: number; kind: string; name: string }[] };
      assert.deepEqual(
        j.types.map((t) => [t.id, t.kind, t.name]),
        [
          [1, 'INT', 'int'],
          [2, 'STRUCT', 's'],
          [3, 'PTR', '(anon)'],
          [4, 'ENUM', 'e'],
          [5, 'FUNC_PROTO', '(anon)'],
          [6, 'FUNC', 'f'],
          [7, 'ARRAY', '(anon)'],
        ],
      );
      assert.deepEqual((j.types[1] as unknown as { members: unknown[] }).members[1], {
        name: 'b',
        type_id: 1,
        bits_offset: 32,
        bitfield_size: 3,
      });
    });
  }

  test('split BTF: ids and strings continue from the base', () => {
    const base = parseBtfFile(sample().build(), 'vmlinux');
    const s = splitBuilder(base);
    const ptr = s.ref('PTR', 1); /* [8] */
    s.ref('TYPEDEF', ptr, 'intp'); /* [9] */
    const split = parseBtfFile(s.build({ split: { typeCount: base.typeCount, strLen: base.strEndOff } }), 'm.ko', base);
    assert.equal(split.startId, 8);
    assert.equal(dumpBtfRaw(split), "[8] PTR '(anon)' type_id=1\n[9] TYPEDEF 'intp' type_id=8\n");
  });

  test('.BTF inside an ELF is found; an ELF without it is refused', () => {
    const elf = buildElf({
      class: 64,
      littleEndian: true,
      machine: 62,
      sections: [{ name: '.BTF', data: sample().build() }],
    });
    assert.equal(dumpBtfRaw(parseBtfFile(elf, 'vmlinux')), RAW);
    const none = buildElf({ class: 64, littleEndian: true, machine: 62, sections: [] });
    assert.throws(
      () => parseBtfFile(none, 'vmlinux'),
      (e: { code?: string }) => typeof e.code === 'string' && e.code.startsWith('E_'),
    );
  });
});

describe('BTF: malformed, code and offset', () => {
  const good = sample().build();
  const TYPES = 24;
  const base = parseBtfFile(good, 'vmlinux');
  const cases: [string, () => unknown, string, number][] = [
    ['no magic', () => Btf.parse(new Uint8Array(30), { file: 'x' }), 'E_MAGIC', 0],
    [
      'no magic, at an absolute offset',
      () => Btf.parse(new Uint8Array(30), { file: 'x', offset: 0x500 }),
      'E_MAGIC',
      0x500,
    ],
    [
      'version 2',
      () =>
        Btf.parse(
          patched(good, (_, b) => void (b[2] = 2)),
          { file: 'x' },
        ),
      'E_UNSUPPORTED',
      2,
    ],
    [
      'unknown kind 31 in type [1]',
      () =>
        Btf.parse(
          patched(good, (v) => v.setUint32(TYPES + 4, 31 << 24, true)),
          { file: 'x' },
        ),
      'E_FORMAT',
      TYPES + 4,
    ],
    [
      'a struct whose members run past the type section',
      () =>
        Btf.parse(
          patched(good, (v) => v.setUint32(TYPES + 16 + 4, (4 << 24) | 0x8000_0000 | 200, true)),
          { file: 'x' },
        ),
      'E_TRUNCATED',
      TYPES + 16,
    ],
    [
      'strings not starting with ""',
      () =>
        Btf.parse(
          patched(good, (v, b) => void (b[TYPES + v.getUint32(16, true)] = 0x41)),
          { file: 'x' },
        ),
      'E_FORMAT',
      TYPES + new DataView(good.buffer).getUint32(16, true),
    ],
    [
      'split BTF in the other byte order',
      () => Btf.parse(sample().build({ littleEndian: false }), { file: 'm', base }),
      'E_FORMAT',
      0,
    ],
  ];
  for (const [name, fn, code, offset] of cases)
    test(`${name} → ${code} at ${offset}`, () => throwsAt(fn, code, offset));
});
