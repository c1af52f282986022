/**
 * Without the native addons (KMODSEAL_NO_NATIVE=1: no compiler, or turned off) every command gives
 * the same bytes as with them. lzma-native decodes on a thread of its own: it once decoded a
 * module's scratch buffer while the next module was being read into it ("corrupt xz data" on
 * random .ko.xz files of a tree).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { kernelSet, runBin } from '../helpers.js';

const k = kernelSet('amd64-6.12');

test(
  'inspect and check of a .ko.xz tree: the same output with and without the native addons',
  { skip: !k && 'amd64-6.12 not cached' },
  () => {
    const tree = path.join(k!.modulesDir, 'kernel/drivers/net');
    for (const args of [
      ['inspect', tree],
      ['check', '--json', '--kernel', k!.dir, tree],
    ]) {
      const native = runBin(args);
      const js = runBin(args, { env: { KMODSEAL_NO_NATIVE: '1' } });
      assert.equal(js.stderr, native.stderr, args[0]);
      assert.equal(js.code, native.code, args[0]);
      assert.ok(js.stdout.equals(native.stdout), `${args[0]}: the same bytes`);
    }
  },
);
