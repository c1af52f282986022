/**
 * The command table and argument parsing (commander). Commands return exit codes; only
 * bin/kmodseal.ts calls process.exit.
 */
import { Command, CommanderError, Option } from 'commander';
import { EXIT, type ExitCode } from './exit-codes.js';
import type { Io } from './io.js';
import { isKmodsealError } from '../bytes/errors.js';

export const VERSION = '0.1.0';

function intArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CommanderError(EXIT.USAGE, 'kmodseal.usage', `expected a positive integer, got '${v}'`);
  return n;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function run(argv: string[], io: Io): Promise<ExitCode> {
  let result: ExitCode = EXIT.OK;
  const program = new Command('kmodseal')
    .description('Make the compatibility between a Linux kernel build and its modules explicit, enforceable and checkable.')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .showHelpAfterError(false);

  program
    .command('inspect')
    .summary('show module metadata and signatures (byte-identical to modinfo)')
    .description(
      'Show what kmod\'s modinfo shows for each module: FILE (.ko, .ko.xz, .ko.zst, .ko.gz), DIR (every module below it),\n' +
        'or NAME/ALIAS (looked up in BASEDIR/lib/modules/RELEASE like modinfo). Without arguments: every module of the running kernel.',
    )
    .argument('[targets...]', 'module files, directories, names or aliases')
    .option('-F, --field <field>', 'print only this field\'s values (like modinfo -F)')
    .option('-a, --author', "print only 'author'")
    .option('-d, --description', "print only 'description'")
    .option('-l, --license', "print only 'license'")
    .option('-p, --parameters', "print only 'parm'")
    .option('-n, --filename', "print only 'filename'")
    .option('-0, --null', 'use \\0 instead of \\n (and key=value lines)')
    .option('-m, --modname', 'treat arguments as module names, not aliases or file names')
    .option('-k, --set-version <release>', 'kernel release to look names up in (default: uname -r)')
    .option('-b, --basedir <dir>', 'root of the module tree (BASEDIR/lib/modules/RELEASE)')
    .option('--json', 'print a JSON array: one object per module with ordered modinfo pairs and a structured signature')
    .addOption(new Option('-j, --jobs <n>', 'worker threads (default: all cores)').argParser(intArg))
    .action(async (targets: string[], o: Record<string, unknown>) => {
      const { inspectCommand } = await import('./commands/inspect.js');
      const field = (o.field as string | undefined) ??
        (o.author ? 'author' : o.description ? 'description' : o.license ? 'license' : o.parameters ? 'parm' : o.filename ? 'filename' : undefined);
      result = await inspectCommand(targets, {
        field,
        nul: Boolean(o.null),
        modname: Boolean(o.modname),
        setVersion: o.setVersion as string | undefined,
        basedir: o.basedir as string | undefined,
        json: Boolean(o.json),
        jobs: o.jobs as number | undefined,
      }, io);
    });

  program
    .command('kernel')
    .summary('read a kernel: release, trusted certificates, BTF, config policy, exports')
    .description(
      'Read a kernel image (bzImage, signed PE/EFI, vmlinux, Image), a linux-image .deb, an unpacked package tree\n' +
        '(DIR/boot/vmlinuz-*), or the running system (--running).',
    )
    .argument('[kernel]', 'image, .deb or directory')
    .option('--running', 'the running kernel (/proc, /sys)')
    .option('--json', 'print one JSON object')
    .option('--symvers', 'print the vmlinux part of Module.symvers (CRC, symbol, vmlinux, export type, namespace)')
    .option('--extract-vmlinux <file>', 'write the decompressed kernel to FILE')
    .option('--extract-certs <dir>', 'write each trusted certificate to DIR/cert-N.der')
    .option('--system-map <file>', 'System.map of the image, to locate the certificate list exactly')
    .option('--config <file>', 'the kernel .config (default: embedded, or config-RELEASE beside the image)')
    .action(async (target: string | undefined, o: Record<string, unknown>) => {
      const { kernelCommand } = await import('./commands/kernel.js');
      result = await kernelCommand(target, o, io);
    });

  program
    .command('check')
    .summary('predict, offline, whether modules load into a kernel, and why not')
    .description(
      'The kernel\'s load-time checks in its order: signature trust, ELF, struct module size, modversions CRCs,\n' +
        'vermagic, symbols and namespaces, BTF. Without --kernel: the running kernel against /lib/modules/$(uname -r).',
    )
    .argument('[modules...]', 'module files, directories, .deb files (default: the kernel\'s own module tree)')
    .option('--kernel <kernel>', 'kernel image, vmlinux, .deb, or unpacked package tree')
    .option('--running', 'the running kernel (the default)')
    .option('--sig-enforce', 'as if module.sig_enforce=1 (default: CONFIG_MODULE_SIG_FORCE)')
    .option('--lockdown', 'as if locked down (integrity), e.g. by Secure Boot')
    .option('--allow-btf-mismatch', 'assume CONFIG_MODULE_ALLOW_BTF_MISMATCH=y (default: from the config)')
    .option('--no-allow-btf-mismatch', 'assume CONFIG_MODULE_ALLOW_BTF_MISMATCH=n')
    .option('--force', 'as modprobe --force (ignore vermagic and modversions; the signature then counts as absent)')
    .option('--trust <cert>', 'also trust this certificate (PEM or DER), as a MOK/secondary keyring key (repeatable)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--json', 'print {"kernel": {...}, "modules": [...]}')
    .option('--report <file.html>', 'also write a self-contained HTML report')
    .action(async (modules: string[], o: Record<string, unknown>) => {
      const { checkCommand } = await import('./commands/check.js');
      result = await checkCommand(modules, o, io);
    });

  const btf = program.command('btf').summary('dump BTF like bpftool; check module BTF against a kernel as the kernel does');
  btf
    .command('dump')
    .summary('print BTF exactly as `bpftool btf dump file FILE [base BASE] format raw`')
    .argument('<file>', 'raw BTF, vmlinux, or a module (.ko, .ko.xz, .ko.zst, .ko.gz)')
    .option('--base <kernel>', 'base BTF for a module: raw BTF, vmlinux, image, .deb, directory, or "running"')
    .option('--json', 'the JSON bpftool prints with -j')
    .action(async (file: string, o: Record<string, unknown>) => {
      const { btfDumpCommand } = await import('./commands/btf.js');
      result = await btfDumpCommand(file, o, io);
    });
  btf
    .command('check')
    .summary("predict the kernel's verdict on module BTF (btf_parse_module), and compare base types")
    .argument('<modules...>', 'module files')
    .option('--kernel <kernel>', 'target: raw BTF (/sys/kernel/btf/vmlinux), vmlinux, image, .deb, directory, or "running"')
    .option('--built-against <kernel>', 'the kernel the modules were built against: compare every base type they reference')
    .option('--allow-btf-mismatch', 'assume CONFIG_MODULE_ALLOW_BTF_MISMATCH=y (default: from the target config)')
    .option('--no-allow-btf-mismatch', 'assume CONFIG_MODULE_ALLOW_BTF_MISMATCH=n')
    .option('--json', 'print JSON')
    .action(async (modules: string[], o: Record<string, unknown>) => {
      const { btfCheckCommand } = await import('./commands/btf.js');
      result = await btfCheckCommand(modules, o, io);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.OK;
      if (e.code === 'kmodseal.usage') io.stderr(`kmodseal: ERROR: ${e.message}\n`);
      return EXIT.USAGE;
    }
    if (isKmodsealError(e)) {
      io.stderr(`kmodseal: ERROR: ${e.message}\n`);
      return e.code === 'E_NOTFOUND' ? EXIT.NOT_FOUND : e.code === 'E_USAGE' ? EXIT.USAGE : EXIT.BAD_INPUT;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    io.stderr(`kmodseal: internal error (please report): ${err.stack ?? err.message}\n`);
    return EXIT.BUG;
  }
  return result;
}
