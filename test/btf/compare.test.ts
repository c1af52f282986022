/**
 * compareModuleBase(): base types a module references, build vmlinux vs target vmlinux.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Btf, parseBtfFile } from '../../src/btf/btf.js';
import { compareModuleBase } from '../../src/btf/compare.js';
import { elidePath, renderBaseMismatches } from '../../src/report/btf-mismatch.js';
import { decompressModule } from '../../src/compress/index.js';
import { BtfBuilder, splitBuilder } from './build.js';
import { kernelSets, moduleFiles, sample, TESTKERNEL, vmlinuxFor } from './helpers.js';

/** A base: [1] int, [2] struct inner, [3] PTR inner, [4] struct outer, [5] struct list (self-referencing). */
function base(innerSize: number, extra = false): Uint8Array {
  const b = new BtfBuilder();
  if (extra) b.float('pad', 8); // renumbers everything after it
  const int = b.int('int', 4, 32, 1);
  const inner = b.struct(
    'inner',
    innerSize,
    innerSize === 4
      ? [{ name: 'a', type: int, bitsOffset: 0 }]
      : [
          { name: 'a', type: int, bitsOffset: 0 },
          { name: 'b', type: int, bitsOffset: 32 },
        ],
  );
  const p = b.ref('PTR', inner);
  b.struct('outer', 8, [{ name: 'p', type: p, bitsOffset: 0 }]);
  const list = b.struct('list', 8, [{ name: 'next', type: extra ? 7 : 6, bitsOffset: 0 }]);
  b.ref('PTR', list);
  return b.build();
}

function moduleOn(b: Btf, refs: number[]): Btf {
  const s = splitBuilder(b);
  s.struct(
    'mod',
    8 * refs.length,
    refs.map((r, i) => ({ name: `m${i}`, type: r, bitsOffset: i * 64 })),
  );
  return Btf.parse(s.build(), { file: 'mod', base: b });
}

