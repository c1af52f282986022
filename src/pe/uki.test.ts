/**
 * Unit tests of src/pe/uki.ts on inputs built here: ukify's SBAT merge (Python splitlines, skipped
 * inputs, trailing NULs), initrd joining, the uname scrape, the section order of a built UKI and
 * the canonical listing with digests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { FormatError } from '../bytes/errors.js';
import { parsePe } from './pe.js';
import {
  buildUki,
  joinInitrds,
  mergeSbat,
  SBAT_HEADER,
  scrapeUname,
  sectionText,
  splitLines,
  UKI_DEFAULT_SBAT,
  ukiSections,
} from './uki.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A minimal PE32+ (FileAlignment 0x200, SectionAlignment 0x1000) with the given sections, each 0x200 raw bytes. */
function pe(
  sections: { name: string; data: Uint8Array; va: number }[],
  o: { dll?: number; header?: Uint8Array } = {},
): Uint8Array {
  const out = new Uint8Array(0x400 + sections.length * 0x200);
  const dv = new DataView(out.buffer);
  out.set(o.header ?? new Uint8Array(0), 0);
  out[0] = 0x4d;
  out[1] = 0x5a;
  dv.setUint32(0x3c, 0x80, true);
  dv.setUint32(0x80, 0x4550, true);
  dv.setUint16(0x84, 0x8664, true);
  dv.setUint16(0x86, sections.length, true);
  dv.setUint16(0x94, 240, true);
  const opt = 0x98;
  dv.setUint16(opt, 0x20b, true);
  dv.setUint32(opt + 32, 0x1000, true);
  dv.setUint32(opt + 36, 0x200, true);
  dv.setUint32(opt + 60, 0x400, true);
  dv.setUint16(opt + 70, o.dll ?? 0, true);
  dv.setUint32(opt + 108, 16, true);
  sections.forEach((s, i) => {
    const h = opt + 240 + i * 40;
    for (let k = 0; k < s.name.length; k++) out[h + k] = s.name.charCodeAt(k);
    dv.setUint32(h + 8, s.data.length, true);
    dv.setUint32(h + 12, s.va, true);
    dv.setUint32(h + 16, 0x200, true);
    dv.setUint32(h + 20, 0x400 + i * 0x200, true);
    out.set(s.data, 0x400 + i * 0x200);
  });
  return out;
}

const STUB_SBAT = `${SBAT_HEADER}\nsystemd,1,The systemd Developers,systemd,252,https://systemd.io/\n\0`;

test('splitLines is Python str.splitlines', () => {
  assert.deepEqual(splitLines(''), []);
  assert.deepEqual(splitLines('a\nb\n'), ['a', 'b']);
  assert.deepEqual(splitLines('a\r\nb\rc\x0bd\x0ce\x1cf\u2028g\n\n'), ['a', 'b', 'c', 'd', 'e', 'f', 'g', '']);
  assert.deepEqual(splitLines('x'), ['x']);
});

test("mergeSbat: one header, then the PEs' rows and the texts' rows; invalid inputs skipped", () => {
  const stub = { file: 'stub', data: pe([{ name: '.sbat', data: enc(STUB_SBAT), va: 0x1000 }]) };
  const kernel = { file: 'k', data: pe([{ name: '.text', data: enc('x'), va: 0x1000 }]) };
  assert.equal(
    mergeSbat([stub, kernel], [UKI_DEFAULT_SBAT]),
    `${SBAT_HEADER}\nsystemd,1,The systemd Developers,systemd,252,https://systemd.io/\n` +
      'uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n',
  );
  assert.equal(mergeSbat([], ['sbat,1\r\na,1\r\nb,2', 'not sbat\nc,3\n', '']), `${SBAT_HEADER}\na,1\nb,2\n`);
  assert.equal(mergeSbat([], []), `${SBAT_HEADER}\n\n`, 'no rows: an empty line, as ukify writes it');
  const bad = { file: 'bad', data: pe([{ name: '.sbat', data: Uint8Array.of(0x73, 0x62, 0xff), va: 0x1000 }]) };
  assert.throws(
    () => mergeSbat([bad], []),
    (e: unknown) => e instanceof FormatError && e.offset === 0x400,
  );
});

test('joinInitrds: one as it is, several each zero-padded to 4', () => {
  assert.equal(joinInitrds([]), undefined);
  const one = Uint8Array.of(1, 2, 3);
  assert.equal(joinInitrds([one]), one);
  assert.deepEqual(
    joinInitrds([one, Uint8Array.of(4, 5, 6, 7), Uint8Array.of(8)]),
    Uint8Array.of(1, 2, 3, 0, 4, 5, 6, 7, 8, 0, 0, 0),
  );
});

test('scrapeUname: the x86 boot header string, else "Linux version" in an uncompressed image', () => {
  const x86 = new Uint8Array(0x1000);
  x86.set(enc('HdrS'), 0x202);
  x86[0x20e] = 0x00;
  x86[0x20f] = 0x02; // string at 0x200 + 0x200
  x86.set(enc('6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC\0'), 0x400);
  assert.equal(scrapeUname(x86), '6.1.0-57-amd64');
  x86.set(enc('6.1.0 without host\0'), 0x400);
  assert.equal(scrapeUname(x86), undefined, 'no match and not a PE or ELF: nothing');
  const arm = new Uint8Array(0x100);
  arm.set(enc('MZ'), 0);
  arm.set(enc('xxLinux version 6.1.0-57-arm64 (debian-kernel@lists.debian.org) (gcc)'), 0x40);
  assert.equal(scrapeUname(arm), '6.1.0-57-arm64');
  arm.set(enc('zimg'), 4);
  assert.equal(scrapeUname(arm), undefined, 'zboot images are compressed');
});

