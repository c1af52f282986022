/** `kmodseal check`: will these modules load into this kernel, and why not. */
import fs from 'node:fs';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { loadKernelSource, loadRunningKernel, type KernelSource } from '../../kernel/source.js';
import { readCertificateFile } from '../../keys/key-file.js';
import { readFileBytes, statOrNotFound, walkModules, hasModuleExtension, runningRelease } from '../../io/files.js';
import { buildTarget, type CheckTarget } from '../../check/target.js';
import type { ModuleVerdict } from '../../check/check.js';
import { checkMany } from '../../run/check-many.js';
import type { CheckTask } from '../../run/jobs/check.js';
import { parseDeb, readDebData } from '../../deb/deb.js';
import { KmodsealError } from '../../bytes/errors.js';
import { renderCheckHtml } from '../../report/check-html.js';
import { checkSummary } from '../../report/counts.js';
import { formatKernelWarning } from '../../report/kernel.js';
import { writeFileAtomic } from '../../io/atomic.js';

export interface CheckOptions {
  kernel?: string;
  running?: boolean;
  sigEnforce?: boolean;
  lockdown?: boolean;
  allowBtfMismatch?: boolean;
  force?: boolean;
  trust?: string[];
  config?: string;
  json?: boolean;
  report?: string;
}

