/**
 * src/pe/sbat.ts on inputs built by code: shim 16.1's CSV rules (its own test-sbat.c cases among
 * them), generations as AsciiStrDecimalToUintn into a UINT16, the level and its efivarfs form,
 * the verdict, the built-in levels, `.sbat` located in a PE image, and hostile input.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../bytes/errors.js';
import {
  builtinSbatLevel,
  formatSbat,
  imageSbat,
  judgeImageSbat,
  judgeSbatEntries,
  looksLikeEfiVariable,
  parseSbat,
  parseSbatLevel,
  parseSbatLevelSection,
  parseSbatLevelVariable,
  PUBLISHED_SBAT_LEVELS,
  readSbat,
  sbatGeneration,
  SHIM_SBAT_LEVELS,
  validateSbat,
  type SbatLevel,
} from './sbat.js';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const HEADER = 'sbat,1,SBAT Version,sbat,1,github.com/rhboot/shim/blob/main/SBAT.md\n';
const GRUB = 'grub,4,Free Software Foundation,grub,2.06,www.gnu.org/software/grub/\n';
const DEBIAN = 'grub.debian,4,Debian,grub2,2.06-13,mail:debian-boot@lists.debian.org\n';
const components = (s: string | Uint8Array): string[] =>
  parseSbat(s).entries.map((e) => `${e.component},${e.generation}`);
const errors = (s: string | Uint8Array): [number, string][] =>
  parseSbat(s)
    .issues.filter((i) => i.severity === 'error')
    .map((i) => [i.offset, i.message]);
const level = (s: string): SbatLevel => parseSbatLevel(s, 'level');

describe('.sbat as shim parses it', () => {
  test('canonical text: six fields per row, offsets, and format() gives the same bytes back', () => {
    const text = HEADER + GRUB + DEBIAN;
    const p = parseSbat(bytes(text));
    assert.equal(p.valid, true);
    assert.deepEqual(p.issues, []);
    assert.deepEqual(p.entries[1], {
      component: 'grub',
      generation: '4',
      vendorName: 'Free Software Foundation',
      vendorPackage: 'grub',
      vendorVersion: '2.06',
      vendorUrl: 'www.gnu.org/software/grub/',
      offset: HEADER.length,
    });
    assert.deepEqual(
      p.entries.map((e) => e.offset),
      [0, HEADER.length, HEADER.length + GRUB.length],
    );
    assert.equal(formatSbat(p.entries), text);
    assert.equal(formatSbat(parseSbat(text + '\0'.repeat(300)).entries), text, 'zero padding');
  });

  test("shim's test-sbat.c cases", () => {
    // test_parse_sbat_section_no_newline: success
    assert.deepEqual(components('test1,1,SBAT test1,acme,1,testURL'), ['test1,1']);
    // test_parse_sbat_section_no_commas, test_parse_sbat_section_too_few_elem: EFI_INVALID_PARAMETER
    assert.deepEqual(errors('test1'), [[0, 'a row without a comma (shim needs 6 comma-separated fields)']]);
    assert.deepEqual(errors('test1,1,acme'), [[0, 'a row of 3 fields (shim needs 6)']]);
    // test_parse_sbat_section_too_many_elem: the first six fields of each row
    const many =
      'test1,1,SBAT test1,acme1,1,testURL1,other1,stuff,is,here\n' + 'test2,2,SBAT test2,acme2,2,testURL2,other2';
    const p = parseSbat(many);
    assert.equal(p.valid, true);
    assert.deepEqual(
      p.entries.map((e) => [e.component, e.vendorUrl]),
      [
        ['test1', 'testURL1'],
        ['test2', 'testURL2'],
      ],
    );
    assert.ok(p.issues.some((i) => i.severity === 'warning' && /ignores those after the 6th/.test(i.message)));
  });

  test('line breaks: CR, LF, CRLF and runs of them make no rows; leading breaks are skipped', () => {
    const crlf = '\r\n\n' + HEADER.replace('\n', '\r\n') + '\r\r\n\n' + GRUB.replace('\n', '\r');
    assert.deepEqual(components(crlf), ['sbat,1', 'grub,4']);
    assert.deepEqual(parseSbat(crlf).entries[0]!.offset, 3);
  });

  test('a UTF-8 BOM is skipped (with a warning); a lone EF BB is not one', () => {
    const p = parseSbat(bytes('\xef\xbb\xbf' + HEADER));
    assert.deepEqual(
      p.entries.map((e) => e.offset),
      [3],
    );
    assert.ok(p.issues.some((i) => /byte order mark/.test(i.message)));
    assert.equal(parseSbat(bytes('\xef\xbb')).valid, false);
  });

  test('NULs: the first one ends the data, except right after a line break with more text behind it', () => {
    assert.deepEqual(components(HEADER + '\0' + GRUB), ['sbat,1']);
    const after = parseSbat(HEADER + '\0' + GRUB);
    assert.ok(after.issues.some((i) => i.offset === HEADER.length + 1 && /ignored by shim/.test(i.message)));
    // a NUL inside a row ends the row and the data
    assert.deepEqual(components('grub,4,a,b,c,d\0,junk\n' + GRUB), ['grub,4']);
    // shim's parse_csv_data(): after "\n\n" a NUL makes an empty line and parsing goes on behind it
    const on = parseSbat(HEADER + '\n\0' + GRUB);
    assert.deepEqual(
      on.entries.map((e) => e.component),
      ['sbat', 'grub'],
    );
    assert.ok(on.issues.some((i) => i.offset === HEADER.length + 1 && /reads on past it/.test(i.message)));
  });

  test('refusals: too few fields, an empty field, with the offset of the row or field', () => {
    assert.deepEqual(errors(HEADER + 'grub,4,FSF,grub,2.06\n'), [[HEADER.length, 'a row of 5 fields (shim needs 6)']]);
    assert.deepEqual(errors(HEADER + 'grub,4,,grub,2.06,url\n'), [[HEADER.length + 7, 'field 3 is empty']]);
    assert.deepEqual(errors(HEADER + 'grub,4,FSF,grub,2.06,\n'), [[HEADER.length + 21, 'field 6 is empty']]);
    assert.equal(parseSbat(HEADER + 'x\n').entries.length, 0, 'no entries when shim refuses');
    assert.throws(
      () => readSbat(HEADER + 'grub,4\n', 'grubx64.efi', 0x3fb000),
      (e: unknown) =>
        e instanceof FormatError &&
        e.code === 'E_FORMAT' &&
        e.offset === 0x3fb000 + HEADER.length &&
        e.message ===
          `grubx64.efi: 0x${(0x3fb000 + HEADER.length).toString(16)}: sbat: a row of 2 fields (shim needs 6) (E_FORMAT)`,
    );
    assert.equal(readSbat(HEADER, 'x').length, 1);
  });

  test('empty data is valid with no entries (shim accepts it under any level), with a warning', () => {
    for (const s of ['', '\0\0\0', '\n\r\n', '\r\n\0']) {
      const p = parseSbat(s);
      assert.equal(p.valid, true, JSON.stringify(s));
      assert.equal(p.entries.length, 0);
      assert.ok(p.issues.some((i) => /no entries/.test(i.message)));
    }
  });

  test('warnings: a first row other than sbat,1; a non-numeric generation; non-ASCII', () => {
    assert.deepEqual(
      validateSbat(GRUB).map((i) => [i.severity, i.offset]),
      [['warning', 0]],
    );
    assert.match(validateSbat(GRUB)[0]!.message, /not 'sbat,1,...'/);
    const odd = validateSbat(HEADER + 'grub,4a,FSF,grub,2.06,url\n');
    assert.deepEqual(
      odd.map((i) => [i.offset, i.message]),
      [[HEADER.length + 5, "generation '4a' is not a decimal number: shim reads it as 4"]],
    );
    assert.ok(
      validateSbat(bytes(HEADER + 'grub,4,F\xfcr,grub,2.06,url\n')).some((i) => /outside ASCII/.test(i.message)),
    );
    assert.deepEqual(validateSbat(HEADER + GRUB), []);
  });

  test('generations are AsciiStrDecimalToUintn() stored in a UINT16', () => {
    const cases: [string, number][] = [
      ['4', 4],
      ['007', 7],
      [' \t3', 3],
      ['4a', 4],
      ['x', 0],
      ['-1', 0],
      ['+2', 0],
      ['65535', 65535],
      ['65536', 0],
      ['70000', 4464],
      ['99999999999999999999999', Number(99999999999999999999999n % 65536n)],
    ];
    for (const [text, n] of cases) assert.equal(sbatGeneration(text), n, text);
  });

  test('format() refuses fields it cannot write', () => {
    const e = parseSbat(HEADER).entries[0]!;
    for (const bad of ['', 'a,b', 'a\nb', 'a\rb', 'a\0b'])
      assert.throws(() => formatSbat([{ ...e, vendorName: bad }]), /sbat entry 1, field 3/);
  });
});

describe('SbatLevel', () => {
  test('the payload: header row with its datestamp, then component,generation rows', () => {
    const l = level('sbat,1,2024010900\nshim,4\ngrub,3\ngrub.debian,4\n');
    assert.equal(l.version, '1');
    assert.equal(l.datestamp, '2024010900');
    assert.deepEqual(
      l.entries.map((e) => [e.component, e.generation, e.offset]),
      [
        ['sbat', '1', 0],
        ['shim', '4', 18],
        ['grub', '3', 25],
        ['grub.debian', '4', 32],
      ],
    );
    assert.deepEqual(l.issues, []);
  });

  test('refusals name the offset; an empty payload revokes nothing', () => {
    const at = (text: string, offset: number, re: RegExp): void =>
      assert.throws(
        () => parseSbatLevel(text, 'SbatLevel', 4),
        (e: unknown) => e instanceof FormatError && e.offset === 4 + offset && re.test(e.message),
      );
    at('sbat,1,2021030218\ngrub\n', 18, /without a comma/);
    at('sbat,1,2021030218\ngrub,\n', 23, /field 2 is empty/);
    at('sbat,1,2021030218\n,3\n', 18, /field 1 is empty/);
    at('', 0, /an empty SbatLevel/);
    assert.equal(level('\n\n').entries.length, 0);
    assert.equal(level('\0junk').entries.length, 0);
    assert.match(level('grub,3\n').issues[0]!.message, /first row is not/);
  });

  test('the efivarfs form: four bytes of attributes first', () => {
    const payload = 'sbat,1,2025021800\nshim,4\ngrub,5\n';
    const v = parseSbatLevelVariable(new Uint8Array([6, 0, 0, 0, ...bytes(payload)]), 'SbatLevelRT');
    assert.equal(v.attributes, 6);
    assert.equal(v.level.datestamp, '2025021800');
    assert.equal(v.level.entries[2]!.offset, 25);
    assert.throws(
      () => parseSbatLevelVariable(new Uint8Array([7, 0]), 'SbatLevelRT'),
      (e: unknown) => e instanceof FormatError && e.code === 'E_TRUNCATED',
    );
    assert.throws(
      () => parseSbatLevelVariable(new Uint8Array([7, 0, 0, 0, ...bytes('sbat,1,2021030218\nx\n')]), 'v'),
      (e: unknown) => e instanceof FormatError && e.offset === 4 + 18,
    );
    assert.equal(looksLikeEfiVariable(new Uint8Array([7, 0, 0, 0, 0x73])), true);
    assert.equal(looksLikeEfiVariable(bytes(payload)), false);
  });

  test('built-in levels: Debian 12 shim 16.1 automatic and latest; published revocations as the generator reads them', () => {
    assert.equal(SHIM_SBAT_LEVELS.automatic, 'sbat,1,2025021800\nshim,4\ngrub,5\n');
    assert.equal(SHIM_SBAT_LEVELS.latest, 'sbat,1,2025051000\nshim,4\ngrub,5\ngrub.proxmox,2\n');
    assert.equal(builtinSbatLevel('previous'), SHIM_SBAT_LEVELS.automatic);
    assert.equal(builtinSbatLevel('original'), 'sbat,1,2021030218\n');
    // generate_sbat_var_defs.c: #elif per date, so the first 2022052400 wins; latest is the highest date
    assert.equal(builtinSbatLevel('2022052400'), 'sbat,1,2022052400\ngrub,2\n');
    const newest = [...PUBLISHED_SBAT_LEVELS].sort((a, b) => Number(b.datestamp) - Number(a.datestamp))[0]!;
    assert.equal(newest.text, SHIM_SBAT_LEVELS.latest);
    assert.equal(builtinSbatLevel('2025021800'), SHIM_SBAT_LEVELS.automatic);
    assert.equal(builtinSbatLevel('1999'), undefined);
    for (const l of PUBLISHED_SBAT_LEVELS) {
      const p = level(l.text);
      assert.equal(p.datestamp, l.datestamp);
      assert.deepEqual(p.issues, []);
    }
  });

  test('the .sbatlevel section of a shim binary: version 0, two offsets from byte 4, NUL-terminated payloads', () => {
    const a = SHIM_SBAT_LEVELS.automatic;
    const l = SHIM_SBAT_LEVELS.latest;
    const section = new Uint8Array(12 + a.length + 1 + l.length + 1);
    const v = new DataView(section.buffer);
    v.setUint32(4, 8, true);
    v.setUint32(8, 8 + a.length + 1, true);
    section.set(bytes(a), 12);
    section.set(bytes(l), 12 + a.length + 1);
    assert.deepEqual(parseSbatLevelSection(section, 'shimx64.efi'), { automatic: a, latest: l });
    const bad = (edit: (d: DataView) => void, code: string): void => {
      const c = section.slice();
      edit(new DataView(c.buffer));
      assert.throws(
        () => parseSbatLevelSection(c, 'x'),
        (e: unknown) => e instanceof FormatError && e.code === code,
      );
    };
    bad((d) => d.setUint32(0, 1, true), 'E_FORMAT');
    bad((d) => d.setUint32(8, 0xffffff, true), 'E_RANGE');
    bad((d) => d.setUint8(section.length - 1, 0x41), 'E_TRUNCATED');
    assert.throws(() => parseSbatLevelSection(section.subarray(0, 6), 'x'), FormatError);
  });
});

describe('the verdict', () => {
  const image = parseSbat(HEADER + GRUB + DEBIAN).entries;
  test('a lower generation is revoked, equal or higher is not; other components do not matter', () => {
    assert.equal(judgeSbatEntries(image, level('sbat,1,2022111500\nshim,2\ngrub,3\n')).allowed, true);
    assert.equal(judgeSbatEntries(image, level('sbat,1,2023091900\nshim,2\ngrub,4\n')).allowed, true);
    const j = judgeSbatEntries(image, level('sbat,1,2025021800\nshim,4\ngrub,5\n'));
    assert.equal(j.allowed, false);
    assert.equal(j.revoked!.entry.component, 'grub');
    assert.equal(j.revoked!.generation, 4);
    assert.equal(j.revoked!.minimum, 5);
    assert.equal(j.revoked!.levelEntry!.offset, 25);
    assert.equal(
      judgeSbatEntries(image, level('sbat,1,2023012900\ngrub,3\ngrub.debian,5\n')).revoked!.entry.component,
      'grub.debian',
    );
  });

  test("the first level row of a name decides; names match exactly; the level's own sbat row counts", () => {
    assert.equal(judgeSbatEntries(image, level('sbat,1,1\ngrub,3\ngrub,9\n')).allowed, true);
    assert.equal(judgeSbatEntries(image, level('sbat,1,1\ngrub,9\ngrub,3\n')).allowed, false);
    assert.equal(judgeSbatEntries(image, level('sbat,1,1\nGRUB,9\ngrub.debia,9\n')).allowed, true);
    const old = parseSbat('sbat,0,SBAT Version,sbat,1,url\n' + GRUB).entries;
    assert.equal(judgeSbatEntries(old, level('sbat,1,2021030218\n')).revoked!.entry.component, 'sbat');
    // generations compare as shim reads them: junk is 0, UINT16 wraps
    const junk = parseSbat(HEADER + 'grub,five,FSF,grub,2.06,url\n').entries;
    assert.equal(judgeSbatEntries(junk, level('sbat,1,1\ngrub,1\n')).allowed, false);
    const wrapped = parseSbat(HEADER + 'grub,65541,FSF,grub,2.06,url\n').entries;
    assert.equal(judgeSbatEntries(wrapped, level('sbat,1,1\ngrub,6\n')).revoked!.generation, 5);
  });

  test('image-level outcomes: empty level, no .sbat, malformed .sbat, refused section', () => {
    const grub5 = level('sbat,1,2025021800\nshim,4\ngrub,5\n');
    const empty = level('\n');
    const present = (text: string) =>
      ({ status: 'present', offset: 0, size: text.length, virtualSize: text.length, sbat: parseSbat(text) }) as const;
    assert.deepEqual(
      [judgeImageSbat({ status: 'absent' }, empty).reason, judgeImageSbat({ status: 'absent' }, empty).allowed],
      ['empty-level', true],
    );
    const none = judgeImageSbat({ status: 'absent' }, grub5);
    assert.deepEqual([none.allowed, none.allowedViaProtocol, none.reason], [false, true, 'no-sbat']);
    const ignored = judgeImageSbat({ status: 'ignored', offset: 0, size: 0, virtualSize: 9 }, grub5);
    assert.equal(ignored.reason, 'no-sbat');
    const bad = judgeImageSbat(present(HEADER + 'grub,5\n'), grub5);
    assert.deepEqual([bad.allowed, bad.allowedViaProtocol, bad.reason], [false, false, 'malformed']);
    assert.equal(judgeImageSbat(present(HEADER + 'grub,5\n'), empty).allowed, true, 'an empty level parses nothing');
    const two = judgeImageSbat({ status: 'refused', headerOffset: 0x188, reason: 'two' }, empty);
    assert.deepEqual([two.allowed, two.reason], [false, 'refused-section']);
    assert.equal(judgeImageSbat(present(''), grub5).reason, 'not-revoked', 'an empty .sbat passes');
    assert.equal(judgeImageSbat(present(HEADER + GRUB), grub5).reason, 'revoked');
    assert.equal(judgeImageSbat(present(HEADER + GRUB), level(SHIM_SBAT_LEVELS.original)).reason, 'not-revoked');
  });
});

/** A PE32+ image: headers in 0x200 bytes, then one 0x200-byte raw block per section. */
function peImage(
  sections: { name: string; text: string; raw?: number; virtual?: number; relocs?: number }[],
): Uint8Array {
  const b = new Uint8Array(0x200 * (1 + sections.length));
  const v = new DataView(b.buffer);
  b.set(bytes('MZ'), 0);
  v.setUint32(0x3c, 0x40, true);
  b.set(bytes('PE\0\0'), 0x40);
  v.setUint16(0x44, 0x8664, true);
  v.setUint16(0x46, sections.length, true);
  v.setUint16(0x54, 240, true);
  v.setUint16(0x58, 0x20b, true);
  v.setUint32(0x58 + 60, 0x200, true);
  v.setUint32(0x58 + 108, 16, true);
  sections.forEach((s, i) => {
    const h = 0x58 + 240 + 40 * i;
    b.set(bytes(s.name), h);
    v.setUint32(h + 8, s.virtual ?? s.text.length, true);
    v.setUint32(h + 12, 0x1000 * (i + 1), true);
    v.setUint32(h + 16, s.raw ?? 0x200, true);
    v.setUint32(h + 20, 0x200 * (i + 1), true);
    v.setUint16(h + 32, s.relocs ?? 0, true);
    b.set(bytes(s.text), 0x200 * (i + 1));
  });
  return b;
}

