/**
 * The kernel's ELF checks (src/check/elf-validity.ts) against what the kernels logged. The
 * expected lines were recorded by booting the test kernel (6.12.111) and Debian's 6.1.0-57 under
 * qemu with each variant (2026-12-03); test/e2e re-checks them against the booted kernels.
 * Plus a property test: any mutation gives a verdict, never an exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { TESTKERNEL, kernelSet, modulesBelow } from '../helpers.js';
import { kernelElfValidity, type ElfValidityTarget } from '../../src/check/elf-validity.js';
import { elfVariants } from '../e2e/elf-variants.js';
import { trailerFacts } from '../../src/check/module-facts.js';

const hello = path.join(TESTKERNEL, 'modules/kms_hello.ko');
const k61 = kernelSet('amd64-6.1');
const x86 = (series: '6.1' | '6.12', structModuleSize?: number): ElfValidityTarget => ({ series, machine: 62, is64: true, littleEndian: true, structModuleSize });

/** What the kernels logged (undefined: loaded, or oopsed). */
const expected = (shnum: number, name: string, sectionPastEnd: number, alloc: number, series: '6.1' | '6.12'): Record<string, string | undefined> => ({
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
  'shstrtab-past-end': 'Invalid ELF section hdr(type 3)',
  'section-past-end': `Invalid ELF section in module (section ${sectionPastEnd} type 1)`,
  'symtab-link-zero': `Invalid ELF sh_link!=SHN_UNDEF(0) or (sh_link(0) >= hdr->e_shnum(${shnum})`,
  'symtab-none': `${name}: module has no symbols (stripped?)`,
  'alloc-name-past-table': `Invalid ELF section name in module (section ${alloc} type 1)`,
  'alloc-name-past-module': series === '6.1' ? `Invalid ELF section name in module (section ${alloc} type 1)` : undefined,
  'nonalloc-name-past-module': undefined,
  'class-elf32': undefined,
  'data-big-endian': undefined,
});

function verify(file: string, target: ElfValidityTarget, want: Record<string, string | undefined>): void {
  for (const v of elfVariants(fs.readFileSync(file), file)) {
    const r = kernelElfValidity(v.data, trailerFacts(v.data).elfLength, target);
    if (v.loads) assert.equal(r, undefined, `${v.name}: the kernel loads it`);
    else if (v.oops?.includes(target.series)) assert.equal(r?.code, 'section-name-oops', `${v.name}: the kernel oopses`);
    else assert.equal(r?.log, want[v.name], v.name);
  }
  const ok = fs.readFileSync(file);
  assert.equal(kernelElfValidity(ok, trailerFacts(ok).elfLength, target), undefined, 'the module as built passes');
}

test('6.12: every ELF check gives the line the test kernel logged', () => {
  verify(hello, x86('6.12', 1088), expected(25, 'kms_hello', 19, 3, '6.12'));
});

test('6.12: .gnu.linkonce.this_module must have the kernel\'s struct module size', () => {
  const r = kernelElfValidity(fs.readFileSync(hello), fs.statSync(hello).size, x86('6.12', 1024));
  assert.equal(r?.code, 'struct-module-size');
  assert.equal(r?.log, "module kms_hello: .gnu.linkonce.this_module section size must match the kernel's built struct module size at run time");
  assert.equal(kernelElfValidity(fs.readFileSync(hello), fs.statSync(hello).size, x86('6.1', 1024)), undefined, '6.1 does not compare the size');
});

test('6.1: every ELF check gives the line Debian 6.1 logged', { skip: !k61 && 'amd64-6.1 package not cached' }, () => {
  const dummy = modulesBelow(k61!.modulesDir).find((f) => f.endsWith('/dummy.ko'))!;
  verify(dummy, x86('6.1'), expected(41, 'dummy', 35, 3, '6.1'));
});

test('any mutation of a module gives a verdict, never an exception', { skip: !k61 && 'amd64-6.1 package not cached' }, () => {
  const seed = fs.readFileSync(modulesBelow(k61!.modulesDir).find((f) => f.endsWith('/dummy.ko'))!);
  const shoff = Number(seed.readBigUInt64LE(40));
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.oneof(fc.integer({ min: 0, max: 63 }), fc.integer({ min: shoff, max: seed.length - 1 }), fc.nat(seed.length - 1)), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 16 }),
      fc.nat(seed.length),
      fc.constantFrom<'6.1' | '6.12'>('6.1', '6.12'),
      fc.boolean(),
      (edits, cut, series, le) => {
        const b = Buffer.from(seed.subarray(0, Math.max(cut, 1)));
        for (const [at, v] of edits) if (at < b.length) b[at] = v;
        const r = kernelElfValidity(b, b.length, { series, machine: 62, is64: true, littleEndian: le, structModuleSize: 1024 });
        assert.ok(r === undefined || (typeof r.code === 'string' && typeof r.message === 'string'));
      },
    ),
    { numRuns: 3000 },
  );
});
