/**
 * The vmlinux BTF of a kernel given any way the CLI accepts one: a raw BTF file
 * (/sys/kernel/btf/vmlinux), an ELF with .BTF, a boot image, a .deb, a directory, or the
 * running system; with the facts the module BTF check needs (series, mismatch policy).
 */
import fs from 'node:fs';
import { KmodsealError } from '../bytes/errors.js';
import { parseBtf, probeBtf, type Btf } from '../btf/btf.js';
import { kernelSeries, type KernelSeries } from './series.js';
import { loadKernelSource, loadRunningKernel, requireKernelPart } from './source.js';
import { readFileBytes } from '../io/files.js';

export interface KernelBtf {
  readonly btf: Btf;
  readonly release: string | undefined;
  readonly series: KernelSeries;
  /** CONFIG_MODULE_ALLOW_BTF_MISMATCH, when the configuration is known. */
  readonly allowMismatch: boolean | undefined;
  /** CONFIG_DEBUG_INFO_BTF_MODULES, when the configuration is known. */
  readonly btfModules: boolean | undefined;
  readonly description: string;
}

export async function loadKernelBtf(target: string): Promise<KernelBtf> {
  if (target === 'running' || target === '--running') {
    const src = loadRunningKernel();
    const r = src.running!;
    if (!r.btf) throw new KmodsealError('E_NOTFOUND', 'running kernel: /sys/kernel/btf/vmlinux is not readable');
    return withConfig(
      parseBtf(r.btf, { file: '/sys/kernel/btf/vmlinux' }),
      r.release,
      src.config?.values,
      'running kernel',
    );
  }
  if (fs.existsSync(target) && fs.statSync(target).isFile()) {
    const head = readFileBytes(target);
    if (probeBtf(head)) return withConfig(parseBtf(head, { file: target }), undefined, undefined, target);
  }
  const src = await loadKernelSource(target);
  const k = src.inspection!;
  requireKernelPart(src, 'btf', 'no module BTF can be checked against it');
  if (!k.btf)
    throw new KmodsealError(
      'E_NOTFOUND',
      `${src.description}: the kernel has no .BTF (raw image or CONFIG_DEBUG_INFO_BTF off)`,
    );
  return withConfig(parseBtf(k.btf, { file: src.description }), k.release, src.config?.values, src.description);
}

function withConfig(
  btf: Btf,
  release: string | undefined,
  values: ReadonlyMap<string, string> | undefined,
  description: string,
): KernelBtf {
  const on = (k: string): boolean | undefined => (values ? values.get(k) === 'y' : undefined);
  return {
    btf,
    release,
    series: kernelSeries(release),
    allowMismatch: on('CONFIG_MODULE_ALLOW_BTF_MISMATCH'),
    btfModules: on('CONFIG_DEBUG_INFO_BTF_MODULES'),
    description,
  };
}
