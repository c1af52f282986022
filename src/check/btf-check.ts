/**
 * `btf check`'s per-module verdict: a module file's BTF judged as the target kernel judges it
 * when loading (src/btf/validate.ts), with the base-type comparison beside it. The result is
 * plain data; src/report/btf-check.ts renders it as text or JSON.
 */
import { readFileBytes } from '../io/files.js';
import { decompressModule } from '../compress/index.js';
import { Elf } from '../elf/elf.js';
import { readModinfo } from '../modinfo/modinfo.js';
import { modnameFromPath } from '../modinfo/depmod.js';
import { findElfBtf, parseBtf } from '../btf/btf.js';
import { checkModuleBtf, type ModuleBtfCheckResult } from '../btf/validate.js';
import { baseReferenceEvidence, compareModuleBase, type BaseCompareResult, type BaseEvidence } from '../btf/compare.js';
import type { KmodsealError } from '../bytes/errors.js';
import type { KernelBtf } from '../kernel/btf-source.js';

/** One module of `btf check --json`. */
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

/** The entry of a module that could not be read: status "error", with the error's code and message. */
export function btfCheckError(file: string, e: KmodsealError): BtfCheckJson {
  return {
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
  };
}

/**
 * `btf check` of one module file: the kernel's verdict on its BTF against `target`
 * (btf_parse_module(), with 6.12's distilled-base relocation), and how its base types compare:
 * exactly with `built` (the kernel it was built against), else the heuristic evidence of another
 * base.
 * @throws KmodsealError when the file cannot be read, decompressed or parsed as ELF
 */
export async function checkModuleFileBtf(
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
