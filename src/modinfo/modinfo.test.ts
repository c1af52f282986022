import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kmodHex, splitModinfoStrings, parseModinfoString } from './modinfo.js';
import { renderModinfo } from '../report/modinfo-text.js';

const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1');

test('.modinfo splitting follows kmod: leading NULs, NUL runs, unterminated tail', () => {
  assert.deepEqual(splitModinfoStrings(enc('\0\0a=1\0\0\0b=2\0c')), ['a=1', 'b=2', 'c']);
  assert.deepEqual(splitModinfoStrings(enc('\0')), []);
  assert.deepEqual(splitModinfoStrings(enc('x')), []); // size <= 1 after skipping: kmod returns nothing
  assert.deepEqual(parseModinfoString('novalue'), { key: 'novalue', value: 'novalue' });
  assert.deepEqual(parseModinfoString('k=v=w'), { key: 'k', value: 'v=w' });
});

test('hex wraps after every 20 bytes like kmod', () => {
  const bytes = Uint8Array.from({ length: 21 }, (_, i) => i);
  assert.equal(kmodHex(bytes), '00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:\n\t\t14');
  assert.equal(kmodHex(new Uint8Array(0)), '');
});

test('rendering: alignment, long keys, parm merging in reverse first-appearance order', () => {
  const entries = [
    { key: 'parm', value: 'a:first param' },
    { key: 'parmtype', value: 'b:int' },
    { key: 'license', value: 'GPL' },
    { key: 'parmtype', value: 'a:bool' },
    { key: 'a_key_longer_than_15', value: 'x' },
  ];
  assert.equal(
    renderModinfo('/m.ko', entries),
    'filename:       /m.ko\nlicense:        GPL\na_key_longer_than_15:     x\n' +
      'parm:           b:int\nparm:           a:first param (bool)\n',
  );
  assert.equal(renderModinfo('/m.ko', entries, { field: 'parm' }), 'b: (int)\na:first param (bool)\n');
  assert.equal(renderModinfo('/m.ko', entries, { field: 'license', nul: true }), 'GPL\0');
  assert.equal(renderModinfo('/m.ko', entries, { field: 'filename' }), '/m.ko\n');
});
