/** `kmodseal btf dump|check`: bpftool-identical dumps and the kernel's module BTF verdict. */
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { readFileBytes } from '../../io/files.js';
import { moduleFiles } from '../../run/inputs.js';
import { loadKernelBtf } from '../../kernel/btf-source.js';
import { decompressModule } from '../../compress/index.js';
import { Elf } from '../../elf/elf.js';
import { parseBtfFile } from '../../btf/btf.js';
import { writeBtfJson, writeBtfRaw } from '../../btf/dump.js';
import { openModuleBtf } from '../../btf/relocate.js';
import { probeElf } from '../../elf/elf.js';
import { isKmodsealError, KmodsealError } from '../../bytes/errors.js';
import { renderBtfCheckJson, renderBtfCheckText } from '../../report/btf-check.js';
import { btfCheckError, checkModuleFileBtf, type BtfCheckJson } from '../../check/btf-check.js';

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
      const r = await checkModuleFileBtf(file, target, built, allow);
      results.push(r);
      if (r.status !== 'ok' && r.status !== 'relocatable' && r.status !== 'no-btf')
        exit = Math.max(exit, EXIT.CHECK_FAILED) as ExitCode;
      if (r.semantic?.status === 'mismatched') exit = Math.max(exit, EXIT.CHECK_FAILED) as ExitCode;
    } catch (e) {
      if (!isKmodsealError(e)) throw e;
      io.stderr(`kmodseal: ERROR: ${e.message}\n`);
      results.push(btfCheckError(file, e));
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
