/**
 * A module's exports as the kernel reads them: through __ksymtab's relocations (PREL32 on amd64,
 * arm64 and s390x, absolute REL pointers on armhf), CRCs by index in __kcrctab. On real modules
 * they must equal what the symbol names (__ksymtab_NAME, __crc_NAME, __kstrtabns_NAME) say.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { corpus, modulesBelow } from '../helpers.js';
import { ksymtabExports } from '../../src/check/module-facts.js';
import { Elf } from '../../src/elf/elf.js';
import { decompressModule } from '../../src/compress/index.js';

for (const k of corpus().filter((c) =>
  ['amd64-6.1', 'amd64-6.12', 'armhf-6.1', 's390x-6.1', 'arm64-6.1'].includes(c.set),
)) {
  test(`${k.set}: exports read through the relocations equal the symbol names, CRCs and namespaces`, async () => {
    let seen = 0;
    for (const f of modulesBelow(k.modulesDir).filter((_, i) => i % 7 === 0)) {
      const data = (await decompressModule(fs.readFileSync(f), f)).data;
      const elf = Elf.parse(data, f);
      const syms = elf.symbols() ?? [];
      const byName = new Map(syms.map((s) => [s.name, s]));
      const named = syms.filter(
        (s) =>
          s.name.startsWith('__ksymtab_') &&
          ['__ksymtab', '__ksymtab_gpl'].includes(elf.sections[s.st_shndx]?.name ?? ''),
      );
      const got = ksymtabExports(elf);
      assert.ok(got, `${f}: the tables can be followed`);
      assert.deepEqual(got.map((e) => e.name).sort(), named.map((s) => s.name.slice('__ksymtab_'.length)).sort(), f);
      for (const e of got) {
        const s = byName.get(`__ksymtab_${e.name}`)!;
        assert.equal(e.gpl, elf.sections[s.st_shndx]!.name === '__ksymtab_gpl', `${f}: ${e.name} gpl`);
        const c = byName.get(`__crc_${e.name}`);
        if (c)
          assert.equal(
            e.crc,
            elf.sectionReader(elf.sections[c.st_shndx]!).u32(Number(c.st_value)),
            `${f}: ${e.name} crc`,
          );
        const ns = byName.get(`__kstrtabns_${e.name}`);
        if (ns)
          assert.equal(
            e.namespace,
            elf.sectionReader(elf.sections[ns.st_shndx]!).cstring(Number(ns.st_value)),
            `${f}: ${e.name} namespace`,
          );
      }
      if (got.length) seen++;
    }
    assert.ok(seen > 20, `${k.set}: only ${seen} modules with exports sampled`);
  });
}
