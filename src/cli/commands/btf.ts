/** `kmodseal btf dump|check`: bpftool-identical dumps and the kernel's module BTF verdict. */
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import fs from 'node:fs';
import { readFileBytes, walkModules } from '../../io/files.js';
import { modnameFromPath } from '../../modinfo/depmod.js';
import { loadKernelBtf, type KernelBtf } from '../../kernel/btf-source.js';
import { decompressModule } from '../../compress/index.js';
import { Elf } from '../../elf/elf.js';
import { readModinfo } from '../../modinfo/modinfo.js';
import { findElfBtf, parseBtf, parseBtfFile } from '../../btf/btf.js';
import { writeBtfJson, writeBtfRaw } from '../../btf/dump.js';
import { checkModuleBtf, type ModuleBtfCheckResult } from '../../btf/validate.js';
import { openModuleBtf } from '../../btf/relocate.js';
import { probeElf } from '../../elf/elf.js';
import {
  baseReferenceEvidence,
  compareModuleBase,
  type BaseCompareResult,
  type BaseEvidence,
} from '../../btf/compare.js';
import { isKmodsealError, KmodsealError } from '../../bytes/errors.js';
import { renderBaseMismatches } from '../../report/btf-mismatch.js';
import { btfText } from '../../report/counts.js';

export async function btfDumpCommand(file: string, o: { base?: string; json?: boolean }, io: Io): Promise<ExitCode> {
  const base = o.base ? (await loadKernelBtf(o.base)).btf : undefined;
  const { data } = await decompressModule(readFileBytes(file), file);
  // a module ELF opens as libbpf opens it (a .BTF.base is used, and relocated onto --base)
  const btf = probeElf(data) ? openModuleBtf(Elf.parse(data, file), base) : parseBtfFile(data, file, base);
  const out = (chunk: string): void => io.stdout(chunk);
  if (o.json) writeBtfJson(btf, out);
  else writeBtfRaw(btf, out);
  return EXIT.OK;
}

export interface BtfCheckJson {
  readonly file: string;
  readonly module: string;
  /** ok | relocatable (6.12, .BTF.base maps onto the target) | mismatch | no-btf | unsupported */
  readonly status: string;
  readonly loads: boolean;
  readonly errno: string | null;
  readonly typeId: number | null;
  readonly reason: string | null;
  readonly kernelLog: readonly string[];
  /** With --built-against: the base types the module references compared with the target's. */
  readonly semantic: {
    status: 'compatible' | 'mismatched';
    referenced: number;
    mismatches: BaseCompareResult['mismatches'];
    truncated: boolean;
  } | null;
  /**
   * Without --built-against: a heuristic, the evidence the module's BTF carries of another base
   * (names that do not start a string of this base, references to kinds that cannot be referenced so).
   */
  readonly heuristic: ({ status: 'evidence-of-another-base' | 'no-evidence' } & BaseEvidence) | null;
  /**
   * The module's `.BTF.base`: whether the target's rules use it (6.12) or ignore it (6.1), and
   * with 6.12 how its types map onto the target's vmlinux BTF (the kernel's btf_relocate()).
   */
  readonly distilledBase?: {
    readonly used: boolean;
    readonly types?: number;
    readonly mapped?: number;
    readonly mappings?: readonly {
      id: number;
      kind: string;
      name: string;
      size: number;
      embedded: boolean;
      targetId: number;
      targetKind: string;
    }[];
  };
  readonly error?: { code: string; message: string };
}

