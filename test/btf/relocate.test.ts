/**
 * Distilled base BTF relocation (relocateDistilledBtf, and checkModuleBtf with `.BTF.base`)
 * against the oracle: libbpf built from the kernel's own tools/lib/bpf (Debian's
 * linux-source-6.12; the kernel compiles the same btf_relocate.c), driven by
 * test/btf/oracle/btf-oracle.c (scripts/build-btf-oracle.sh builds it).
 *  - real modules (the test kernel's and 150 of Debian 6.12's), distilled by libbpf exactly as
 *    pahole --btf_features=distilled_base does, relocated onto their own vmlinux, the previous
 *    6.12 build's and the test kernel's: same verdict, same message, byte-identical result;
 *  - every failure branch of btf_relocate(), built by code, agrees with libbpf;
 *  - the 6.12 load path: `.BTF.base` parsed as a standalone base first, then relocation.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Btf, findElfBtf, parseBtfFile, BTF_KIND_STRUCT } from '../../src/btf/btf.js';
import { relocateDistilledBtf, type RelocationResult } from '../../src/btf/relocate.js';
import { checkModuleBtf } from '../../src/btf/validate.js';
import { decompressModule } from '../../src/compress/index.js';
import { Elf } from '../../src/elf/elf.js';
import { BtfBuilder, splitBuilder } from './build.js';
import { kernelSets, moduleFiles, sample, TESTKERNEL, vmlinuxFor } from './helpers.js';
import { DIR, ORACLE, oracleDistill, oracleRelocate } from './oracle.js';
import { bootAndLoad, canBoot } from '../e2e/kernel.js';

function ours(base: Uint8Array, split: Uint8Array, target: Btf): RelocationResult {
  const dist = Btf.parse(base, { file: 'base' });
  return relocateDistilledBtf(Btf.parse(split, { file: 'split', base: dist }), target);
}

function assertAgrees(
  tag: string,
  base: Uint8Array,
  split: Uint8Array,
  target: Btf,
  vmlinux: string,
): RelocationResult {
  const want = oracleRelocate(base, split, vmlinux, tag.replace(/[^\w.-]/g, '_'));
  const got = ours(base, split, target);
  assert.equal(
    got.status,
    want.status,
    `${tag}: verdict (libbpf: ${want.warnings.join(' | ')}; ours: ${got.reason ?? ''})`,
  );
  assert.equal(got.err, want.err, `${tag}: errno`);
  if (want.status === 'ok') {
    assert.ok(
      got.relocated && want.relocated && Buffer.compare(Buffer.from(got.relocated), want.relocated) === 0,
      `${tag}: relocated BTF differs from libbpf's`,
    );
  } else {
    // libbpf's pr_warn lines; the kernel prints the same text (6.12 drops the newline of one)
    assert.deepEqual([got.reason], want.warnings, `${tag}: message`);
  }
  return got;
}

const tkVmlinux = join(TESTKERNEL, 'vmlinux');
const tkBase = parseBtfFile(readFileSync(tkVmlinux), 'vmlinux');

describe("distilled base relocation vs libbpf (the kernel's btf_relocate.c)", () => {
  before(() => assert.ok(existsSync(ORACLE), `${ORACLE} missing: run scripts/build-btf-oracle.sh (npm test does)`));

  it('test kernel modules relocate onto their vmlinux exactly as libbpf does', () => {
    for (const m of ['kms_hello.ko', 'kms_export.ko', 'kms_user.ko', 'in-tree/dummy.ko']) {
      const ko = join(TESTKERNEL, 'modules', m);
      const { base, split } = oracleDistill(ko, tkVmlinux, m.replace('/', '_'));
      const r = assertAgrees(m, base, split, tkBase, tkVmlinux);
      assert.equal(r.status, 'ok');
      assert.equal(r.mappings.length, r.distilledTypes - 1, 'every distilled type is mapped');
    }
  });

  const k612 = kernelSets().find((k) => k.set === 'amd64-6.12');
  const prev = kernelSets().find((k) => k.set === 'amd64-6.12-prev');
  it(
    '150 Debian 6.12 modules: onto their own vmlinux, the previous 6.12 build and the test kernel, as libbpf',
    { timeout: 600_000 },
    async () => {
      assert.ok(k612 && prev, 'amd64-6.12 and amd64-6.12-prev kernel sets (scripts/fetch-kernels.sh)');
      const own = vmlinuxFor(k612)!;
      const other = vmlinuxFor(prev)!;
      const targets = [
        { name: 'own', path: own, btf: parseBtfFile(readFileSync(own), own) },
        { name: 'prev', path: other, btf: parseBtfFile(readFileSync(other), other) },
        { name: 'testkernel', path: tkVmlinux, btf: tkBase },
      ];
      const tally: Record<string, Record<string, number>> = {};
      let n = 0;
      for (const file of sample(moduleFiles(k612), 150)) {
        const { data } = await decompressModule(readFileSync(file), file);
        if (!findElfBtf(Elf.parse(data, file))) continue;
        const ko = join(DIR, 'm.ko');
        writeFileSync(ko, data);
        const tag = file.split('/').pop()!;
        const { base, split } = oracleDistill(ko, own, tag);
        for (const t of targets) {
          const r = assertAgrees(`${tag} -> ${t.name}`, base, split, t.btf, t.path);
          const key = r.status === 'ok' ? 'ok' : r.reason!.replace(/'.*'|\[\d+\]|\d+/g, '…');
          (tally[t.name] ??= {})[key] = (tally[t.name]![key] ?? 0) + 1;
          if (t.name === 'own') assert.equal(r.status, 'ok', `${tag} relocates onto its own vmlinux`);
        }
        n++;
      }
      assert.ok(n >= 140, `${n} modules with BTF`);
      // a 6.12 module's distilled base maps onto another build of the series; the test kernel's
      // different configuration leaves some types unmapped: both kinds of outcome are covered
      assert.ok((tally['prev']!['ok'] ?? 0) > 0);
      assert.ok(
        Object.keys(tally['testkernel']!).some((k) => k !== 'ok'),
        `some fail on the test kernel: ${JSON.stringify(tally)}`,
      );
    },
  );

  describe('every btf_relocate() branch, built by code', () => {
    // distilled bases over the test kernel's vmlinux; its types (names, sizes, kinds) are real
    const named = (
      kind: number,
      pred: (size: number, id: number) => boolean = () => true,
    ): { name: string; size: number; id: number } => {
      for (let id = 1; id < tkBase.typeCount; id++) {
        if (tkBase.kind(id) !== kind || !tkBase.nameOff(id)) continue;
        const name = tkBase.str(tkBase.nameOff(id))!;
        const size = tkBase.sizeOrType(id);
        // only names unique among types of the same matching group (no ambiguity)
        const group = (k: number): number => (k === 5 ? 4 : k === 19 ? 6 : k);
        let dup = 0;
        for (let j = 1; j < tkBase.typeCount && dup < 2; j++)
          if (group(tkBase.kind(j)) === group(kind) && tkBase.nameOff(j) === tkBase.nameOff(id)) dup++;
        if (dup === 1 && pred(size, id)) return { name, size, id };
      }
      throw new Error('no such type');
    };
    const kflag = (id: number): boolean => (tkBase.info(id) & 0x80000000) !== 0;
    const st = named(BTF_KIND_STRUCT, (s, id) => s > 16 && !kflag(id));
    const bitfields = named(BTF_KIND_STRUCT, (_s, id) => kflag(id));
    /** A distilled base `b` plus a split module that embeds/points at its types. */
    const pair = (
      b: (d: BtfBuilder) => void,
      s: (x: BtfBuilder, dist: { typeCount: number; strEndOff: number }) => void,
    ): { base: Uint8Array; split: Uint8Array } => {
      const d = new BtfBuilder();
      b(d);
      const base = d.build();
      const dist = Btf.parse(base, { file: 'b' });
      const x = splitBuilder(dist);
      s(x, dist);
      return { base, split: x.build() };
    };
    const cases: { descr: string; base: Uint8Array; split: Uint8Array; status: 'ok' | 'fail' }[] = [];
    const add = (descr: string, status: 'ok' | 'fail', p: { base: Uint8Array; split: Uint8Array }): void => {
      cases.push({ descr, status, ...p });
    };
    add(
      'INT, STRUCT, FWD, pointer and embedded uses',
      'ok',
      pair(
        (d) => {
          d.int('int', 4, 32, 1);
          d.struct(st.name, st.size, []);
          d.fwd(st.name);
        },
        (x, dist) => {
          const n = dist.typeCount;
          x.struct('mine', st.size + 8, [
            { name: 'a', type: 2, bitsOffset: 0 },
            { name: 'b', type: 1, bitsOffset: st.size * 8 },
          ]);
          x.ref('PTR', 3);
          x.ref('PTR', n);
        },
      ),
    );
    add(
      'FWD (struct) maps onto a STRUCT',
      'ok',
      pair(
        (d) => {
          d.fwd(st.name);
        },
        (x) => {
          x.ref('PTR', 1);
        },
      ),
    );
    // the kernel compares the vmlinux STRUCT's kflag (its bitfield flag), not the FWD's union flag
    add(
      'FWD (union) maps onto a STRUCT without bitfields',
      'ok',
      pair(
        (d) => {
          d.fwd(st.name, true);
        },
        (x) => {
          x.ref('PTR', 1);
        },
      ),
    );
    add(
      'FWD does not map onto a STRUCT with bitfields (kflag set)',
      'fail',
      pair(
        (d) => {
          d.fwd(bitfields.name);
        },
        (x) => {
          x.ref('PTR', 1);
        },
      ),
    );
    add(
      'INT with another encoding',
      'fail',
      pair(
        (d) => {
          d.int('int', 4, 32, 0);
        },
        (x) => {
          x.ref('PTR', 1);
        },
      ),
    );
    add(
      'INT with another size',
      'fail',
      pair(
        (d) => {
          d.int('int', 8, 64, 1);
        },
        (x) => {
          x.ref('PTR', 1);
        },
      ),
    );
    add(
      'embedded STRUCT of the wrong size',
      'fail',
      pair(
        (d) => {
          d.struct(st.name, st.size + 4, []);
        },
        (x) => {
          x.struct('mine', st.size + 4, [{ name: 'a', type: 1, bitsOffset: 0 }]);
        },
      ),
    );
    add(
      'embedded through a typedef and an array, wrong size',
      'fail',
      pair(
        (d) => {
          d.struct(st.name, st.size + 4, []);
          d.int('int', 4, 32, 1);
        },
        (x, dist) => {
          const n = dist.typeCount;
          x.ref('TYPEDEF', 1, 'alias');
          x.array(n, 2, 3);
          x.struct('mine', 3 * (st.size + 4), [{ name: 'a', type: n + 1, bitsOffset: 0 }]);
        },
      ),
    );
    add(
      'pointed-to STRUCT of the wrong size maps by name',
      'ok',
      pair(
        (d) => {
          d.struct(st.name, st.size + 4, []);
        },
        (x) => {
          x.ref('PTR', 1);
        },
      ),
    );
    add(
      'a name vmlinux does not have',
      'fail',
      pair(
        (d) => {
          d.struct('kmodseal_no_such_struct', 8, []);
        },
        (x) => {
          x.ref('PTR', 1);
        },
      ),
    );
    add(
      'anonymous distilled type',
      'fail',
      pair(
        (d) => {
          d.struct('', 8, []);
        },
        (x) => {
          x.ref('PTR', 1);
        },
      ),
    );
    add(
      'a kind a distilled base cannot hold',
      'fail',
      pair(
        (d) => {
          d.int('int', 4, 32, 1);
          d.ref('TYPEDEF', 1, 'myint');
        },
        (x) => {
          x.ref('PTR', 2);
        },
      ),
    );
    add(
      'ENUM maps onto an ENUM of the same size',
      'ok',
      pair(
        (d) => {
          const e = named(6);
          d.enumType(e.name, e.size, []);
        },
        (x) => {
          x.ref('PTR', 1);
        },
      ),
    );
    add(
      'FLOAT onto an INT name',
      'fail',
      pair(
        (d) => {
          d.float('int', 4);
        },
        (x) => {
          x.ref('PTR', 1);
        },
      ),
    );
    add(
      'a module name offset inside a distilled string',
      'fail',
      pair(
        (d) => {
          d.int('int', 4, 32, 1);
        },
        (x) => {
          x.raw(2, 2 /* PTR */, 0, false, 1);
        },
      ),
    );
    for (const c of cases) {
      it(c.descr, () => {
        const r = assertAgrees(c.descr, c.base, c.split, tkBase, tkVmlinux);
        assert.equal(r.status, c.status, r.reason);
      });
    }

    it('two vmlinux composites of one name and size: "multiple candidates"', () => {
      // find a duplicated composite name with two entries of equal size, if this vmlinux has one
      const seen = new Map<string, number>();
      let dup: { name: string; size: number; kind: number } | undefined;
      for (let id = 1; id < tkBase.typeCount && !dup; id++) {
        const k = tkBase.kind(id);
        if ((k !== 4 && k !== 5) || !tkBase.nameOff(id)) continue;
        const key = `${tkBase.nameOff(id)}/${tkBase.sizeOrType(id)}/${k}`;
        if (seen.has(key)) dup = { name: tkBase.str(tkBase.nameOff(id))!, size: tkBase.sizeOrType(id), kind: k };
        seen.set(key, id);
      }
      assert.ok(dup, 'the test kernel has a duplicated composite');
      const p = pair(
        (d) => {
          d.struct(dup!.name, dup!.size, [], dup!.kind === 5);
        },
        (x) => {
          x.ref('PTR', 1);
        },
      );
      const r = assertAgrees('multiple candidates', p.base, p.split, tkBase, tkVmlinux);
      assert.match(r.reason ?? '', /multiple candidates/);
    });
  });
});

