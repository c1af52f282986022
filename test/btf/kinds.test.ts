/**
 * Every BTF kind and the printing corner cases (encodings, bitfields, signed/64-bit enums,
 * linkages, varargs, DATASEC annotations, invalid name offsets, JSON escaping), built by code,
 * in both byte orders, as base and as split BTF — compared byte for byte with bpftool.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Btf, BTF_KIND_ENUM64, BTF_KIND_STRUCT } from '../../src/btf/btf.js';
import { dumpBtfJson, dumpBtfRaw } from '../../src/btf/dump.js';
import { BtfBuilder, splitBuilder } from './build.js';
import { bpftool, CACHE, haveBpftool } from './helpers.js';

const skip = !haveBpftool() && 'bpftool not installed';

/** A base BTF using every kind. */
function everyKind(): BtfBuilder {
  const b = new BtfBuilder();
  const ulong = b.int('long unsigned int', 8, 64); /* [1] */
  const int = b.int('int', 4, 32, 1); /* [2] */
  b.int('char', 1, 8, 2); /* [3] */
  b.int('_Bool', 1, 8, 4); /* [4] */
  b.int('odd', 4, 7, 8, 3); /* [5] encoding UNKN, bits_offset 3 */
  const voidp = b.ref('PTR', 0); /* [6] */
  const cint = b.ref('CONST', int); /* [7] */
  b.ref('VOLATILE', cint); /* [8] */
  b.ref('RESTRICT', voidp); /* [9] */
  const td = b.ref('TYPEDEF', ulong, 'u64'); /* [10] */
  b.ref('TYPE_TAG', voidp, 'user'); /* [11] */
  b.array(int, ulong, 16); /* [12] */
  const st = b.struct('s', 16, [
    /* [13] kflag struct with bitfields */ { name: 'a', type: int, bitsOffset: 0, bitfieldSize: 3 },
    { name: 'b', type: int, bitsOffset: 3, bitfieldSize: 0 },
    { name: '', type: td, bitsOffset: 64 },
  ]);
  b.struct(
    'u',
    8,
    [
      { name: 'x', type: int, bitsOffset: 0 },
      { name: 'y', type: ulong, bitsOffset: 0 },
    ],
    true,
  ); /* [14] union */
  b.enumType('e', 4, [
    { name: 'A', val: 0 },
    { name: 'B', val: 0xfffffffe },
  ]); /* [15] unsigned, >= 2^31 */
  b.enumType(
    '',
    4,
    [
      { name: 'NEG', val: -5 },
      { name: 'POS', val: 7 },
    ],
    true,
  ); /* [16] signed */
  b.enum64('e64', 8, [
    { name: 'BIG', val: 0xffffffffffffffe0n },
    { name: 'ONE', val: 1n },
  ]); /* [17] */
  b.enum64(
    's64',
    8,
    [
      { name: 'MIN', val: -9223372036854775808n },
      { name: 'M1', val: -1n },
    ],
    true,
  ); /* [18] signed */
  b.fwd('fs'); /* [19] */
  b.fwd('fu', true); /* [20] */
  const proto = b.funcProto(int, [
    { name: 'p', type: voidp },
    { name: '', type: 0 },
  ]); /* [21] vararg */
  b.funcProto(0, []); /* [22] void(void) */
  b.func('f_static', proto, 0); /* [23] */
  b.func('f_global', proto, 1); /* [24] */
  b.func('f_extern', proto, 2); /* [25] */
  b.func('f_odd', proto, 7); /* [26] (unknown) linkage */
  const v1 = b.variable('v_static', int, 0); /* [27] */
  const v2 = b.variable('v_global', st, 1); /* [28] */
  b.variable('v_extern', int, 2); /* [29] */
  b.variable('v_odd', int, 9); /* [30] */
  b.datasec('.data..percpu', 64, [
    /* [31] */ { type: v1, offset: 0, size: 4 },
    { type: v2, offset: 8, size: 16 },
    { type: 0, offset: 24, size: 4 }, // void: annotated (UNKNOWN '(anon)')
    { type: 999, offset: 32, size: 4 }, // past the last id: no annotation
  ]);
  b.float('double', 8); /* [32] */
  b.declTag('bpf_kfunc', 23, -1); /* [33] */
  b.declTag('tag', st, 2); /* [34] */
  b.int(0xfffff0, 4, 32); /* [35] name offset past the strings: (invalid) */
  b.struct('q"\\\tx\xe9', 4, [
    { name: 0x7ffffff, type: int, bitsOffset: 0 },
  ]); /* [36] JSON escaping, invalid member name */
  b.ref('PTR', 12345); /* [37] dangling type id is printed as is */
  return b;
}

