/**
 * Malformed variants of a module, one per check of the kernel's ELF validation (test-only
 * fixtures, built from a real module): each breaks exactly one rule. `oops`: the flows
 * (elfCheckFlow()) whose kernel reads past its copy of the module and oopses instead of refusing
 * (not loaded, no errno to compare). `flows`: the only flows the variant is made for (the others
 * do not check it and go on with a broken module).
 * `loads`: the kernel does not check this (EI_CLASS, EI_DATA) and loads the module.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Elf, SHF_ALLOC, SHT_NOBITS, SHT_SYMTAB } from '../../src/elf/elf.js';
import { findModuleSignature } from '../../src/modsig/signature.js';
import type { ModuleVerdict } from '../../src/check/check.js';
import type { ElfCheckFlow } from '../../src/check/elf-validity.js';
import { runBin } from '../helpers.js';
import { bootAndLoad } from './kernel.js';

export interface ElfVariant {
  readonly name: string;
  readonly data: Buffer;
  readonly oops?: readonly ElfCheckFlow[];
  readonly flows?: readonly ElfCheckFlow[];
  readonly loads?: boolean;
}

/** Variants of an x86-64 module (its signature taken off first: the kernel checks it before the ELF). */
export function elfVariants(module: Uint8Array, file: string): ElfVariant[] {
  const sig = findModuleSignature(module, file);
  const base = Buffer.from(module.subarray(0, sig ? sig.moduleLength : module.length));
  const elf = Elf.parse(base, file);
  const h = elf.header;
  if (h.class !== 64 || !h.littleEndian) throw new Error(`${file}: x86-64 modules only`);
  const sh = (i: number): number => h.e_shoff + i * 64;
  const find = (pred: (s: (typeof elf.sections)[number]) => boolean): number => {
    const i = elf.sections.findIndex((s) => s.index > 0 && pred(s));
    if (i < 0) throw new Error(`${file}: no section for a variant`);
    return i;
  };
  const nonAlloc = find((s) => s.sh_type === 1 && (s.sh_flags & SHF_ALLOC) === 0);
  const alloc = find((s) => s.sh_type === 1 && (s.sh_flags & SHF_ALLOC) !== 0);
  const symtab = find((s) => s.sh_type === SHT_SYMTAB);
  const thisModule = find((s) => s.name === '.gnu.linkonce.this_module');
  const strtab = elf.sections[h.e_shstrndx]!;
  const out: ElfVariant[] = [];
  const v = (name: string, edit: (b: Buffer) => Buffer | void, extra: Partial<ElfVariant> = {}): void => {
    const b = Buffer.from(base);
    out.push({ name, data: edit(b) ?? b, ...extra });
  };
  v('header-len4', (b) => b.subarray(0, 4));
  v('header-len63', (b) => b.subarray(0, 63));
  v('type-exec', (b) => void b.writeUInt16LE(2, 16));
  v('machine-i386', (b) => void b.writeUInt16LE(3, 18));
  v('shentsize', (b) => void b.writeUInt16LE(63, 58));
  v('shoff-past-end', (b) => void b.writeBigUInt64LE(BigInt(b.length), 40));
  v('shstrndx-zero', (b) => void b.writeUInt16LE(0, 62));
  v('shstrndx-past', (b) => void b.writeUInt16LE(h.e_shnum, 62));
  v('section0-progbits', (b) => void b.writeUInt32LE(1, sh(0) + 4));
  v('shstrtab-empty', (b) => void b.writeBigUInt64LE(0n, sh(h.e_shstrndx) + 32));
  v('shstrtab-unterminated', (b) => void (b[strtab.sh_offset + strtab.sh_size - 1] = 0x78));
  v('shstrtab-past-end', (b) => void b.writeBigUInt64LE(BigInt(b.length), sh(h.e_shstrndx) + 24));
  v('section-past-end', (b) => void b.writeBigUInt64LE(BigInt(b.length), sh(nonAlloc) + 24));
  v('symtab-link-zero', (b) => void b.writeUInt32LE(0, sh(symtab) + 40));
  v('symtab-none', (b) => void b.writeUInt32LE(1, sh(symtab) + 4));
  v('alloc-name-past-table', (b) => void b.writeUInt32LE(strtab.sh_size + 1, sh(alloc)));
  // 6.1 and 6.12.117 check an SHF_ALLOC section's name offset before they read the name, 6.12.0 after
  v('alloc-name-past-module', (b) => void b.writeUInt32LE(0xfffff, sh(alloc)), { oops: ['6.12.0'] });
  v('nonalloc-name-past-module', (b) => void b.writeUInt32LE(0xfffff, sh(nonAlloc)), { oops: ['6.1', '6.12.0'] });
  v(
    'this-module-none',
    (b) => void b.set(renameSections(b, file, { '.gnu.linkonce.this_module': '.gnu.linkonce.this_modulx' })),
  );
  v('this-module-nobits', (b) => void b.writeUInt32LE(SHT_NOBITS, sh(thisModule) + 4), {
    flows: ['6.12.0', '6.12.117'],
  });
  v('modinfo-twice', (b) => void b.set(renameSections(b, file, { '.comment': '.modinfo' })), {
    flows: ['6.12.0', '6.12.117'],
  });
  v('shstrtab-not-strtab', (b) => void b.writeUInt32LE(1, sh(h.e_shstrndx) + 4), { flows: ['6.12.117'] });
  v('symtab-strtab-not-strtab', (b) => void b.writeUInt32LE(alloc, sh(symtab) + 40), { flows: ['6.12.117'] });
  v('class-elf32', (b) => void (b[4] = 1), { loads: true });
  v('data-big-endian', (b) => void (b[5] = 2), { loads: true });
  return out;
}