test('buildUki: ukify 257 order, .linux as code, NX_COMPAT from the kernel, texts and digests read back', () => {
  const stub = {
    file: 'stub',
    data: pe(
      [
        { name: '.text', data: enc('code'), va: 0x1000 },
        { name: '.sbat', data: enc(STUB_SBAT), va: 0x2000 },
      ],
      { dll: 0x100 },
    ),
  };
  const kernel = { file: 'linux', data: pe([{ name: '.text', data: enc('kernel'), va: 0x1000 }]) };
  const built = buildUki({
    stub,
    linux: kernel,
    initrds: [
      { file: 'a', data: enc('abc') },
      { file: 'b', data: enc('de') },
    ],
    cmdline: enc('quiet'),
    osRelease: enc('ID=x\n'),
    uname: '6.1.0-test',
  });
  const p = parsePe(built.image, 'uki');
  assert.deepEqual(
    p.sections.map((s) => s.name),
    ['.text', '.sbat', '.osrel', '.cmdline', '.uname', '.linux', '.initrd'],
  );
  const dll = built.image[0x98 + 70]! | (built.image[0x98 + 71]! << 8);
  assert.equal(dll & 0x100, 0, 'NX_COMPAT cleared: the kernel lacks it');
  const { sections } = ukiSections(built.image, 'uki');
  assert.deepEqual(
    sections.map((s) => s.name),
    ['.linux', '.osrel', '.cmdline', '.initrd', '.uname', '.sbat', '.text'],
  );
  const get = (n: string) => sections.find((s) => s.name === n)!;
  assert.equal(sectionText(built.image, get('.cmdline')), 'quiet');
  assert.equal(sectionText(built.image, get('.uname')), '6.1.0-test');
  assert.equal(sectionText(built.image, get('.sbat')), built.sbat);
  assert.ok(built.sbat.endsWith('uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n'));
  const initrd = get('.initrd');
  assert.equal(initrd.size, 8, 'the last one is padded too');
  assert.equal(
    initrd.sha256,
    createHash('sha256')
      .update(Uint8Array.of(0x61, 0x62, 0x63, 0, 0x64, 0x65, 0, 0))
      .digest('hex'),
  );
  assert.equal(get('.linux').sha256, createHash('sha256').update(kernel.data).digest('hex'));
  assert.equal(get('.text').uki, false);
  assert.equal(get('.linux').uki, true);
});

test('buildUki refuses a kernel that is not PE, and says how to fit an SBAT that is too long', () => {
  const stub = {
    file: 'stub',
    data: pe([
      { name: '.sbat', data: enc(STUB_SBAT), va: 0x1000 },
      { name: '.sdmagic', data: enc('m'), va: 0x10c0 },
    ]),
  };
  const kernel = { file: 'linux', data: pe([{ name: '.text', data: enc('k'), va: 0x1000 }]) };
  assert.throws(
    () => buildUki({ stub, linux: { file: 'gz', data: Uint8Array.of(0x1f, 0x8b, 8, 0) } }),
    (e: unknown) => e instanceof FormatError && e.code === 'E_MAGIC' && e.file === 'gz',
  );
  assert.throws(
    () => buildUki({ stub, linux: kernel }),
    (e: unknown) =>
      e instanceof FormatError && e.code === 'E_LIMIT' && /room for 192 .*give --sbat with fewer rows/.test(e.detail),
  );
  const fits = buildUki({ stub, linux: kernel, sbat: [SBAT_HEADER + '\n'], uname: '' });
  assert.equal(fits.uname, '');
  assert.ok(!parsePe(fits.image, 'o').sections.some((s) => s.name === '.uname'), 'empty uname: no section');
});

test('corrupt stub or kernel headers, truncations: a UKI or a FormatError, never a crash', () => {
  const stub = pe([
    { name: '.text', data: enc('code'), va: 0x1000 },
    { name: '.sbat', data: enc(STUB_SBAT), va: 0x2000 },
  ]);
  const kernel = pe([{ name: '.text', data: enc('kernel'), va: 0x1000 }]);
  const attempt = (s: Uint8Array, k: Uint8Array): void => {
    try {
      buildUki({ stub: { file: 's', data: s }, linux: { file: 'k', data: k }, sbat: [SBAT_HEADER] });
      ukiSections(s, 's');
    } catch (e) {
      assert.ok(e instanceof FormatError, String(e));
    }
  };
  for (let n = 0; n <= stub.length; n += 5) {
    attempt(stub.subarray(0, n), kernel);
    attempt(stub, kernel.subarray(0, n));
  }
  for (let off = 0; off < 0x400; off++)
    for (const v of [0, 0xff, 0x7f]) {
      const s = stub.slice();
      s[off] = v;
      attempt(s, kernel);
      const k = kernel.slice();
      k[off] = v;
      attempt(stub, k);
    }
});