function writeTmp(name: string, data: Uint8Array): string {
  mkdirSync(CACHE, { recursive: true });
  const p = join(CACHE, name);
  writeFileSync(p, data);
  return p;
}

function same(ours: string, theirs: string): void {
  if (ours === theirs) return;
  const a = ours.split(/(?<=\n)|(?<=\},)/);
  const b = theirs.split(/(?<=\n)|(?<=\},)/);
  let i = 0;
  while (a[i] === b[i]) i++;
  assert.fail(
    `differs from bpftool at chunk ${i}:\n  ours:    ${JSON.stringify(a[i])}\n  bpftool: ${JSON.stringify(b[i])}`,
  );
}

describe('every kind vs bpftool', { skip }, () => {
  for (const littleEndian of [true, false]) {
    it(`base BTF, ${littleEndian ? 'little' : 'big'}-endian: raw and JSON`, () => {
      const bytes = everyKind().build({ littleEndian });
      const f = writeTmp(`kinds-${littleEndian ? 'le' : 'be'}.btf`, bytes);
      const btf = Btf.parse(bytes, { file: f });
      assert.equal(btf.littleEndian, littleEndian);
      same(dumpBtfRaw(btf), bpftool(['btf', 'dump', 'file', f, 'format', 'raw']));
      same(dumpBtfJson(btf), bpftool(['-j', 'btf', 'dump', 'file', f, 'format', 'raw']));
    });

    it(`split BTF on the synthetic base, ${littleEndian ? 'little' : 'big'}-endian`, () => {
      const baseBytes = everyKind().build({ littleEndian });
      const bf = writeTmp(`kinds-base-${littleEndian ? 'le' : 'be'}.btf`, baseBytes);
      const base = Btf.parse(baseBytes, { file: bf });
      const s = splitBuilder(base);
      const own = s.struct('mod_s', 8, [{ name: 'p', type: 6, bitsOffset: 0 }]); /* [38] */
      s.ref('PTR', own); /* [39] */
      s.func('u64', 21, 1); /* [40] name "u64" reused from the base string section */
      s.variable('mod_v', own, 1); /* [41] */
      s.datasec('.data', 8, [
        { type: 41, offset: 0, size: 8 },
        { type: 27, offset: 0, size: 4 },
      ]); /* [42] entries in split and base */
      s.declTag('decl', own, 0); /* [43] */
      s.int(base.strEndOff + 10_000, 4, 32); /* [44] invalid split name */
      const bytes = s.build({ littleEndian });
      const f = writeTmp(`kinds-split-${littleEndian ? 'le' : 'be'}.btf`, bytes);
      const btf = Btf.parse(bytes, { file: f, base });
      assert.equal(btf.startId, 38);
      assert.equal(btf.typeCount, 45);
      same(dumpBtfRaw(btf), bpftool(['-B', bf, 'btf', 'dump', 'file', f, 'format', 'raw']));
      same(dumpBtfJson(btf), bpftool(['-j', '-B', bf, 'btf', 'dump', 'file', f, 'format', 'raw']));
    });
  }
});

describe('decoded types', () => {
  it('decodes members, bitfields and 64-bit enums', () => {
    const btf = Btf.parse(everyKind().build(), { file: 'kinds' });
    const s = btf.type(13);
    assert.equal(s.kind, BTF_KIND_STRUCT);
    if (s.kind === BTF_KIND_STRUCT) {
      assert.deepEqual(
        s.members.map((m) => [m.name, m.type, m.bitsOffset, m.bitfieldSize]),
        [
          ['a', 2, 0, 3],
          ['b', 2, 3, 0],
          ['', 10, 64, 0],
        ],
      );
    }
    const e = btf.type(18);
    assert.equal(e.kind, BTF_KIND_ENUM64);
    if (e.kind === BTF_KIND_ENUM64)
      assert.deepEqual(
        e.values.map((v) => v.val),
        [-9223372036854775808n, -1n],
      );
    assert.equal(btf.type(35).name, undefined);
    assert.equal(btf.str(0), '');
    assert.equal(btf.hasType(37), true);
    assert.equal(btf.hasType(38), false);
    assert.equal(btf.hasType(0), false);
  });
});