/**
 * Writes the variants of `module`, has `check` predict each against `kernel` (what --kernel
 * takes), boots `image` and loads them, and returns every disagreement (outcome, errno, taint,
 * and the kernel's line for the refusal). Boots: one for the refusals and the first variant that
 * loads, one for the second (same module name), one per oops.
 */
export function compareElfVariants(
  flow: ElfCheckFlow,
  kernel: string,
  image: string,
  module: string,
  dir: string,
): string[] {
  const variants = elfVariants(fs.readFileSync(module), module)
    .filter((v) => !v.flows || v.flows.includes(flow))
    .map((v) => ({ ...v, oops: v.oops?.includes(flow) ? v.oops : undefined }));
  const files = variants.map((v) => {
    const p = path.join(dir, `elf-${v.name}.ko`);
    fs.writeFileSync(p, v.data);
    return p;
  });
  const loads = variants.flatMap((v, i) => (v.loads ? [i] : []));
  const batches = [
    variants.flatMap((v, i) => (!v.oops && i !== loads[1] ? [i] : [])),
    ...loads.slice(1).map((i) => [i]),
    ...variants.flatMap((v, i) => (v.oops ? [[i]] : [])),
  ];
  const failures: string[] = [];
  for (const batch of batches) {
    const mods = batch.map((i) => files[i]!);
    const r = runBin(['check', '--json', '--kernel', kernel, ...mods]);
    if (![0, 4, 5].includes(r.code)) {
      failures.push(`check exited ${r.code}: ${r.stderr}`);
      continue;
    }
    const predicted = (JSON.parse(r.stdout.toString('utf8')) as { modules: ModuleVerdict[] }).modules;
    const real = bootAndLoad(image, '', mods);
    batch.forEach((vi, j) => {
      const v = variants[vi]!;
      const p = predicted[j]!;
      const k = real[j];
      if (!k) return void failures.push(`${v.name}: the kernel reported no load`);
      const fatal = p.reasons.find((x) => x.fatal);
      if (v.oops) {
        // the kernel oopses: not loaded, and no errno to compare
        if (k.loaded || p.outcome !== 'rejected' || fatal?.code !== 'section-name-oops') {
          failures.push(
            `${v.name}: predicted ${p.outcome} (${fatal?.code}), kernel loaded=${k.loaded} errno=${k.errno_name}`,
          );
        }
        return;
      }
      const got = {
        loaded: p.outcome !== 'rejected',
        errno: p.errno ?? 'OK',
        taint: p.outcome === 'rejected' ? null : p.taints,
      };
      const want = { loaded: k.loaded, errno: k.errno_name, taint: k.loaded ? (k.module_taint ?? '') : null };
      const log = k.kernel_log.join(' | ');
      const [g, w] = [JSON.stringify(got), JSON.stringify(want)];
      if (g !== w) failures.push(`${v.name}: predicted ${g}, kernel ${w} (${log})`);
      if (fatal?.log && !k.kernel_log.includes(fatal.log))
        failures.push(`${v.name}: kernel did not log '${fatal.log}' (${log})`);
      if (!k.loaded && !fatal?.log) failures.push(`${v.name}: no line predicted; the kernel logged: ${log}`);
    });
  }
  return failures;
}

/** A copy of `module` with sections renamed in place in the name table (each new name no longer than the old). */
export function renameSections(module: Uint8Array, file: string, renames: Record<string, string>): Buffer {
  const b = Buffer.from(module);
  const elf = Elf.parse(b, file);
  const names = elf.sections[elf.header.e_shstrndx]!;
  for (const [from, to] of Object.entries(renames)) {
    const s = elf.sections.find((x) => x.name === from);
    if (!s || to.length > from.length) throw new Error(`${file}: cannot rename ${from} to ${to}`);
    b.write(`${to}\0`, names.sh_offset + s.sh_name, 'latin1');
  }
  return b;
}