export async function btfCheckCommand(
  modules: string[],
  o: { kernel?: string; builtAgainst?: string; allowBtfMismatch?: boolean; json?: boolean },
  io: Io,
): Promise<ExitCode> {
  if (!o.kernel)
    throw new KmodsealError(
      'E_USAGE',
      'btf check needs --kernel (image, vmlinux, .deb, directory, raw BTF, or "running")',
    );
  if (modules.length === 0) throw new KmodsealError('E_USAGE', 'btf check needs at least one module');
  const target = await loadKernelBtf(o.kernel);
  const built = o.builtAgainst ? await loadKernelBtf(o.builtAgainst) : undefined;
  const allow = o.allowBtfMismatch ?? target.allowMismatch ?? false;
  const results: BtfCheckJson[] = [];
  let exit: ExitCode = EXIT.OK;
  const files = modules.flatMap((m) =>
    fs.statSync(m, { throwIfNoEntry: false })?.isDirectory() ? walkModules(m) : [m],
  );
  for (const file of files) {
    try {
      const r = await checkOne(file, target, built, allow);
      results.push(r);
      if (r.status !== 'ok' && r.status !== 'relocatable' && r.status !== 'no-btf')
        exit = Math.max(exit, EXIT.CHECK_FAILED) as ExitCode;
      if (r.semantic?.status === 'mismatched') exit = Math.max(exit, EXIT.CHECK_FAILED) as ExitCode;
    } catch (e) {
      if (!isKmodsealError(e)) throw e;
      io.stderr(`kmodseal: ERROR: ${e.message}\n`);
      results.push({
        file,
        module: modnameFromPath(file),
        status: 'error',
        loads: false,
        errno: null,
        typeId: null,
        reason: null,
        kernelLog: [],
        semantic: null,
        heuristic: null,
        error: { code: e.code, message: e.message },
      });
      if (exit === EXIT.OK) exit = EXIT.BAD_INPUT;
    }
  }
  if (o.json) {
    io.stdout(
      Buffer.from(
        JSON.stringify(
          {
            kernel: {
              source: target.description,
              release: target.release ?? null,
              series: target.series,
              allowBtfMismatch: allow,
            },
            modules: results,
          },
          null,
          2,
        ) + '\n',
        'utf8',
      ),
    );
    return exit;
  }
  for (const r of results) {
    if (r.error) continue;
    const consequence =
      r.status === 'ok' || r.status === 'relocatable' || r.status === 'no-btf'
        ? 'loads'
        : r.loads
          ? 'loads without BTF (MODULE_ALLOW_BTF_MISMATCH=y)'
          : `rejected (${r.errno})`;
    const d = r.distilledBase;
    const what =
      r.status === 'ok'
        ? 'BTF valid'
        : r.status === 'relocatable'
          ? btfText.relocatable((d?.types ?? 1) - 1)
          : r.status === 'no-btf'
            ? 'no .BTF'
            : r.status === 'unsupported'
              ? `not predictable: ${r.reason}`
              : `BTF mismatch${r.typeId ? ` at ${d?.used ? '.BTF.base ' : ''}type [${r.typeId}]` : ''}: ${r.reason}`;
    io.stdout(`${r.file}: ${r.module}: ${what} -> ${consequence}\n`);
    for (const l of r.kernelLog) io.stdout(`    kernel: ${l}\n`);
    if (d && !d.used)
      io.stdout('    .BTF.base: ignored by this kernel series (6.1); .BTF is checked against vmlinux\n');
    if (d?.mappings && r.status !== 'relocatable')
      io.stdout(`    ${btfText.mapped(d.mappings.length, (d.types ?? 1) - 1)}\n`);
    if (r.heuristic) {
      const h = r.heuristic;
      if (h.status === 'no-evidence')
        io.stdout(
          `    base types (heuristic, no --built-against): ${btfText.noEvidence(h.namesChecked, h.refsChecked)}\n`,
        );
      else {
        io.stdout(
          `    base types (heuristic, no --built-against): ${btfText.evidence(h.misplacedNameCount, h.badKindCount)}\n`,
        );
        for (const n of h.misplacedNames)
          io.stdout(`      [${n.id}] name offset ${n.nameOff} lands inside a string (reads '${n.reads}')\n`);
        for (const b of h.badKinds) io.stdout(`      [${b.id}] ${b.from} -> [${b.ref}] ${b.kind}\n`);
      }
    }
    if (r.semantic) {
      if (r.semantic.status === 'compatible')
        io.stdout(`    base types: compatible (${r.semantic.referenced} referenced, all equal to the target's)\n`);
      else {
        io.stdout(
          `    base types: ${btfText.mismatched(r.semantic.mismatches.length, r.semantic.truncated, r.semantic.referenced)}\n`,
        );
        for (const l of renderBaseMismatches(r.semantic.mismatches)) io.stdout(`      ${l}\n`);
      }
    }
  }
  return exit;
}

