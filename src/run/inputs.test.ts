import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expandModulePaths, moduleFiles } from './inputs.js';
import { isKmodsealError } from '../bytes/errors.js';

test('a directory stands for its modules, any other path for itself, in the order given', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-inputs-'));
  try {
    fs.mkdirSync(path.join(tmp, 'tree/sub'), { recursive: true });
    for (const f of ['tree/b.ko', 'tree/sub/a.ko.xz', 'tree/notes.txt', 'one.ko'])
      fs.writeFileSync(path.join(tmp, f), '');
    const one = path.join(tmp, 'one.ko');
    const tree = path.join(tmp, 'tree');
    const got = expandModulePaths([one, tree]);
    assert.deepEqual(
      got.map((e) => [e.path, e.directory, e.files.map((f) => path.relative(tmp, f))]),
      [
        [one, false, ['one.ko']],
        [tree, true, ['tree/b.ko', 'tree/sub/a.ko.xz']],
      ],
    );
    assert.deepEqual(
      moduleFiles([tree, one]).map((f) => path.relative(tmp, f)),
      ['tree/b.ko', 'tree/sub/a.ko.xz', 'one.ko'],
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('a missing path is E_NOTFOUND, before anything is expanded', () => {
  const missing = path.join(os.tmpdir(), 'kmodseal-inputs-missing', 'x.ko');
  assert.throws(
    () => moduleFiles([missing]),
    (e) => isKmodsealError(e) && e.code === 'E_NOTFOUND' && e.message === `${missing}: no such file or directory`,
  );
});
