/**
 * __ksymtab/__kcrctab decoding on synthetic vmlinux ELFs: PREL32 (x86-64), absolute ELF32 LE
 * (armhf) and absolute ELF64 BE (s390x), plus a negative table. Real images: testkernel and
 * debian tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Elf } from '../../src/elf/elf.js';
import { FormatError } from '../../src/bytes/errors.js';
import { formatSymvers, ksymtabLayout, readExports, type ExportedSymbol } from '../../src/kernel/ksymtab.js';
import { buildElf, type SectionSpec } from './build-elf.js';

interface Sym {
  name: string;
  ns: string;
  crc: number;
}
const PLAIN: Sym[] = [
  { name: 'alpha', ns: '', crc: 0x11111111 },
  { name: 'beta', ns: 'NS1', crc: 0xdeadbeef },
];
const GPL: Sym[] = [{ name: 'gamma', ns: '', crc: 0x00000042 }];
const STR_ADDR = 0x9000n;

/** __ksymtab_strings and each symbol's name/namespace address (namespace undefined = none). */
function strings(syms: Sym[], nsNull: boolean): { data: Uint8Array; name: bigint[]; ns: (bigint | undefined)[] } {
  let s = '';
  const name: bigint[] = [];
  const ns: (bigint | undefined)[] = [];
  for (const x of syms) {
    name.push(STR_ADDR + BigInt(s.length));
    s += `${x.name}\0`;
    if (nsNull && x.ns === '') ns.push(undefined);
    else {
      ns.push(STR_ADDR + BigInt(s.length));
      s += `${x.ns}\0`;
    }
  }
  return { data: Buffer.from(s, 'latin1'), name, ns };
}

function image(
  layout: 'prel32' | 'abs32le' | 'abs64be',
  opts: { crcs?: boolean; mutate?: (secs: SectionSpec[]) => void } = {},
): Uint8Array {
  const all = [...PLAIN, ...GPL];
  const str = strings(all, layout !== 'prel32');
  const le = layout !== 'abs64be';
  const w = layout === 'abs32le' ? 4 : 8;
  const table = (from: number, syms: Sym[], addr: bigint): Uint8Array => {
    const ent = layout === 'prel32' ? 12 : 3 * w;
    const b = new Uint8Array(syms.length * ent);
    const v = new DataView(b.buffer);
    syms.forEach((_x, k) => {
      const i = from + k;
      const o = k * ent;
      if (layout === 'prel32') {
        const place = addr + BigInt(o);
        v.setInt32(o, -0x1000, le);
        v.setInt32(o + 4, Number(str.name[i]! - (place + 4n)), le);
        v.setInt32(o + 8, Number(str.ns[i]! - (place + 8n)), le);
      } else {
        const put = (at: number, val: bigint): void =>
          w === 8 ? v.setBigUint64(at, val, le) : v.setUint32(at, Number(val), le);
        put(o, 0x1000n + BigInt(i));
        put(o + w, str.name[i]!);
        put(o + 2 * w, str.ns[i] ?? 0n);
      }
    });
    return b;
  };
  const crc = (syms: Sym[]): Uint8Array => {
    const b = new Uint8Array(syms.length * 4);
    syms.forEach((x, i) => new DataView(b.buffer).setUint32(i * 4, x.crc, le));
    return b;
  };
  const secs: SectionSpec[] = [
    { name: '__ksymtab', addr: 0x8000n, data: table(0, PLAIN, 0x8000n) },
    { name: '__ksymtab_gpl', addr: 0x8800n, data: table(PLAIN.length, GPL, 0x8800n) },
    ...(opts.crcs === false
      ? []
      : [
          { name: '__kcrctab', addr: 0x8c00n, data: crc(PLAIN) },
          { name: '__kcrctab_gpl', addr: 0x8e00n, data: crc(GPL) },
        ]),
    { name: '__ksymtab_strings', addr: STR_ADDR, data: str.data },
  ];
  opts.mutate?.(secs);
  return buildElf({
    class: layout === 'abs32le' ? 32 : 64,
    littleEndian: le,
    machine: layout === 'prel32' ? 62 : layout === 'abs32le' ? 40 : 22,
    sections: secs,
  });
}