describe('checkModuleBtf with .BTF.base (6.12 load path)', () => {
  const ko = join(TESTKERNEL, 'modules', 'kms_export.ko');
  const distilled = (): { base: Uint8Array; split: Uint8Array } => oracleDistill(ko, tkVmlinux, 'chk');
  const opts = { kernel: '6.12' as const, allowMismatch: false, moduleName: 'kms_export' };

  it('relocates onto the test kernel: ok, with every mapping', () => {
    const { base, split } = distilled();
    const r = checkModuleBtf(split, tkBase, { ...opts, distilledBase: base });
    assert.equal(r.status, 'ok');
    assert.ok(r.distilled && r.distilled.mappings.length === r.distilled.distilledTypes - 1);
    assert.ok(r.distilled.relocated, 'the relocated split BTF is returned');
    // the relocated BTF is ordinary split BTF on vmlinux and validates there
    assert.equal(checkModuleBtf(r.distilled.relocated, tkBase, opts).status, 'ok');
  });

  it('6.1 ignores .BTF.base and validates .BTF against vmlinux', () => {
    const { base, split } = distilled();
    const r = checkModuleBtf(split, tkBase, { ...opts, kernel: '6.1', distilledBase: base });
    assert.equal(r.distilled, undefined);
    assert.equal(r.section ?? '.BTF', '.BTF');
  });

  it('a .BTF.base the kernel cannot parse as a base fails in btf_parse_base()', () => {
    const { base, split } = distilled();
    const bad = new Uint8Array(base);
    bad[24] = 1; // the base's string section must start with NUL
    const r = checkModuleBtf(split, tkBase, { ...opts, distilledBase: bad.subarray(0, 24) });
    assert.equal(r.status, 'fail');
    assert.equal(r.reason, 'No data');
    assert.equal(r.section, '.BTF.base');
    assert.deepEqual(r.kernelLog, ['BPF: No data', 'failed to validate module [kms_export] BTF: -22']);
  });

  it('an unmappable type fails with the pr_warn line and the verdict line', () => {
    const { base: real, split } = distilled();
    // rename the distilled STRUCT in place (same length): vmlinux has no such type
    const dist = Btf.parse(real, { file: 'b' });
    let id = 1;
    while (dist.kind(id) !== BTF_KIND_STRUCT) id++;
    const name = dist.str(dist.nameOff(id))!;
    const base = new Uint8Array(real);
    base[dist.header.hdr_len + dist.header.str_off + dist.nameOff(id)] = 0x5a; // 'Z'
    const renamed = 'Z' + name.slice(1);
    const r = checkModuleBtf(split, tkBase, { ...opts, distilledBase: base });
    assert.equal(r.status, 'fail');
    assert.equal(r.stage, 'relocate');
    assert.equal(r.errName, 'EINVAL');
    assert.deepEqual(r.kernelLog, [
      `distilled base BTF type '${renamed}' [${id}] is not mapped to base BTF id`,
      'failed to validate module [kms_export] BTF: -22',
    ]);
    assert.equal(r.loads, false);
    const allowed = checkModuleBtf(split, tkBase, { ...opts, allowMismatch: true, distilledBase: base });
    assert.equal(allowed.loads, true);
    assert.deepEqual(allowed.kernelLog, [
      `distilled base BTF type '${renamed}' [${id}] is not mapped to base BTF id`,
      'Kernel module BTF mismatch detected, BTF debug info may be unavailable for some modules',
    ]);
  });

  it('hostile: an array cycle embedded in a struct is reported as never ending, not looped on', () => {
    const p = (() => {
      const d = new BtfBuilder();
      d.int('int', 4, 32, 1);
      const base = d.build();
      const dist = Btf.parse(base, { file: 'b' });
      const x = splitBuilder(dist);
      const n = dist.typeCount;
      x.array(n, 1, 2); // an array of itself
      x.struct('loop', 8, [{ name: 'a', type: n, bitsOffset: 0 }]);
      return { base, split: x.build() };
    })();
    const r = checkModuleBtf(p.split, tkBase, { ...opts, distilledBase: p.base });
    assert.equal(r.status, 'unsupported');
    assert.match(r.reason ?? '', /loop forever/);
  });
});

