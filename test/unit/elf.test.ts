/** src/elf: headers and sections in the four layouts, symbols, and every refusal at its offset. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Elf, probeElf, SHT_STRTAB, SHT_SYMTAB } from '../../src/elf/elf.js';
import { buildElf } from '../kernel/build-elf.js';
import { latin1, moduleElf, patched, throwsAt } from './fixtures.js';

const LAYOUTS = [
  { class: 64, littleEndian: true, machine: 62 },
  { class: 64, littleEndian: false, machine: 22 },
  { class: 32, littleEndian: true, machine: 40 },
  { class: 32, littleEndian: false, machine: 8 },
] as const;

describe('ELF: the four layouts', () => {
  for (const l of LAYOUTS) {
    test(`ELF${l.class} ${l.littleEndian ? 'LSB' : 'MSB'}: header, section names, contents, lookup`, () => {
      const payload = latin1('payload\0');
      const data = moduleElf({ ...l, sections: [{ name: '.data', data: payload, addr: 0x1000n }] });
      assert.equal(probeElf(data), true);
      const elf = Elf.parse(data, 'm.ko');
      assert.equal(elf.header.class, l.class);
      assert.equal(elf.header.littleEndian, l.littleEndian);
      assert.equal(elf.header.e_machine, l.machine);
      assert.equal(elf.wordSize, l.class / 8);
      assert.deepEqual(
        elf.sections.map((s) => s.name),
        ['', '.modinfo', '.data', '.shstrtab'],
      );
      const s = elf.findSection('.data')!;
      assert.equal(s.index, 2);
      assert.equal(s.sh_addr, 0x1000n);
      assert.deepEqual(elf.sectionData(s), payload);
      assert.equal(elf.findSection('.dat'), undefined);
      assert.equal(elf.findSection('.missing'), undefined);
      assert.equal(elf.symbols(), undefined);
      // the reader follows the file's byte order
      const r = elf.sectionReader(s);
      assert.equal(r.u8(0), 0x70);
      throwsAt(() => r.u32(6), 'E_TRUNCATED', s.sh_offset + 6);
    });
  }

  test('a forced layout reads the file as the kernel would, whatever e_ident says', () => {
    const data = patched(moduleElf(), (_, b) => void (b[4] = 1)); // EI_CLASS says 32-bit
    assert.equal(Elf.parse(data, 'm.ko', 0, { class: 64, littleEndian: true }).sections.length, 3);
  });

  test('probeElf never throws and refuses short, foreign and unknown-class data', () => {
    for (const d of [
      new Uint8Array(0),
      latin1('\x7fELF'),
      latin1('MZ'.padEnd(64, '\0')),
      patched(moduleElf(), (_, b) => void (b[5] = 3)),
    ])
      assert.equal(probeElf(d), false);
  });
});

describe('ELF: symbols', () => {
  const sym64 = (name: number, info: number, shndx: number, value: bigint): Uint8Array => {
    const b = new Uint8Array(24);
    const v = new DataView(b.buffer);
    v.setUint32(0, name, true);
    b[4] = info;
    v.setUint16(6, shndx, true);
    v.setBigUint64(8, value, true);
    v.setBigUint64(16, 8n, true);
    return b;
  };
  const withSymtab = (entsize: number, link: number): Uint8Array => {
    const syms = new Uint8Array(72);
    syms.set(sym64(1, 0x12, 1, 0x40n), 24); // GLOBAL FUNC
    syms.set(sym64(9, 0x01, 0, 0n), 48); // LOCAL OBJECT, undefined
    const data = moduleElf({
      sections: [
        { name: '.symtab', data: syms, type: SHT_SYMTAB, flags: 0 },
        { name: '.strtab', data: latin1('\0init_fn\0x\0'), type: SHT_STRTAB, flags: 0 },
      ],
    });
    const elf = Elf.parse(data, 'm.ko');
    const h = elf.sections[2]!.headerOffset;
    return patched(data, (v) => {
      v.setUint32(h + 40, link, true);
      v.setBigUint64(h + 56, BigInt(entsize), true);
    });
  };

  test('names, binding, type and section index', () => {
    const syms = Elf.parse(withSymtab(24, 3), 'm.ko').symbols()!;
    assert.deepEqual(
      syms.map((s) => [s.index, s.name, s.bind, s.type, s.st_shndx, s.st_value]),
      [
        [0, '', 0, 0, 0, 0n],
        [1, 'init_fn', 1, 2, 1, 0x40n],
        [2, 'x', 0, 1, 0, 0n],
      ],
    );
  });

  const cases: { name: string; entsize: number; link: number }[] = [
    { name: 'entry size 20', entsize: 20, link: 3 },
    { name: 'sh_link to a non-string table', entsize: 24, link: 1 },
    { name: 'sh_link past the table', entsize: 24, link: 9 },
  ];
  for (const c of cases) {
    test(`refused: ${c.name} (E_FORMAT at the symtab's section header)`, () => {
      const data = withSymtab(c.entsize, c.link);
      const elf = Elf.parse(data, 'm.ko');
      throwsAt(() => elf.symbols(), 'E_FORMAT', elf.sections[2]!.headerOffset);
    });
  }
});

describe('ELF: malformed headers and tables, code and offset', () => {
  for (const cls of [64, 32] as const) {
    const good = moduleElf({ class: cls });
    const elf = Elf.parse(good, 'm.ko');
    const w = cls === 64 ? 8 : 4;
    const shoffAt = 24 + 2 * w;
    const shentsizeAt = 24 + 3 * w + 10;
    const shnumAt = shentsizeAt + 2;
    const shstrndxAt = shentsizeAt + 4;
    const sec1 = elf.sections[1]!.headerOffset;
    const shstr = elf.sections[2]!;
    const setWord = (v: DataView, at: number, n: number): void =>
      cls === 64 ? v.setBigUint64(at, BigInt(n), true) : v.setUint32(at, n, true);
    const table: [string, Uint8Array, string, number][] = [
      ['empty', new Uint8Array(0), 'E_MAGIC', 0],
      ['not ELF', latin1('!<arch>\n'.padEnd(80, ' ')), 'E_MAGIC', 0],
      ['EI_CLASS 3', patched(good, (_, b) => void (b[4] = 3)), 'E_FORMAT', 4],
      ['EI_DATA 0', patched(good, (_, b) => void (b[5] = 0)), 'E_FORMAT', 5],
      ['header cut at 20 bytes', good.subarray(0, 20), 'E_TRUNCATED', 0],
      ['e_shentsize 63', patched(good, (v) => v.setUint16(shentsizeAt, 63, true)), 'E_FORMAT', shentsizeAt],
      ['e_shoff 0', patched(good, (v) => setWord(v, shoffAt, 0)), 'E_RANGE', shoffAt],
      ['e_shoff past the end', patched(good, (v) => setWord(v, shoffAt, good.length)), 'E_RANGE', shoffAt],
      ['e_shnum past the end', patched(good, (v) => v.setUint16(shnumAt, 200, true)), 'E_RANGE', shoffAt],
      ['table cut off', good.subarray(0, good.length - 1), 'E_RANGE', shoffAt],
      ['e_shstrndx = e_shnum', patched(good, (v) => v.setUint16(shstrndxAt, 4, true)), 'E_RANGE', shstrndxAt],
      [
        'a section past the end',
        patched(good, (v) => setWord(v, sec1 + (cls === 64 ? 32 : 20), good.length)),
        'E_RANGE',
        sec1 + (cls === 64 ? 24 : 16),
      ],
      [
        'section names not NUL-terminated',
        patched(good, (_, b) => void (b[shstr.sh_offset + shstr.sh_size - 1] = 0x41)),
        'E_FORMAT',
        shstr.sh_offset + shstr.sh_size - 1,
      ],
    ];
    for (const [name, data, code, offset] of table) {
      test(`ELF${cls}: ${name} → ${code} at ${offset}`, () => throwsAt(() => Elf.parse(data, 'm.ko'), code, offset));
    }
  }

  test('offsets are absolute: an ELF at base 0x1000 inside a container', () => {
    const data = patched(moduleElf(), (_, b) => void (b[4] = 3));
    throwsAt(() => Elf.parse(data, 'pkg.deb', 0x1000), 'E_FORMAT', 0x1004);
  });

  test('a section table without sections is empty, not an error', () => {
    const data = patched(buildElf({ class: 64, littleEndian: true, machine: 62, sections: [] }), (v) => {
      v.setUint16(60, 0, true);
      v.setUint16(62, 0, true);
    });
    assert.deepEqual(Elf.parse(data, 'm.ko').sections, []);
  });
});
