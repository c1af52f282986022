/**
 * `check` on many threads gives exactly the verdicts of checkModules() on one: whole Debian trees
 * (all accepted), and modules of another build (rejections, taints), for module files and for
 * modules already in memory (.deb members).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { corpus, modulesBelow } from '../helpers.js';
import { loadKernelSource } from '../../src/kernel/source.js';
import { buildTarget, type CheckTarget, type PolicyOverrides } from '../../src/check/target.js';
import { checkModules, type CheckOptions, type ModuleVerdict } from '../../src/check/check.js';
import { checkMany } from '../../src/run/check-many.js';

const sets = corpus();
const k61 = sets.find((s) => s.set === 'amd64-6.1');
const k612 = sets.find((s) => s.set === 'amd64-6.12');
const k612prev = sets.find((s) => s.set === 'amd64-6.12-prev');

async function target(dir: string, overrides: PolicyOverrides = {}): Promise<CheckTarget> {
  return buildTarget(await loadKernelSource(dir), overrides);
}

async function allWays(t: CheckTarget, files: readonly string[], options: CheckOptions): Promise<ModuleVerdict[]> {
  const sequential = await checkModules(
    t,
    files.map((f) => ({ file: f, data: fs.readFileSync(f) })),
    options,
  );
  const tasks = files.map((f) => ({ file: f, path: f }));
  assert.deepEqual(await checkMany(t, tasks, { ...options, jobs: 2 }), sequential, 'two threads');
  assert.deepEqual(await checkMany(t, tasks, { ...options, jobs: 3 }), sequential, 'three threads');
  // a .deb member (bytes in memory) takes the pool with copies of its bytes
  const inMemory = files.slice(0, 40).map((f) => ({ file: `x.deb:${f}`, data: fs.readFileSync(f) }));
  assert.deepEqual(
    await checkMany(t, inMemory, { ...options, jobs: 2 }),
    await checkModules(t, inMemory, options),
    'in memory',
  );
  return sequential;
}

test(
  'amd64-6.1: the whole tree, in dependency order, on one thread and on two',
  { skip: !k61 && 'no cached 6.1 kernel' },
  async () => {
    const verdicts = await allWays(await target(k61!.dir), modulesBelow(k61!.modulesDir), { order: 'dependencies' });
    assert.ok(verdicts.length > 4000);
    assert.equal(verdicts.filter((v) => v.outcome === 'rejected').length, 0);
  },
);

test(
  'another build: 6.1 modules into 6.12, enforced and not, 6.12-prev into 6.12',
  { skip: (!k61 || !k612) && 'no cached 6.1/6.12 kernels' },
  async () => {
    const mods61 = modulesBelow(k61!.modulesDir).filter((_, i) => i % 8 === 0);
    const t612 = await target(k612!.dir);
    const a = await allWays(t612, mods61, { order: 'dependencies' });
    assert.ok(a.every((v) => v.outcome === 'rejected'));
    const b = await allWays(await target(k612!.dir, { sigEnforce: true }), mods61, { order: 'given' });
    assert.ok(b.every((v) => v.errno === 'EKEYREJECTED'));
    if (k612prev) {
      const c = await allWays(
        t612,
        modulesBelow(k612prev.modulesDir).filter((_, i) => i % 8 === 0),
        { order: 'dependencies' },
      );
      assert.ok(c.length > 500);
    }
  },
);

test('amd64-6.12: .ko.xz modules, a quarter of the tree', { skip: !k612 && 'no cached 6.12 kernel' }, async () => {
  const verdicts = await allWays(
    await target(k612!.dir),
    modulesBelow(k612!.modulesDir).filter((_, i) => i % 4 === 0),
    { order: 'dependencies' },
  );
  assert.ok(verdicts.length > 1000);
});
