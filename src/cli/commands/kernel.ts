/** `kmodseal kernel IMAGE|DEB|DIR|--running`: what a kernel trusts, exports and enforces. */
import fs from 'node:fs';
import path from 'node:path';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { loadKernelSource, loadRunningKernel } from '../../kernel/source.js';
import { writeFileAtomic } from '../../io/atomic.js';
import {
  formatKernelWarning,
  formatSymvers,
  kernelToJson,
  renderKernel,
  type InitrdSummary,
} from '../../report/kernel.js';
import { initramfsModules, readInitramfs } from '../../initrd/initramfs.js';
import { KmodsealError } from '../../bytes/errors.js';

export interface KernelOptions {
  json?: boolean;
  symvers?: boolean;
  extractVmlinux?: string;
  extractCerts?: string;
  systemMap?: string;
  config?: string;
  running?: boolean;
}

export async function kernelCommand(target: string | undefined, o: KernelOptions, io: Io): Promise<ExitCode> {
  if (!target && !o.running) throw new KmodsealError('E_USAGE', 'give a kernel image, .deb or directory, or --running');
  if (target && o.running) throw new KmodsealError('E_USAGE', 'give either a kernel or --running, not both');
  const src = o.running
    ? loadRunningKernel()
    : await loadKernelSource(target!, {
        ...(o.systemMap ? { systemMap: o.systemMap } : {}),
        ...(o.config ? { config: o.config } : {}),
      });
  const k = src.inspection;
  // a part that could not be read is left out, named here and in the report; the rest is reported (exit 0)
  const warnings = k?.warnings ?? [];
  const compressed = k?.image.compression !== undefined;
  for (const w of warnings) io.stderr(`kmodseal: warning: ${src.description}: ${formatKernelWarning(w, compressed)}\n`);
  if (o.extractVmlinux) {
    if (!k) throw new KmodsealError('E_USAGE', '--extract-vmlinux needs a kernel image, not --running');
    writeFileAtomic(o.extractVmlinux, k.kernel);
  }
  if (o.extractCerts) {
    if (!k) throw new KmodsealError('E_USAGE', '--extract-certs needs a kernel image, not --running');
    fs.mkdirSync(o.extractCerts, { recursive: true });
    (k.certificates?.certificates ?? []).forEach((c, i) =>
      writeFileAtomic(path.join(o.extractCerts!, `cert-${i}.der`), Buffer.from(c.der, 'base64')),
    );
  }
  if (o.symvers && src.symvers) {
    io.stdout(formatSymvers(src.symvers.exports));
    return EXIT.OK;
  }
  if (o.symvers) {
    if (!k?.exports && warnings.some((w) => w.part === 'exports')) return EXIT.BAD_INPUT; // the warning said why
    if (!k?.exports)
      throw new KmodsealError(
        'E_NOTFOUND',
        `${src.description}: no exported-symbol tables to read (raw image or no __ksymtab)`,
      );
    io.stdout(formatSymvers(k.exports));
    return EXIT.OK;
  }
  let initrd: InitrdSummary | undefined;
  if (src.uki?.initrd) {
    const fs = await readInitramfs(src.uki.initrd, `${src.uki.file}: .initrd`);
    initrd = {
      size: src.uki.initrd.length,
      archives: fs.archives.map((a) => ({ compression: a.compression, entries: a.entries })),
      modules: initramfsModules(fs).map((m) => ({ path: m.path, release: m.release })),
    };
  }
  const j = kernelToJson(src, initrd);
  io.stdout(o.json ? Buffer.from(JSON.stringify(j, null, 2) + '\n', 'utf8') : Buffer.from(renderKernel(j), 'utf8'));
  return EXIT.OK;
}