async function checkOne(
  file: string,
  target: KernelBtf,
  built: KernelBtf | undefined,
  allow: boolean,
): Promise<BtfCheckJson> {
  const { data } = await decompressModule(readFileBytes(file), file);
  const elf = Elf.parse(data, file);
  const module = readModinfo(elf).find((e) => e.key === 'name')?.value ?? modnameFromPath(file);
  const found = findElfBtf(elf);
  if (!found || found.btf.length === 0) {
    return {
      file,
      module,
      status: 'no-btf',
      loads: true,
      errno: null,
      typeId: null,
      reason: null,
      kernelLog: [],
      semantic: null,
      heuristic: null,
    };
  }
  const res: ModuleBtfCheckResult = checkModuleBtf(found.btf, target.btf, {
    kernel: target.series,
    allowMismatch: allow,
    moduleName: module,
    littleEndian: elf.header.littleEndian,
    file,
    offset: found.btfOffset,
    ...(found.distilledBase
      ? { distilledBase: found.distilledBase, distilledBaseOffset: found.distilledBaseOffset ?? 0 }
      : {}),
  });
  const usesDistilled = found.distilledBase !== undefined && target.series === '6.12';
  const distilledBase: BtfCheckJson['distilledBase'] =
    found.distilledBase === undefined
      ? undefined
      : usesDistilled
        ? {
            used: true,
            ...(res.distilled
              ? {
                  types: res.distilled.distilledTypes,
                  mapped: res.distilled.mappings.length,
                  mappings: res.distilled.mappings,
                }
              : {}),
          }
        : { used: false };
  let semantic: BtfCheckJson['semantic'] = null;
  let heuristic: BtfCheckJson['heuristic'] = null;
  // with a distilled base the relocation itself compares every base type the module uses
  // (by name, kind, size) with the target's: no heuristic, and --built-against is not needed
  if (usesDistilled) {
    /* nothing to add */
  } else if (!built && res.status !== 'fail') {
    // the split BTF parses against the target: look for traces of another base
    const ev = baseReferenceEvidence(parseBtf(found.btf, { file, offset: found.btfOffset, base: target.btf }));
    heuristic = {
      status: ev.misplacedNameCount || ev.badKindCount ? 'evidence-of-another-base' : 'no-evidence',
      ...ev,
    };
  }
  if (built && !usesDistilled) {
    const moduleBtf = parseBtf(found.btf, { file, offset: found.btfOffset, base: built.btf });
    const cmp = compareModuleBase(moduleBtf, built.btf, target.btf);
    semantic = {
      status: cmp.mismatches.length ? 'mismatched' : 'compatible',
      referenced: cmp.referenced,
      mismatches: cmp.mismatches,
      truncated: cmp.truncated,
    };
  }
  return {
    file,
    module,
    status: res.status === 'fail' ? 'mismatch' : res.status === 'ok' && res.distilled ? 'relocatable' : res.status,
    loads: res.loads,
    errno: res.status === 'fail' ? (res.errName ?? `errno ${-res.err}`) : null,
    typeId: res.typeId ?? null,
    reason: res.reason ?? null,
    kernelLog: res.kernelLog,
    semantic,
    heuristic,
    ...(distilledBase ? { distilledBase } : {}),
  };
}
