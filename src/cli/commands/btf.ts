/** `kmodseal btf dump|check`: bpftool-identical dumps and the kernel's module BTF verdict. */
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { readFileBytes } from '../../io/files.js';
import { moduleFiles } from '../../run/inputs.js';
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
import { baseReferenceEvidence, compareModuleBase } from '../../btf/compare.js';
import { isKmodsealError, KmodsealError } from '../../bytes/errors.js';
import { renderBtfCheckJson, renderBtfCheckText, type BtfCheckJson } from '../../report/btf-check.js';

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
  const files = moduleFiles(modules);
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
    const kernel = {
      source: target.description,
      release: target.release ?? null,
      series: target.series,
      allowBtfMismatch: allow,
    };
    io.stdout(renderBtfCheckJson(kernel, results));
    return exit;
  }
  io.stdout(renderBtfCheckText(results));
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
