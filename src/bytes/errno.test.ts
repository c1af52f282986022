import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERRNO, ERRNO_TABLE, errnoName, errnoNumber, isErrno } from './errno.js';

test('the errno table: names, numbers and strerror texts agree', () => {
  assert.equal(errnoNumber('EINVAL'), 22);
  assert.equal(errnoNumber('EKEYREJECTED'), 129);
  assert.equal(errnoName(-40), 'ELOOP');
  assert.equal(errnoName(524), 'ENOTSUPP');
  assert.equal(errnoName(9999), undefined);
  assert.ok(isErrno('ENOEXEC') && !isErrno('E_IO'));
  assert.equal(ERRNO.ENOEXEC.message, 'Exec format error');
  assert.equal(new Set(ERRNO_TABLE.map((e) => e.number)).size, ERRNO_TABLE.length);
  assert.deepEqual(
    ERRNO_TABLE.map((e) => e.number),
    ERRNO_TABLE.map((e) => e.number).sort((a, b) => a - b),
  );
});