const EXPECTED: ExportedSymbol[] = [
  ...PLAIN.map((x) => ({ name: x.name, crc: x.crc, gpl: false, namespace: x.ns })),
  ...GPL.map((x) => ({ name: x.name, crc: x.crc, gpl: true, namespace: x.ns })),
];

test('PREL32 and absolute layouts decode to the same exports', () => {
  for (const [layout, want] of [
    ['prel32', 'prel32'],
    ['abs32le', 'absolute'],
    ['abs64be', 'absolute'],
  ] as const) {
    const elf = Elf.parse(image(layout), layout);
    assert.equal(ksymtabLayout(elf), want, layout);
    assert.deepEqual(readExports(elf), EXPECTED, layout);
  }
});

test('without __kcrctab (no MODVERSIONS) CRCs are undefined; without __ksymtab there is nothing', () => {
  for (const layout of ['prel32', 'abs32le', 'abs64be'] as const) {
    const ex = readExports(Elf.parse(image(layout, { crcs: false }), layout))!;
    assert.deepEqual(
      ex.map((e) => e.crc),
      [undefined, undefined, undefined],
    );
    assert.deepEqual(
      ex.map((e) => e.name),
      ['alpha', 'beta', 'gamma'],
    );
  }
  const none = Elf.parse(
    buildElf({ class: 64, littleEndian: true, machine: 62, sections: [{ name: '.text', data: new Uint8Array(4) }] }),
    'x',
  );
  assert.equal(readExports(none), undefined);
});

test('formatSymvers prints Module.symvers lines', () => {
  assert.equal(
    formatSymvers(EXPECTED),
    '0x11111111\talpha\tvmlinux\tEXPORT_SYMBOL\t\n' +
      '0xdeadbeef\tbeta\tvmlinux\tEXPORT_SYMBOL\tNS1\n' +
      '0x00000042\tgamma\tvmlinux\tEXPORT_SYMBOL_GPL\t\n',
  );
  assert.equal(
    formatSymvers([{ name: 'x', crc: undefined, gpl: true, namespace: '' }], 'mymod'),
    '0x00000000\tx\tmymod\tEXPORT_SYMBOL_GPL\t\n',
  );
});

test('malformed tables: E_FORMAT naming the section', () => {
  const cases: { descr: string; layout: 'prel32' | 'abs32le'; mutate: (s: SectionSpec[]) => void; detail: RegExp }[] = [
    {
      descr: 'CRC count differs',
      layout: 'prel32',
      mutate: (s) => {
        s[2]!.data = s[2]!.data.subarray(4);
      },
      detail: /__kcrctab has 1 CRCs for 2 symbols/,
    },
    {
      descr: 'table size not a multiple',
      layout: 'abs32le',
      mutate: (s) => {
        s[0]!.data = s[0]!.data.subarray(0, 13);
      },
      detail: /not a multiple/,
    },
    {
      descr: 'name outside strings',
      layout: 'abs32le',
      mutate: (s) => {
        new DataView(s[0]!.data.buffer, s[0]!.data.byteOffset).setUint32(4, 0x100, true);
      },
      detail: /name 0x100 is outside __ksymtab_strings/,
    },
    {
      descr: 'no strings section',
      layout: 'prel32',
      mutate: (s) => {
        s[4]!.name = '.rodata';
      },
      detail: /without __ksymtab_strings/,
    },
  ];
  for (const c of cases) {
    assert.throws(
      () => readExports(Elf.parse(image(c.layout, { mutate: c.mutate }), c.descr)),
      (e) => e instanceof FormatError && e.code === 'E_FORMAT' && c.detail.test(e.message),
      c.descr,
    );
  }
});
