/**
 * The launcher line of dist/bundle/kmodseal.mjs (`#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node`):
 * run as a user runs it, the file starts without Node loading an extra CA bundle (kmodseal makes
 * no TLS connections; Node 20 reads that bundle at every start, about 50 ms on the CI machine).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { BIN } from '../helpers.js';

test('the bundle is executable and its launcher drops NODE_EXTRA_CA_CERTS', () => {
  assert.ok(fs.statSync(BIN).mode & 0o111, `${BIN} is not executable`);
  assert.equal(fs.readFileSync(BIN, 'latin1').split('\n')[0], '#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node');
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: '/nonexistent/kmodseal-test-ca.pem' };
  // plain node warns that it could not load the bundle: the variable reached it
  const plain = spawnSync(process.execPath, [BIN, '--version'], { env, encoding: 'utf8' });
  assert.match(plain.stderr, /extra certs/i);
  // through the launcher it never sees it
  const launched = spawnSync(BIN, ['--version'], { env, encoding: 'utf8' });
  assert.equal(launched.status, 0, launched.stderr);
  assert.equal(launched.stdout, '0.1.0\n');
  assert.equal(launched.stderr, '');
});
