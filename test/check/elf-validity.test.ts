/**
 * The kernel's ELF checks (src/check/elf-validity.ts) against what the kernels logged, for each
 * flow (elfCheckFlow()). The expected lines were recorded by booting under qemu, with each variant,
 * the test kernel built from 6.12.111 (flow 6.12.0, 2026-12-03), then from 6.12.118 (flow
 * 6.12.117), and Debian's 6.1.0-57; test/e2e re-checks them against the booted kernels (6.12.118,
 * Debian's 6.12.117 and 6.12.118, and 6.1). The 6.12.0 lines of the variants made after the
 * 6.12.111 kit (this-module-*, modinfo-twice) follow its elf_validity_cache_copy().
 * Plus a property test: any mutation gives a verdict, never an exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { TESTKERNEL, kernelSet, modulesBelow } from '../helpers.js';
import {
  elfCheckFlow,
  kernelElfValidity,
  type ElfCheckFlow,
  type ElfValidityTarget,
} from '../../src/check/elf-validity.js';
import { elfVariants } from '../e2e/elf-variants.js';
import { trailerFacts } from '../../src/check/module-facts.js';

const hello = path.join(TESTKERNEL, 'modules/kms_hello.ko');
const k61 = kernelSet('amd64-6.1');
/** A kernel of each flow: 6.1, the 6.12.111 kit, the 6.12.118 kit. */
const release: Record<ElfCheckFlow, string> = {
  '6.1': '6.1.0-57-amd64',
  '6.12.0': '6.12.111-kmodseal',
  '6.12.117': '6.12.118-kmodseal',
};
const x86 = (flow: ElfCheckFlow, structModuleSize?: number): ElfValidityTarget => ({
  series: flow === '6.1' ? '6.1' : '6.12',
  release: release[flow],
  machine: 62,
  is64: true,
  littleEndian: true,
  structModuleSize,
});

/** What the kernels logged (undefined: loaded, or oopsed); `nonAlloc`, `alloc`: the sections the variants edit. */
type Lines = Record<string, string | undefined>;
function expected(
  shnum: number,
  shstrndx: number,
  name: string,
  nonAlloc: number,
  alloc: number,
  flow: ElfCheckFlow,
): Lines {
  const by = (v: Record<ElfCheckFlow, string | undefined>): string | undefined => v[flow];
  const badName = (i: number): string => `Invalid ELF section name in module (section ${i} type 1)`;
  return {
    'header-len4': 'Invalid ELF header len 4',
    'header-len63': 'Invalid ELF header len 63',
    'type-exec': 'Invalid ELF header type: 2 != 1',
    'machine-i386': 'Invalid architecture in ELF header: 3',
    shentsize: 'Invalid ELF section header size',
    'shoff-past-end': 'Invalid ELF section header overflow',
    'shstrndx-zero': `Invalid ELF section name index: 0 || e_shstrndx (0) >= e_shnum (${shnum})`,
    'shstrndx-past': `Invalid ELF section name index: ${shnum} || e_shstrndx (${shnum}) >= e_shnum (${shnum})`,
    'section0-progbits': 'ELF Spec violation: section 0 type(1)!=SH_NULL or non-zero len or addr',
    'shstrtab-empty': 'empty section name table',
    'shstrtab-unterminated': "ELF Spec violation: section name table isn't null terminated",
    'shstrtab-past-end': by({
      '6.1': 'Invalid ELF section hdr(type 3)',
      '6.12.0': 'Invalid ELF section hdr(type 3)',
      '6.12.117': `Invalid ELF section in module (section ${shstrndx} type 3)`,
    }),
    'section-past-end': `Invalid ELF section in module (section ${nonAlloc} type 1)`,
    'symtab-link-zero': `Invalid ELF sh_link!=SHN_UNDEF(0) or (sh_link(0) >= hdr->e_shnum(${shnum})`,
    'symtab-none': `${name}: module has no symbols (stripped?)`,
    'alloc-name-past-table': badName(alloc),
    'alloc-name-past-module': by({ '6.1': badName(alloc), '6.12.0': undefined, '6.12.117': badName(alloc) }),
    'nonalloc-name-past-module': by({ '6.1': undefined, '6.12.0': undefined, '6.12.117': badName(nonAlloc) }),
    'this-module-none': by({
      '6.1': `${name}: No module found in object`,
      '6.12.0': `module ${name}: Only one .gnu.linkonce.this_module section must exist.`,
      '6.12.117': `module ${name}: Exactly one .gnu.linkonce.this_module section must exist.`,
    }),
    'this-module-nobits': by({
      '6.1': undefined,
      '6.12.0': `module ${name}: Only one .gnu.linkonce.this_module section must exist.`,
      '6.12.117': `module ${name}: .gnu.linkonce.this_module section must have a size set`,
    }),
    'modinfo-twice': 'Only one .modinfo section must exist.',
    'shstrtab-not-strtab': 'Invalid ELF section name table type: 1',
    'symtab-strtab-not-strtab': 'Invalid ELF symbol string table type: 1',
    'class-elf32': undefined,
    'data-big-endian': undefined,
  };
}

