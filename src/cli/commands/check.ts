/** `kmodseal check`: will these modules load into this kernel, and why not. */
import fs from 'node:fs';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { loadKernelSource, loadRunningKernel, type KernelSource } from '../../kernel/source.js';
import { readCertificateFile } from '../../keys/key-file.js';
import { runningRelease } from '../../io/files.js';
import { buildTarget, type CheckTarget } from '../../check/target.js';
import type { ModuleVerdict } from '../../check/check.js';
import { checkMany } from '../../run/check-many.js';
import { checkTasks, initrdTasks } from '../../run/inputs.js';
import { readFileBytes } from '../../io/files.js';
import type { CheckTask } from '../../run/jobs/check.js';
import { KmodsealError } from '../../bytes/errors.js';
import { renderCheckHtml } from '../../report/check-html.js';
import { checkKernelJson, renderCheckJson, renderCheckText } from '../../report/check-text.js';
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
  initrd?: string[];
  json?: boolean;
  report?: string;
}

/** The kernel to check against and the modules to check (the defaults filled in), or the exit code of a default not found. */
type Subject =
  { src: KernelSource; modules: string[]; ukiInitrd?: { data: Uint8Array; file: string } } | { exit: ExitCode };

export async function checkCommand(modules: string[], o: CheckOptions, io: Io): Promise<ExitCode> {
  const subject =
    o.running || !o.kernel ? await runningSubject(modules, o, io) : await givenSubject(o.kernel, modules, o);
  if ('exit' in subject) return subject.exit;
  const { src } = subject;
  const target: CheckTarget = buildTarget(src, {
    sigEnforce: o.sigEnforce,
    lockdown: o.lockdown,
    allowBtfMismatch: o.allowBtfMismatch,
    force: o.force,
  });
  const extra = (o.trust ?? []).flatMap(readCertificateFile);
  const given = await checkTasks(subject.modules);
  const inInitrds: CheckTask[] = [];
  for (const f of o.initrd ?? []) inInitrds.push(...(await initrdTasks(readFileBytes(f), f)));
  if (subject.ukiInitrd) inInitrds.push(...(await initrdTasks(subject.ukiInitrd.data, subject.ukiInitrd.file)));
  const tasks = [...given.tasks, ...inInitrds];
  const expanded = given.expanded || inInitrds.length > 0;
  // Files named one by one load in that order (insmod); trees and packages in dependency order (modprobe).
  const verdicts = await checkMany(target, tasks, { extraTrusted: extra, order: expanded ? 'dependencies' : 'given' });
  const kernelJson = checkKernelJson(target);
  const compressed = src.inspection?.image.compression !== undefined;
  for (const w of target.unreadable)
    io.stderr(`kmodseal: warning: ${target.description}: ${formatKernelWarning(w, compressed)}\n`);
  if (o.report) writeFileAtomic(o.report, renderCheckHtml({ kernel: kernelJson, modules: verdicts }));
  io.stdout(o.json ? renderCheckJson(kernelJson, verdicts) : renderCheckText(kernelJson, verdicts));
  return exitCode(verdicts);
}

/** The running kernel: its image in /boot, and by default its module tree. */
async function runningSubject(modules: string[], o: CheckOptions, io: Io): Promise<Subject> {
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
    return { exit: EXIT.NOT_FOUND };
  }
  const src = await loadKernelSource(image, o.config ? { config: o.config } : {});
  if (modules.length || o.initrd?.length) return { src, modules };
  const dir = `/lib/modules/${release}`;
  if (!fs.existsSync(dir)) {
    io.stderr(`kmodseal: ERROR: ${dir} does not exist: this machine has no modules for the running kernel.\n`);
    return { exit: EXIT.NOT_FOUND };
  }
  return { src, modules: [dir] };
}

/** A kernel given with --kernel, and by default the module tree beside it. */
async function givenSubject(kernel: string, modules: string[], o: CheckOptions): Promise<Subject> {
  const src = await loadKernelSource(kernel, o.config ? { config: o.config } : {});
  if (modules.length || o.initrd?.length) return { src, modules };
  // a UKI: the modules it carries in its .initrd ("will this UKI boot and load what it carries?")
  if (src.uki) {
    if (!src.uki.initrd)
      throw new KmodsealError('E_USAGE', `${kernel}: this UKI has no .initrd section; give modules to check`);
    return { src, modules: [], ukiInitrd: { data: src.uki.initrd, file: `${kernel}: .initrd` } };
  }
  if (!src.modulesDir)
    throw new KmodsealError('E_USAGE', `${kernel}: no module tree beside this kernel; give modules to check`);
  return { src, modules: [src.modulesDir] };
}

function exitCode(verdicts: readonly ModuleVerdict[]): ExitCode {
  if (verdicts.some((v) => v.outcome === 'rejected')) return EXIT.CHECK_FAILED;
  if (verdicts.some((v) => v.outcome === 'loads-tainted')) return EXIT.TAINTED;
  return EXIT.OK;
}
