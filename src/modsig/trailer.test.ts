import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findSignatureTrailer, MODULE_SIG_MAGIC } from './trailer.js';

function signed(body: number[], info: number[]): Uint8Array {
  return Uint8Array.from([...body, ...info, ...MODULE_SIG_MAGIC]);
}

test('finds struct module_signature before the magic, without judging it', () => {
  const data = signed([9, 9, 9, 9, 9], [1, 4, 2, 3, 1, 0, 0, 7, 0, 0, 1, 2]);
  const t = findSignatureTrailer(data);
  assert.ok(t);
  assert.equal(t.magicOffset, 17);
  assert.equal(t.infoOffset, 5);
  assert.deepEqual(t.info, { algo: 1, hash: 4, id_type: 2, signer_len: 3, key_id_len: 1, sig_len: 0x102 });
  assert.equal(t.pad, 7);
});

test('no magic: undefined; magic without room for the info block: no info', () => {
  assert.equal(findSignatureTrailer(new Uint8Array(100)), undefined);
  assert.equal(findSignatureTrailer(MODULE_SIG_MAGIC.subarray(1)), undefined);
  const short = findSignatureTrailer(Uint8Array.from([1, 2, ...MODULE_SIG_MAGIC]));
  assert.deepEqual(short, { magicOffset: 2, infoOffset: -10, info: undefined, pad: 0 });
  const exact = findSignatureTrailer(signed([], new Array<number>(12).fill(0)));
  assert.equal(exact?.infoOffset, 0);
  assert.equal(exact?.info?.sig_len, 0);
});
