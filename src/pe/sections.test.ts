/**
 * Unit tests of src/pe/sections.ts on PE images built here: the ukify layout (VAs, raw pointers,
 * SizeOfImage, CheckSum, SizeOfInitializedData, flags), the symbol-table strip, re-alignment,
 * in-place replacement and its bounds, refusals, and bad input as FormatErrors only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../bytes/errors.js';
import { parsePe } from './pe.js';
import { addPeSections, IMAGE_SCN_CNT_CODE, IMAGE_SCN_CNT_INITIALIZED_DATA, IMAGE_SCN_MEM_READ } from './sections.js';

interface Spec {
  name: string;
  data: Uint8Array;
  va: number;
  vsize?: number;
  /** Raw pointer and size (default: laid out in order, FileAlignment-aligned). */
  ptr?: number;
  raw?: number;
}

/** A PE32+ image: MZ, PE header, optional header with 16 data directories, the sections, then `tail`. */
function makePe(
  specs: Spec[],
  o: {
    fa?: number;
    sa?: number;
    headers?: number;
    tail?: Uint8Array;
    symtab?: number;
    nsyms?: number;
    dll?: number;
  } = {},
): Uint8Array {
  const fa = o.fa ?? 0x200;
  const sa = o.sa ?? 0x1000;
  const lfanew = 0x80;
  const opt = lfanew + 24;
  const table = opt + 240;
  const headers = o.headers ?? 0x400;
  let p = Math.ceil(headers / fa) * fa;
  const laid = specs.map((s) => {
    const ptr = s.ptr ?? p;
    const raw = s.raw ?? Math.ceil(s.data.length / fa) * fa;
    p = ptr + raw;
    return { ...s, ptr, raw };
  });
  const end = Math.max(p, headers);
  const tail = o.tail ?? new Uint8Array(0);
  const out = new Uint8Array(end + tail.length);
  const dv = new DataView(out.buffer);
  out[0] = 0x4d;
  out[1] = 0x5a;
  dv.setUint32(0x3c, lfanew, true);
  dv.setUint32(lfanew, 0x4550, true);
  dv.setUint16(lfanew + 4, 0x8664, true);
  dv.setUint16(lfanew + 6, specs.length, true);
  dv.setUint32(lfanew + 12, o.symtab ?? 0, true);
  dv.setUint32(lfanew + 16, o.nsyms ?? 0, true);
  dv.setUint16(lfanew + 20, 240, true);
  dv.setUint16(lfanew + 22, 0x2022, true);
  dv.setUint16(opt, 0x20b, true);
  dv.setUint32(opt + 8, 0x1234, true); // SizeOfInitializedData
  dv.setUint32(opt + 32, sa, true);
  dv.setUint32(opt + 36, fa, true);
  dv.setUint32(opt + 60, headers, true);
  dv.setUint32(opt + 64, 0xdeadbeef, true); // CheckSum
  dv.setUint16(opt + 68, 10, true);
  dv.setUint16(opt + 70, o.dll ?? 0, true);
  dv.setUint32(opt + 108, 16, true);
  laid.forEach((s, i) => {
    const h = table + i * 40;
    for (let k = 0; k < s.name.length; k++) out[h + k] = s.name.charCodeAt(k);
    dv.setUint32(h + 8, s.vsize ?? s.data.length, true);
    dv.setUint32(h + 12, s.va, true);
    dv.setUint32(h + 16, s.raw, true);
    dv.setUint32(h + 20, s.ptr, true);
    dv.setUint32(h + 36, 0x40000040, true);
    out.set(s.data, s.ptr);
  });
  out.set(tail, end);
  return out;
}

const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const u32 = (d: Uint8Array, off: number): number => new DataView(d.buffer, d.byteOffset).getUint32(off, true);
const u16 = (d: Uint8Array, off: number): number => d[off]! | (d[off + 1]! << 8);
const OPT = 0x80 + 24;
const TABLE = OPT + 240;

