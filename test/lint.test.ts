/** Formatting and lint are part of the suite: `npm run lint` (tsc, ESLint with typescript-eslint, Prettier) must pass. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ROOT } from './helpers.js';

test('npm run lint: tsc, ESLint and Prettier are clean', () => {
  const r = spawnSync('npm', ['run', '--silent', 'lint'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `npm run lint failed:\n${r.stdout}${r.stderr}`);
});