/** The modules to check: files are read where they are checked (a worker), .deb members are in memory. */
async function gatherInputs(paths: readonly string[]): Promise<CheckTask[]> {
  const out: CheckTask[] = [];
  for (const p of paths) {
    const st = statOrNotFound(p);
    if (st.isDirectory()) {
      for (const f of walkModules(p)) out.push({ file: f, path: f });
    } else if (p.endsWith('.deb')) {
      const bytes = readFileBytes(p);
      const data = await readDebData(parseDeb(bytes, p), p, { select: (e) => hasModuleExtension(e.path) });
      for (const [name, d] of [...data.files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        out.push({ file: `${p}:${name}`, data: d });
    } else out.push({ file: p, path: p });
  }
  return out;
}

export async function checkCommand(modules: string[], o: CheckOptions, io: Io): Promise<ExitCode> {
  let src: KernelSource;
  if (o.running || !o.kernel) {
    if (o.kernel) throw new KmodsealError('E_USAGE', 'give either --kernel or --running');
    const running = loadRunningKernel();
    const release = running.running?.release ?? runningRelease();
    // The running kernel's own image: /boot/vmlinuz-RELEASE (needed for its keys and exports).
    const image = [`/boot/vmlinuz-${release}`, `/boot/vmlinux-${release}`].find((f) => fs.existsSync(f));
    if (!image) {
      io.stderr(
        `kmodseal: ERROR: the running kernel ${release} has no /boot/vmlinuz-${release} to read its trusted keys and exports from;\n` +
          `kmodseal: give the kernel with --kernel IMAGE|DEB|DIR (and modules to check).\n`,
      );
      return EXIT.NOT_FOUND;
    }
    src = await loadKernelSource(image, o.config ? { config: o.config } : {});
    if (!modules.length) {
      const dir = `/lib/modules/${release}`;
      if (!fs.existsSync(dir)) {
        io.stderr(`kmodseal: ERROR: ${dir} does not exist: this machine has no modules for the running kernel.\n`);
        return EXIT.NOT_FOUND;
      }
      modules = [dir];
    }
  } else {
    src = await loadKernelSource(o.kernel, o.config ? { config: o.config } : {});
    if (!modules.length) {
      if (!src.modulesDir)
        throw new KmodsealError('E_USAGE', `${o.kernel}: no module tree beside this kernel; give modules to check`);
      modules = [src.modulesDir];
    }
  }
  const target: CheckTarget = buildTarget(src, {
    sigEnforce: o.sigEnforce,
    lockdown: o.lockdown,
    allowBtfMismatch: o.allowBtfMismatch,
    force: o.force,
  });
  const extra = (o.trust ?? []).flatMap(readCertificateFile);
  const inputs = await gatherInputs(modules);
  // Files named one by one load in that order (insmod); trees and packages in dependency order (modprobe).
  const expanded = modules.some((m) => m.endsWith('.deb') || (fs.existsSync(m) && fs.statSync(m).isDirectory()));
  const verdicts = await checkMany(target, inputs, { extraTrusted: extra, order: expanded ? 'dependencies' : 'given' });
  const kernelJson = {
    source: target.description,
    release: target.release ?? null,
    vermagic: target.vermagic ?? null,
    series: target.series,
    structModuleSize: target.structModuleSize ?? null,
    trusted: target.trusted.map((c) => c.kernelName),
    policy: target.policy,
    ...(target.unreadable.length ? { unreadable: target.unreadable } : {}),
  };
  const compressed = src.inspection?.image.compression !== undefined;
  for (const w of target.unreadable)
    io.stderr(`kmodseal: warning: ${target.description}: ${formatKernelWarning(w, compressed)}\n`);
  if (o.report) writeFileAtomic(o.report, renderCheckHtml({ kernel: kernelJson, modules: verdicts }));
  if (o.json) io.stdout(Buffer.from(JSON.stringify({ kernel: kernelJson, modules: verdicts }, null, 2) + '\n', 'utf8'));
  else io.stdout(Buffer.from(renderCheckText(kernelJson, verdicts), 'utf8'));
  if (verdicts.some((v) => v.outcome === 'rejected')) return EXIT.CHECK_FAILED;
  if (verdicts.some((v) => v.outcome === 'loads-tainted')) return EXIT.TAINTED;
  return EXIT.OK;
}

function renderCheckText(
  kernel: { source: string; release: string | null; policy: CheckTarget['policy'] },
  verdicts: readonly ModuleVerdict[],
): string {
  const lines: string[] = [];
  const pol = kernel.policy;
  lines.push(`kernel: ${kernel.release ?? '?'} (${kernel.source})`);
  lines.push(
    `policy: sig_enforce=${pol.sigEnforce ? 1 : 0} lockdown=${pol.lockdown ? 1 : 0} modversions=${pol.modversions ? 1 : 0} ` +
      `allow_btf_mismatch=${pol.allowBtfMismatch ? 1 : 0} force=${pol.force ? 1 : 0}`,
  );
  for (const outcome of ['rejected', 'loads-tainted', 'loads'] as const) {
    const group = verdicts.filter((v) => v.outcome === outcome);
    if (!group.length) continue;
    lines.push('', `${outcome} (${group.length}):`);
    for (const v of group) {
      const head = outcome === 'rejected' ? v.errno! : outcome === 'loads-tainted' ? `taint ${v.taints}` : 'ok';
      const fatal = v.reasons.find((r) => r.fatal);
      lines.push(
        `  ${v.name.padEnd(24)} ${head.padEnd(13)} ${
          fatal
            ? fatal.message
            : v.reasons
                .filter((r) => r.check === 'taint' || r.code === 'unsigned' || r.code === 'untrusted-key')
                .map((r) => r.message)
                .join('; ')
        }`,
      );
      // verdicts made without a part of the kernel image say so, and which checks were left undone
      const undone = v.reasons.filter((r) => r.code === 'kernel-unreadable');
      if (undone.length)
        lines.push(
          `    not checked (kernel part unreadable): ${undone.map((r) => `${r.check} (${r.unreadable!.part})`).join(', ')}`,
        );
      if (outcome !== 'loads') {
        lines.push(`    ${v.file}`);
        for (const r of v.reasons)
          if (r.log && (r.fatal || outcome === 'rejected'))
            for (const l of r.log.split('\n')) lines.push(`    kernel: ${l}`);
      }
    }
  }
  const n = (o: string): number => verdicts.filter((v) => v.outcome === o).length;
  lines.push('', checkSummary(verdicts.length, n('loads'), n('loads-tainted'), n('rejected')));
  return lines.join('\n') + '\n';
}
