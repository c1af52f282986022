import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteReader, ByteWriter, copyBytes } from './reader.js';
import { FormatError } from './errors.js';

test('reads both byte orders and reports absolute offsets from child readers', () => {
  const data = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const le = new ByteReader(data, { file: 'f', format: 't' });
  assert.equal(le.u16(0), 0x0100);
  assert.equal(le.withEndian(false).u16(0), 0x0001);
  assert.equal(
    new ByteReader(Uint8Array.from([1, 0, 0, 0, 2, 0, 0, 0]), { file: 'f', format: 't' }).u64n(0),
    0x200000001,
  );
  const child = le.sub(8, 4, 'tail');
  assert.equal(child.u32(0), 0x0b0a0908);
  assert.throws(
    () => child.u32(2),
    (e: FormatError) => e.code === 'E_TRUNCATED' && e.offset === 10 && /^f: 0xa: t: /.test(e.message),
  );
  assert.throws(
    () => le.bytes(20, 1),
    (e: FormatError) => e.code === 'E_RANGE',
  );
  assert.throws(
    () => le.need(-1, 1, 'x'),
    (e: FormatError) => e.code === 'E_RANGE',
  );
});

test('u64n refuses values above 2^53', () => {
  const r = new ByteReader(Uint8Array.from([0, 0, 0, 0, 0, 0, 0x40, 0]), { file: 'f', format: 't' });
  assert.throws(
    () => r.u64n(0),
    (e: FormatError) => e.code === 'E_RANGE',
  );
});

test('cstring stops at NUL or the table end; copyBytes detaches from Buffers', () => {
  const r = new ByteReader(Buffer.from('ab\0cd'), { file: 'f', format: 't' });
  assert.equal(r.cstring(0), 'ab');
  assert.equal(r.cstring(3), 'cd');
  const b = Buffer.from([1, 2, 3]);
  const c = copyBytes(b, 1);
  b[1] = 9;
  assert.deepEqual([...c], [2, 3]);
});

test('unchecked reads agree with checked ones inside the window; word() of 2^53 and more is Infinity', () => {
  const data = Uint8Array.from([0, 1, 2, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0x20, 0]);
  for (const littleEndian of [true, false]) {
    const r = new ByteReader(data, { file: 'f', format: 't', littleEndian });
    assert.equal(r.u16Unchecked(2), r.u16(2));
    assert.equal(r.u32Unchecked(4), r.u32(4));
    assert.equal(r.wordUnchecked(4, 4), r.u32(4));
    assert.equal(r.wordUnchecked(0, 8), r.u64n(0));
  }
  assert.equal(new ByteReader(data, { file: 'f', format: 't' }).wordUnchecked(8, 8), Infinity);
});

test('ByteWriter writes in its byte order and refuses writes past its window', () => {
  const data = new Uint8Array(8);
  const w = new ByteWriter(data, { file: 'f', format: 't', base: 0x100, littleEndian: false });
  w.setU32(0, 0x01020304);
  w.setI32(4, -2);
  assert.deepEqual([...data], [1, 2, 3, 4, 0xff, 0xff, 0xff, 0xfe]);
  w.setU64(0, 0x1122334455667788n);
  assert.equal(w.u64(0), 0x1122334455667788n);
  assert.throws(
    () => w.setU32(6, 1, 'field'),
    (e: FormatError) => e.code === 'E_TRUNCATED' && e.offset === 0x106,
  );
});