function verify(file: string, flow: ElfCheckFlow, target: ElfValidityTarget, want: Lines): void {
  const variants = elfVariants(fs.readFileSync(file), file).filter((v) => !v.flows || v.flows.includes(flow));
  for (const v of variants) {
    const r = kernelElfValidity(v.data, trailerFacts(v.data).elfLength, target);
    if (v.loads) assert.equal(r, undefined, `${v.name}: the kernel loads it`);
    else if (v.oops?.includes(flow)) assert.equal(r?.code, 'section-name-oops', `${v.name}: the kernel oopses`);
    else assert.equal(r?.log, want[v.name], v.name);
    assert.ok(v.name in want, `${v.name}: no expectation`);
  }
  const ok = fs.readFileSync(file);
  assert.equal(kernelElfValidity(ok, trailerFacts(ok).elfLength, target), undefined, 'the module as built passes');
}

test("the flow of the ELF checks follows the 6.12 sublevel (6.12.117 backported 6.13's split)", () => {
  assert.equal(elfCheckFlow('6.1', '6.1.0-57-amd64'), '6.1');
  assert.equal(elfCheckFlow('6.12', '6.12.111-kmodseal'), '6.12.0');
  assert.equal(elfCheckFlow('6.12', '6.12.116+deb13-amd64'), '6.12.0');
  assert.equal(elfCheckFlow('6.12', '6.12.117+deb12-amd64'), '6.12.117');
  assert.equal(elfCheckFlow('6.12', '6.12.118-kmodseal'), '6.12.117');
  assert.equal(elfCheckFlow('6.12', '6.13.0'), '6.12.117');
  assert.equal(elfCheckFlow('6.12', undefined), '6.12.117', 'unknown release: the newest flow');
});

for (const flow of ['6.12.0', '6.12.117'] as const) {
  test(`6.12 (${release[flow]}, flow ${flow}): every ELF check gives the line the test kernel logged`, () => {
    verify(hello, flow, x86(flow, 1088), expected(25, 24, 'kms_hello', 19, 3, flow));
  });
}

test("6.12: .gnu.linkonce.this_module must have the kernel's struct module size", () => {
  for (const flow of ['6.12.0', '6.12.117'] as const) {
    const r = kernelElfValidity(fs.readFileSync(hello), fs.statSync(hello).size, x86(flow, 1024));
    assert.equal(r?.code, 'struct-module-size');
    assert.equal(
      r?.log,
      "module kms_hello: .gnu.linkonce.this_module section size must match the kernel's built struct module size at run time",
    );
  }
  const r61 = kernelElfValidity(fs.readFileSync(hello), fs.statSync(hello).size, x86('6.1', 1024));
  assert.equal(r61, undefined, '6.1 does not compare the size');
});

test('6.1: every ELF check gives the line Debian 6.1 logged', { skip: !k61 && 'amd64-6.1 package not cached' }, () => {
  const dummy = modulesBelow(k61!.modulesDir).find((f) => f.endsWith('/dummy.ko'))!;
  verify(dummy, '6.1', x86('6.1'), expected(41, 40, 'dummy', 35, 3, '6.1'));
});

test(
  'any mutation of a module gives a verdict, never an exception',
  { skip: !k61 && 'amd64-6.1 package not cached' },
  () => {
    const seed = fs.readFileSync(modulesBelow(k61!.modulesDir).find((f) => f.endsWith('/dummy.ko'))!);
    const shoff = Number(seed.readBigUInt64LE(40));
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.oneof(
              fc.integer({ min: 0, max: 63 }),
              fc.integer({ min: shoff, max: seed.length - 1 }),
              fc.nat(seed.length - 1),
            ),
            fc.integer({ min: 0, max: 255 }),
          ),
          { minLength: 1, maxLength: 16 },
        ),
        fc.nat(seed.length),
        fc.constantFrom<ElfCheckFlow>('6.1', '6.12.0', '6.12.117'),
        fc.boolean(),
        (edits, cut, flow, le) => {
          const b = Buffer.from(seed.subarray(0, Math.max(cut, 1)));
          for (const [at, v] of edits) if (at < b.length) b[at] = v;
          const r = kernelElfValidity(b, b.length, { ...x86(flow, 1024), littleEndian: le });
          assert.ok(r === undefined || (typeof r.code === 'string' && typeof r.message === 'string'));
        },
      ),
      { numRuns: 3000 },
    );
  },
);

test('check carries the kernel release to the ELF checks: a 6.12.116 kernel gets the old flow, 6.12.117 the new', async () => {
  const { loadKernelSource } = await import('../../src/kernel/source.js');
  const { buildTarget } = await import('../../src/check/target.js');
  const { checkModules } = await import('../../src/check/check.js');
  const target = buildTarget(await loadKernelSource(path.join(TESTKERNEL, 'vmlinux')), {});
  const data = new Uint8Array(fs.readFileSync(hello));
  const variant = elfVariants(data, hello).find((v) => v.name === 'shstrtab-past-end')!;
  const line = async (rel: string): Promise<string | undefined> => {
    const [v] = await checkModules({ ...target, release: rel }, [{ file: 'x.ko', data: variant.data }]);
    assert.equal(v!.outcome, 'rejected');
    return v!.reasons.find((r) => r.fatal)?.log;
  };
  assert.match((await line('6.12.116-x'))!, /^Invalid ELF section hdr\(type 3\)$/);
  assert.match((await line('6.12.117-x'))!, /^Invalid ELF section in module \(section \d+ type 3\)$/);
});