describe('live: the test kernel (6.12.111) relocates .BTF.base as predicted', () => {
  it(
    'good, unmappable and unparsable distilled bases: verdict and log lines',
    { skip: !canBoot() && 'needs root and the test kernel kit (boots qemu)', timeout: 300_000 },
    () => {
      const dir = join(DIR, 'live');
      mkdirSync(dir, { recursive: true });
      /** The module with .BTF.base added and .BTF replaced, as pahole + kbuild leave an external module. */
      const withBase = (src: string, out: string, mutateBase?: (base: Uint8Array) => Uint8Array): string => {
        const { base, split } = oracleDistill(src, tkVmlinux, `live-${out}`);
        const b = join(dir, `${out}.base`);
        const s = join(dir, `${out}.split`);
        writeFileSync(b, mutateBase ? mutateBase(base) : base);
        writeFileSync(s, split);
        const dst = join(dir, out);
        const r = spawnSync('objcopy', ['--add-section', `.BTF.base=${b}`, '--update-section', `.BTF=${s}`, src, dst], {
          encoding: 'utf8',
        });
        assert.equal(r.status, 0, r.stderr);
        return dst;
      };
      const renameStruct = (real: Uint8Array): Uint8Array => {
        const dist = Btf.parse(real, { file: 'b' });
        let id = 1;
        while (dist.kind(id) !== BTF_KIND_STRUCT) id++;
        const out = new Uint8Array(real);
        out[dist.header.hdr_len + dist.header.str_off + dist.nameOff(id)] = 0x5a;
        return out;
      };
      const modules = [
        withBase(join(TESTKERNEL, 'modules/kms_hello.ko'), 'kms_hello.ko'),
        withBase(join(TESTKERNEL, 'modules/kms_export.ko'), 'kms_export.ko', renameStruct),
        withBase(join(TESTKERNEL, 'modules/in-tree/dummy.ko'), 'dummy.ko', (b) => b.subarray(0, 24)),
      ];
      const predicted = modules.map((m) => {
        const elf = Elf.parse(new Uint8Array(readFileSync(m)), m);
        const f = findElfBtf(elf)!;
        const name = m.split('/').pop()!.replace(/\.ko$/, '');
        return checkModuleBtf(f.btf, tkBase, {
          kernel: '6.12',
          allowMismatch: false,
          moduleName: name,
          distilledBase: f.distilledBase!,
          distilledBaseOffset: f.distilledBaseOffset!,
        });
      });
      assert.deepEqual(
        predicted.map((p) => p.status),
        ['ok', 'fail', 'fail'],
      );
      const loads = bootAndLoad(tkVmlinux, '', modules);
      predicted.forEach((p, i) => {
        const k = loads[i]!;
        assert.equal(k.loaded, p.loads, `${modules[i]}: loaded`);
        if (p.status === 'fail') {
          assert.equal(k.errno_name, p.errName);
          const lines = k.kernel_log.filter(
            (l) =>
              l.startsWith('BPF:') ||
              l.startsWith('failed to validate') ||
              l.startsWith('distilled base') ||
              l.startsWith('string '),
          );
          assert.deepEqual(lines, p.kernelLog, `${modules[i]}: kernel log`);
        }
      });
    },
  );
});

describe('hostile distilled bases', () => {
  it('mutated .BTF.base and .BTF: never throws, bounded work', async () => {
    const fc = (await import('fast-check')).default;
    const { base, split } = oracleDistill(join(TESTKERNEL, 'modules/kms_export.ko'), tkVmlinux, 'fuzz');
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.record({ at: fc.nat({ max: 1 << 16 }), value: fc.integer({ min: 0, max: 255 }) }), {
          minLength: 1,
          maxLength: 6,
        }),
        (inBase, edits) => {
          const b = new Uint8Array(base);
          const s = new Uint8Array(split);
          for (const e of edits) {
            const t = inBase ? b : s;
            t[e.at % t.length] = e.value;
          }
          const t0 = performance.now();
          const r = checkModuleBtf(s, tkBase, {
            kernel: '6.12',
            allowMismatch: false,
            moduleName: 'm',
            distilledBase: b,
          });
          assert.ok(['ok', 'fail', 'unsupported'].includes(r.status));
          assert.ok(performance.now() - t0 < 2000, 'bounded');
        },
      ),
      { numRuns: 300, seed: 0x5eed },
    );
  });
});