describe('.sbat in a PE image, as verify_buffer_sbat() finds it', () => {
  test('SizeOfRawData bytes are read, padding included; offsets are in the section', () => {
    const img = imageSbat(
      peImage([
        { name: '.text', text: 'code' },
        { name: '.sbat', text: HEADER + GRUB },
      ]),
      'x.efi',
    );
    assert.equal(img.status, 'present');
    if (img.status !== 'present') return;
    assert.deepEqual([img.offset, img.size, img.virtualSize], [0x400, 0x200, (HEADER + GRUB).length]);
    assert.deepEqual(
      img.sbat.entries.map((e) => e.component),
      ['sbat', 'grub'],
    );
  });

  test('absent, ignored (raw size 0 or below the virtual size), two sections, relocations', () => {
    assert.equal(imageSbat(peImage([{ name: '.text', text: 'x' }]), 'x').status, 'absent');
    assert.equal(imageSbat(peImage([{ name: '.sbata', text: HEADER }]), 'x').status, 'absent', 'exact name only');
    assert.equal(imageSbat(peImage([{ name: '.sbat', text: HEADER, raw: 0 }]), 'x').status, 'ignored');
    assert.equal(imageSbat(peImage([{ name: '.sbat', text: HEADER, virtual: 0x201 }]), 'x').status, 'ignored');
    const two = imageSbat(
      peImage([
        { name: '.sbat', text: HEADER },
        { name: '.sbat', text: HEADER },
      ]),
      'x',
    );
    assert.deepEqual(two, {
      status: 'refused',
      headerOffset: 0x58 + 240 + 40,
      reason: 'the image has two .sbat sections',
    });
    const relocs = imageSbat(peImage([{ name: '.sbat', text: HEADER, relocs: 1 }]), 'x');
    assert.equal(relocs.status, 'refused');
  });
});