describe('compareModuleBase', () => {
  it('reports a nested size change with its path', () => {
    const build = Btf.parse(base(4), { file: 'build' });
    const target = Btf.parse(base(8), { file: 'target' });
    const r = compareModuleBase(moduleOn(build, [4, 1]), build, target);
    assert.equal(r.referenced, 2);
    assert.deepEqual(r.mismatches, [
      {
        id: 4,
        build: "STRUCT 'outer' size=8 vlen=1",
        target: "STRUCT 'outer' size=8 vlen=1",
        path: "STRUCT 'outer'.p -> PTR -> STRUCT 'inner'",
        reason: 'size 4 != 8',
        differsAt: {
          buildId: 2,
          targetId: 2,
          build: "STRUCT 'inner' size=4 vlen=1",
          target: "STRUCT 'inner' size=8 vlen=2",
        },
      },
    ]);
  });

  it('same id naming another type: kind/name reported at the root', () => {
    const build = Btf.parse(base(4), { file: 'build' });
    const target = Btf.parse(base(4, true), { file: 'target' });
    const r = compareModuleBase(moduleOn(build, [1, 5]), build, target);
    assert.deepEqual(
      r.mismatches.map((m) => [m.id, m.path, m.reason]),
      [
        [1, "INT 'int'", 'kind INT != FLOAT'],
        [5, "STRUCT 'list'", "name 'list' != 'outer'"],
      ],
    );
  });

  it('identical types under other ids match; self-referencing structs terminate', () => {
    const build = Btf.parse(base(4), { file: 'build' });
    assert.deepEqual(
      compareModuleBase(moduleOn(build, [4, 5, 6]), build, Btf.parse(base(4), { file: 'target' })).mismatches,
      [],
    );
    // target: 'outer' keeps id 4, but its pointee 'inner' moved from id 2 to id 5
    const t = new BtfBuilder();
    const int = t.int('int', 4, 32, 1); /* [1] */
    t.ref('PTR', 5); /* [2] */
    t.float('pad', 8); /* [3] */
    t.struct('outer', 8, [{ name: 'p', type: 2, bitsOffset: 0 }]); /* [4] */
    t.struct('inner', 4, [{ name: 'a', type: int, bitsOffset: 0 }]); /* [5] */
    assert.deepEqual(
      compareModuleBase(moduleOn(build, [4]), build, Btf.parse(t.build(), { file: 'moved' })).mismatches,
      [],
    );
  });

  it('a difference under other ids names both ids; the text groups the referenced types that reach it', () => {
    const build = Btf.parse(base(4), { file: 'build' });
    // target: 'inner' moved to id 5 and grew; 'outer' (id 4) and a PTR to it (id 6) reach it
    const t = new BtfBuilder();
    const int = t.int('int', 4, 32, 1); /* [1] */
    t.ref('PTR', 5); /* [2] */
    t.ref('PTR', 5); /* [3] */
    t.struct('outer', 8, [{ name: 'p', type: 2, bitsOffset: 0 }]); /* [4] */
    t.struct('inner', 8, [
      { name: 'a', type: int, bitsOffset: 0 },
      { name: 'b', type: int, bitsOffset: 32 },
    ]); /* [5] */
    const target = Btf.parse(t.build(), { file: 'grown' });
    const r = compareModuleBase(moduleOn(build, [4, 3, 1]), build, target);
    assert.deepEqual(
      r.mismatches.map((m) => [m.id, m.path, m.reason, m.differsAt.buildId, m.differsAt.targetId]),
      [
        [3, "PTR -> STRUCT 'inner'", 'size 4 != 8', 2, 5],
        [4, "STRUCT 'outer'.p -> PTR -> STRUCT 'inner'", 'size 4 != 8', 2, 5],
      ],
    );
    assert.deepEqual(renderBaseMismatches(r.mismatches), [
      '[2] vs [5] size 4 != 8',
      "  built against: STRUCT 'inner' size=4 vlen=1",
      "  target:        STRUCT 'inner' size=8 vlen=2",
      "  reached from 2 referenced types: [3] PTR '(anon)', [4] STRUCT 'outer' size=8 vlen=1",
      "  by PTR -> STRUCT 'inner'",
    ]);
  });

  it('the text: a referenced type that differs itself; long paths elided', () => {
    const build = Btf.parse(base(4), { file: 'build' });
    const target = Btf.parse(base(4, true), { file: 'target' });
    assert.deepEqual(renderBaseMismatches(compareModuleBase(moduleOn(build, [1]), build, target).mismatches), [
      '[1] kind INT != FLOAT',
      "  built against: INT 'int' size=4",
      "  target:        FLOAT 'pad' size=8",
    ]);
    const steps = Array.from({ length: 10 }, (_, i) => `S${i}`);
    assert.equal(elidePath(steps), 'S0 -> S1 -> S2 -> ... (4 more) ... -> S7 -> S8 -> S9');
    assert.equal(elidePath(steps.slice(0, 7)), 'S0 -> S1 -> S2 -> S3 -> S4 -> S5 -> S6');
  });

  it('test kernel modules against their own vmlinux: nothing differs', () => {
    const vm = parseBtfFile(readFileSync(join(TESTKERNEL, 'vmlinux')), 'vmlinux');
    const vm2 = parseBtfFile(readFileSync(join(TESTKERNEL, 'vmlinux')), 'vmlinux-copy');
    for (const m of ['kms_hello.ko', 'in-tree/dummy.ko']) {
      const f = join(TESTKERNEL, 'modules', m);
      const r = compareModuleBase(parseBtfFile(readFileSync(f), f, vm), vm, vm2);
      assert.ok(r.referenced > 0);
      assert.deepEqual(r.mismatches, [], m);
    }
  });

  it('Debian 6.1 modules built on 6.1 vs a 6.12 target: mismatches found', { timeout: 120_000 }, async () => {
    const k61 = kernelSets().find((k) => k.set === 'amd64-6.1');
    const k612 = kernelSets().find((k) => k.set === 'amd64-6.12');
    if (!k61 || !k612) return;
    const b = parseBtfFile(readFileSync(vmlinuxFor(k61)!), 'vmlinux-6.1');
    const t = parseBtfFile(readFileSync(vmlinuxFor(k612)!), 'vmlinux-6.12');
    for (const f of sample(moduleFiles(k61), 20)) {
      const { data } = await decompressModule(readFileSync(f), f);
      const mod = parseBtfFile(data, f, b);
      const r = compareModuleBase(mod, b, t, 3);
      if (r.referenced === 0) continue;
      assert.ok(r.mismatches.length > 0, f);
      assert.deepEqual(compareModuleBase(mod, b, b).mismatches, []);
    }
  });
});