function stub(): Uint8Array {
  return makePe([
    { name: '.text', data: bytes(0x300), va: 0x1000 },
    { name: '.sbat', data: bytes(0x50, 2), va: 0x2000 },
    { name: '.sdmagic', data: bytes(0x20, 3), va: 0x2100 },
  ]);
}

function throwsFormat(fn: () => unknown, code: string, offset?: number, detail?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `not a FormatError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (offset !== undefined) assert.equal(e.offset, offset, e.message);
    if (detail) assert.match(e.detail, detail);
    assert.match(e.message, /^stub\.efi: 0x[0-9a-f]+: pe: /);
    return true;
  });
}

test('new sections go after the last one: VAs, raw pointers, sizes, flags, SizeOfImage, CheckSum 0', () => {
  const input = stub();
  const copy = input.slice();
  const a = bytes(0x123, 5);
  const b = bytes(0x801, 6);
  const out = addPeSections(input, 'stub.efi', [
    { name: '.osrel', data: a },
    { name: '.linux', data: b, code: true },
  ]);
  assert.deepEqual(input, copy, 'the input is not modified');
  const pe = parsePe(out, 'out');
  assert.deepEqual(
    pe.sections.map((s) => [s.name, s.virtualAddress, s.virtualSize, s.pointerToRawData, s.sizeOfRawData]),
    [
      ['.text', 0x1000, 0x300, 0x400, 0x400],
      ['.sbat', 0x2000, 0x50, 0x800, 0x200],
      ['.sdmagic', 0x2100, 0x20, 0xa00, 0x200],
      ['.osrel', 0x3000, 0x123, 0xc00, 0x200],
      ['.linux', 0x4000, 0x801, 0xe00, 0xa00],
    ],
  );
  assert.deepEqual(out.subarray(0xc00, 0xc00 + 0x123), a);
  assert.ok(out.subarray(0xc00 + 0x123, 0xe00).every((x) => x === 0));
  assert.deepEqual(out.subarray(0xe00, 0xe00 + 0x801), b);
  assert.equal(out.length, 0x1800);
  assert.equal(u32(out, TABLE + 3 * 40 + 36), (IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ) >>> 0);
  assert.equal(u32(out, TABLE + 4 * 40 + 36), (IMAGE_SCN_CNT_CODE | IMAGE_SCN_MEM_READ) >>> 0);
  assert.equal(u32(out, OPT + 56), 0x5000, 'SizeOfImage');
  assert.equal(u32(out, OPT + 64), 0, 'CheckSum');
  assert.equal(u32(out, OPT + 8), 0x1234 + 0x123 + 0x801, 'SizeOfInitializedData');
  assert.equal(u16(out, 0x80 + 6), 5, 'NumberOfSections');
});

test('a section the image has is replaced in place, bounded by SizeOfRawData and the next VA', () => {
  const sbat = new TextEncoder().encode('sbat,1,x\n\0');
  const out = addPeSections(stub(), 'stub.efi', [{ name: '.sbat', data: sbat }]);
  assert.equal(out.length, 0xc00, 'nothing added');
  const s = parsePe(out, 'out').sections[1]!;
  assert.equal(s.virtualSize, sbat.length);
  assert.deepEqual(out.subarray(0x800, 0x800 + sbat.length), sbat);
  assert.ok(out.subarray(0x800 + sbat.length, 0xa00).every((x) => x === 0));
  assert.equal(u32(out, OPT + 8), 0x1234, 'SizeOfInitializedData unchanged');
  // 0x100 bytes of VA before .sdmagic, though 0x200 raw bytes
  addPeSections(stub(), 'stub.efi', [{ name: '.sbat', data: bytes(0x100) }]);
  throwsFormat(
    () => addPeSections(stub(), 'stub.efi', [{ name: '.sbat', data: bytes(0x101) }]),
    'E_LIMIT',
    TABLE + 40 + 8,
    /room for 256 \(the next section starts at VA 0x2100\)/,
  );
  const roomy = makePe([
    { name: '.sbat', data: bytes(0x50), va: 0x1000 },
    { name: '.x', data: bytes(0x10), va: 0x3000 },
  ]);
  throwsFormat(
    () => addPeSections(roomy, 'stub.efi', [{ name: '.sbat', data: bytes(0x201) }]),
    'E_LIMIT',
    TABLE + 8,
    /room for 512$/,
  );
  // .dtbauto is never replaced
  const dtb = makePe([{ name: '.dtbauto', data: bytes(0x10), va: 0x1000 }]);
  assert.equal(parsePe(addPeSections(dtb, 'stub.efi', [{ name: '.dtbauto', data: bytes(4) }]), 'o').sections.length, 2);
});

test('a COFF symbol table that ends the file is cut off; one that does not is kept', () => {
  const syms = new Uint8Array(18 * 3 + 4 + 12);
  new DataView(syms.buffer).setUint32(18 * 3, 16, true); // string table size (with its own 4 bytes)
  const pe = makePe([{ name: '.text', data: bytes(0x200), va: 0x1000 }], { tail: syms, symtab: 0x600, nsyms: 3 });
  const out = addPeSections(pe, 'stub.efi', [{ name: '.cmdline', data: bytes(3) }]);
  assert.equal(u32(out, 0x80 + 12), 0);
  assert.equal(u32(out, 0x80 + 16), 0);
  assert.equal(u16(out, 0x80 + 22), 0x2022, 'Characteristics untouched, as in ukify output');
  assert.equal(parsePe(out, 'o').sections[1]!.pointerToRawData, 0x600, 'the new section takes the table’s place');
  const kept = makePe([{ name: '.text', data: bytes(0x200), va: 0x1000 }], {
    tail: Uint8Array.of(...syms, 1, 2, 3),
    symtab: 0x600,
    nsyms: 3,
  });
  const out2 = addPeSections(kept, 'stub.efi', [{ name: '.cmdline', data: bytes(3) }]);
  assert.equal(u32(out2, 0x80 + 12), 0x600);
  assert.equal(parsePe(out2, 'o').sections[1]!.pointerToRawData, 0x800, 'after the rounded-up end of the file');
});

test('unaligned raw data is re-aligned to FileAlignment, later sections moved', () => {
  const pe = makePe([
    { name: '.text', data: bytes(0x180), va: 0x1000, ptr: 0x400, raw: 0x180 },
    { name: '.data', data: bytes(0x40, 9), va: 0x2000, ptr: 0x580, raw: 0x40 },
  ]);
  const out = addPeSections(pe, 'stub.efi', [{ name: '.uname', data: bytes(2) }]);
  const s = parsePe(out, 'o').sections;
  assert.deepEqual(
    s.map((x) => [x.pointerToRawData, x.sizeOfRawData]),
    [
      [0x400, 0x200],
      [0x600, 0x200],
      [0x800, 0x200],
    ],
  );
  assert.deepEqual(out.subarray(0x600, 0x640), bytes(0x40, 9));
  assert.ok(out.subarray(0x580, 0x600).every((x) => x === 0));
});

test('SizeOfHeaders is rounded up to FileAlignment; then the headers must fit', () => {
  // the table starts at 0x188: 4 headers end at 0x228; SizeOfHeaders 0x238 rounds up to 0x280, room for 2 more
  const four = [0, 1, 2, 3].map((i) => ({ name: `.s${i}`, data: bytes(8), va: 0x1000 * (i + 1) }));
  const pe = makePe(four, { headers: 0x238, fa: 0x80 });
  const two = [
    { name: '.a', data: bytes(1) },
    { name: '.b', data: bytes(1) },
  ];
  const out = addPeSections(pe, 'stub.efi', two);
  assert.equal(u32(out, OPT + 60), 0x280);
  assert.equal(parsePe(out, 'o').sections.length, 6);
  throwsFormat(
    () => addPeSections(pe, 'stub.efi', [...two, { name: '.c', data: bytes(1) }]),
    'E_LIMIT',
    TABLE + 6 * 40,
    /not enough header space to add section \.c/,
  );
});

test('NX_COMPAT is cleared only when asked', () => {
  const pe = makePe([{ name: '.text', data: bytes(8), va: 0x1000 }], { dll: 0x160 });
  assert.equal(u16(addPeSections(pe, 'stub.efi', []), OPT + 70), 0x160);
  assert.equal(u16(addPeSections(pe, 'stub.efi', [], { clearNxCompat: true }), OPT + 70), 0x60);
});

test('refused: a signed image, a bad section name', () => {
  const pe = stub();
  const certDir = OPT + 112 + 32;
  new DataView(pe.buffer).setUint32(certDir, pe.length - 8, true);
  new DataView(pe.buffer).setUint32(certDir + 4, 8, true);
  throwsFormat(() => addPeSections(pe, 'stub.efi', []), 'E_FORMAT', certDir, /is signed/);
  throwsFormat(() => addPeSections(stub(), 'stub.efi', [{ name: '.toolongname', data: bytes(1) }]), 'E_FORMAT');
  throwsFormat(() => addPeSections(stub(), 'stub.efi', [{ name: '', data: bytes(1) }]), 'E_FORMAT');
});

test('bad input is a FormatError naming the offset: truncation, overlaps, SizeOfHeaders, certificate table, alignment', () => {
  const dv = (d: Uint8Array): DataView => new DataView(d.buffer);
  throwsFormat(() => addPeSections(stub().subarray(0, 0x100), 'stub.efi', []), 'E_TRUNCATED');
  throwsFormat(() => addPeSections(stub().subarray(0, 0x900), 'stub.efi', []), 'E_RANGE', TABLE + 40 + 16);
  const rawOverlap = stub();
  dv(rawOverlap).setUint32(TABLE + 40 + 20, 0x500, true);
  throwsFormat(() => addPeSections(rawOverlap, 'stub.efi', []), 'E_FORMAT', TABLE + 40 + 20, /overlap in the file/);
  const vaOverlap = stub();
  dv(vaOverlap).setUint32(TABLE + 2 * 40 + 12, 0x2040, true);
  throwsFormat(() => addPeSections(vaOverlap, 'stub.efi', []), 'E_FORMAT', TABLE + 2 * 40 + 12, /overlap in the image/);
  const huge = stub();
  dv(huge).setUint32(OPT + 60, 0xfffffff0, true);
  throwsFormat(() => addPeSections(huge, 'stub.efi', []), 'E_RANGE', OPT + 60, /SizeOfHeaders/);
  const cert = stub();
  dv(cert).setUint32(OPT + 112 + 32, 0x10000, true);
  dv(cert).setUint32(OPT + 112 + 36, 0x100, true);
  throwsFormat(() => addPeSections(cert, 'stub.efi', []), 'E_RANGE', OPT + 112 + 32, /outside the file/);
  const align = stub();
  dv(align).setUint32(OPT + 36, 0, true);
  throwsFormat(() => addPeSections(align, 'stub.efi', []), 'E_FORMAT', OPT + 36);
  const many = stub();
  dv(many).setUint16(0x80 + 6, 0xffff, true);
  throwsFormat(() => addPeSections(many, 'stub.efi', []), 'E_LIMIT', 0x80 + 6);
  throwsFormat(() => addPeSections(Uint8Array.of(0x4d, 0x5a), 'stub.efi', []), 'E_MAGIC', 0);
});

test('every truncation and single-byte corruption of the headers: a result or a FormatError, never a crash', () => {
  const base = stub();
  const sections = [{ name: '.linux', data: bytes(0x300) }];
  const tryIt = (d: Uint8Array): void => {
    try {
      addPeSections(d, 'stub.efi', sections);
    } catch (e) {
      assert.ok(e instanceof FormatError, `${String(e)}`);
    }
  };
  for (let n = 0; n < base.length; n += 7) tryIt(base.subarray(0, n));
  for (let off = 0; off < 0x400; off++)
    for (const v of [0x00, 0xff, 0x80, 0x41]) {
      const d = base.slice();
      d[off] = v;
      tryIt(d);
    }
});