describe('hostile input: a result or a typed error, in linear time', () => {
  test('random and mutated bytes', () => {
    let seed = 0x12345678;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const alphabet = bytes(',\n\r\0\xef\xbb\xbfsbat1 9a');
    const base = bytes(HEADER + GRUB + DEBIAN);
    for (let i = 0; i < 3000; i++) {
      const b =
        i % 2
          ? Uint8Array.from({ length: rnd(200) }, () => alphabet[rnd(alphabet.length)]!)
          : base.map((x) => (rnd(20) === 0 ? alphabet[rnd(alphabet.length)]! : x));
      const p = parseSbat(b);
      assert.equal(p.valid, !p.issues.some((x) => x.severity === 'error'));
      for (const x of p.issues) assert.ok(x.offset >= 0 && x.offset <= b.length);
      if (p.valid) assert.equal(parseSbat(formatSbat(p.entries)).entries.length, p.entries.length);
      try {
        judgeSbatEntries(p.entries, parseSbatLevel(b, 'fuzz'));
      } catch (e) {
        assert.ok(e instanceof FormatError, String(e));
      }
    }
  });

  test('4 MiB of rows, of commas, of line breaks: linear time', () => {
    const big = 4 << 20;
    for (const unit of ['a,1,b,c,d,e\n', ',', '\r\n', 'x', '\n\0']) {
      const b = bytes(unit.repeat(Math.ceil(big / unit.length)));
      const t = process.hrtime.bigint();
      parseSbat(b);
      try {
        parseSbatLevel(b, 'big');
      } catch (e) {
        assert.ok(e instanceof FormatError);
      }
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      assert.ok(ms < 10000, `${JSON.stringify(unit)}: ${ms} ms`);
    }
  });
});

test('issues about rows are capped: the first 32 listed, the rest counted in one', () => {
  const p = parseSbat(HEADER + 'x\n'.repeat(1000));
  assert.equal(p.valid, false);
  assert.equal(p.issues.length, 33);
  assert.deepEqual(p.issues[32], {
    severity: 'error',
    offset: HEADER.length + 64,
    message: '968 more issues in the rows from here on',
  });
});
