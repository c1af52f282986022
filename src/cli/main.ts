/**
 * The command table and argument parsing (commander, with @commander-js/extra-typings: each
 * action's arguments and options are typed from their declarations). Commands return exit codes;
 * only bin/kmodseal.ts calls process.exit.
 */
import { Command, CommanderError, Option } from '@commander-js/extra-typings';
import { EXIT, type ExitCode } from './exit-codes.js';
import type { Io } from './io.js';
import { isKmodsealError } from '../bytes/errors.js';

export const VERSION = '0.1.0';

function intArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new CommanderError(EXIT.USAGE, 'kmodseal.usage', `expected a positive integer, got '${v}'`);
  return n;
}

/** Where an action leaves its exit code. */
type Done = (code: ExitCode) => void;

/** `inspect`'s one field: -F FIELD, or the field of -a, -d, -l, -p or -n. */
function modinfoField(o: {
  field?: string;
  author?: true;
  description?: true;
  license?: true;
  parameters?: true;
  filename?: true;
}): string | undefined {
  return (
    o.field ??
    (o.author
      ? 'author'
      : o.description
        ? 'description'
        : o.license
          ? 'license'
          : o.parameters
            ? 'parm'
            : o.filename
              ? 'filename'
              : undefined)
  );
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** The program: name, description, version, and output through `io`; commander's exits become exceptions. */
function createProgram(io: Io): Command {
  return new Command('kmodseal')
    .description(
      'Make the compatibility between a Linux kernel build and its modules explicit, enforceable and checkable.',
    )
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .showHelpAfterError(false);
}

/** `inspect`. */
function addInspect(program: Command, io: Io, done: Done): void {
  program
    .command('inspect')
    .summary('show module metadata and signatures (byte-identical to modinfo)')
    .description(
      "Show what kmod's modinfo shows for each module: FILE (.ko, .ko.xz, .ko.zst, .ko.gz), DIR (every module below it),\n" +
        'or NAME/ALIAS (looked up in BASEDIR/lib/modules/RELEASE like modinfo). Without arguments: every module of the running kernel.',
    )
    .argument('[targets...]', 'module files, directories, names or aliases')
    .option('-F, --field <field>', "print only this field's values (like modinfo -F)")
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
    .action(async (targets, o) => {
      const { inspectCommand } = await import('./commands/inspect.js');
      done(
        await inspectCommand(
          targets,
          {
            field: modinfoField(o),
            nul: Boolean(o.null),
            modname: Boolean(o.modname),
            setVersion: o.setVersion,
            basedir: o.basedir,
            json: Boolean(o.json),
            jobs: o.jobs,
          },
          io,
        ),
      );
    });
}

/** `kernel`. */
function addKernel(program: Command, io: Io, done: Done): void {
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
    .action(async (target, o) => {
      const { kernelCommand } = await import('./commands/kernel.js');
      done(await kernelCommand(target, o, io));
    });
}

/** `keygen`, `sign`, `verify`, `seal`. */
function addKeys(program: Command, io: Io, done: Done): void {
  program
    .command('keygen')
    .summary("generate a module-signing key and certificate (kbuild's extensions), optionally issued by a CA")
    .option('--type <type>', 'rsa2048, rsa3072, rsa4096 (default) , p256 or p384')
    .option('--subject <dn>', 'subject, e.g. "CN=My build key" (default: CN=Build time autogenerated kernel key)')
    .option('--days <n>', 'validity in days (default 36500)')
    .option('--ca', 'make a CA certificate (CA:TRUE, keyCertSign) to issue signing keys')
    .option('--issuer-key <file>', 'issue the certificate with this CA key (PEM)...')
    .option('--issuer-cert <file>', '...and this CA certificate')
    .option(
      '--key-out <file>',
      'write the private key (PEM, mode 0600; refuses to overwrite); without it the key is not kept',
    )
    .option('--cert-out <file>', 'write the certificate (PEM)')
    .option('--der-out <file>', 'write the certificate (DER)')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const { keygenCommand } = await import('./commands/seal.js');
      done(await keygenCommand(o, io));
    });
  program
    .command('sign')
    .summary('sign modules (byte-identical to sign-file for RSA), in place or into --out DIR')
    .argument('<paths...>', 'module files (.ko, .ko.xz, .ko.zst, .ko.gz) or directories')
    .option('--key <key>', 'private key: PEM file, or an RFC 7512 pkcs11: URI (HSM)')
    .option('--cert <file>', "the signer's certificate (PEM or DER)")
    .option('--hash <alg>', 'sha256 (default), sha384, sha512, sha224, sha1')
    .option('--key-id <form>', 'issuer-serial (default, as sign-file) or skid (as sign-file -k)')
    .option(
      '--chain <file>',
      "carry these certificates (PEM/DER; repeatable) and the signer's in the PKCS#7, for keys issued by a trusted CA",
      collect,
    )
    .option('--out <dir>', 'write signed copies below DIR instead of signing in place')
    .option(
      '--pkcs11-module <so>',
      'PKCS#11 module (default: module-path= in the URI, $KMODSEAL_PKCS11_MODULE, or SoftHSM2)',
    )
    .addOption(new Option('-j, --jobs <n>', 'worker threads (default: all cores)').argParser(intArg))
    .option('--json', 'print one JSON record per module')
    .action(async (paths, o) => {
      const { signCommand } = await import('./commands/seal.js');
      done(await signCommand(paths, o, io));
    });
  program
    .command('verify')
    .summary("verify module signatures offline, in the kernel's terms")
    .argument('<paths...>', 'module files or directories')
    .option('--cert <file>', 'a trusted certificate (PEM/DER; repeatable)', collect)
    .option('--kernel <kernel>', 'trust what this kernel image (or .deb, directory) embeds')
    .option('--series <series>', '6.1 or 6.12 algorithm rules (default: from --kernel, else 6.12)')
    .option('--json', 'print JSON')
    .action(async (paths, o) => {
      const { verifyCommand } = await import('./commands/seal.js');
      done(await verifyCommand(paths, o, io));
    });
  program
    .command('seal')
    .summary('seal a build: ephemeral key in memory, sign every module, write the certificate, discard the key')
    .argument('[paths...]', 'module files or directories (besides --kernel-tree)')
    .option('--kernel-tree <dir>', 'sign every module below DIR')
    .option('--type <type>', 'key type: rsa4096 (default), rsa3072, rsa2048, p384, p256')
    .option('--hash <alg>', 'sha256 (default), sha384, sha512')
    .option('--subject <dn>', 'certificate subject (default: CN=Build time autogenerated kernel key)')
    .option('--cert-out <file>', 'the certificate, PEM (for CONFIG_SYSTEM_TRUSTED_KEYS)')
    .option('--der-out <file>', 'the certificate, DER')
    .option('--manifest <file>', 'JSON manifest: each module, sha256 before and after, the key')
    .option(
      '--embed <vmlinux>',
      "write the certificate into this vmlinux's reserved extra-certificate area (as insert-sys-cert)",
    )
    .option('--embed-out <file>', 'write the patched vmlinux here instead of in place')
    .option('--system-map <file>', 'System.map of a stripped vmlinux, to find the reserved area')
    .option(
      '--image <file>',
      'the EFI-stub kernel image built from the sealed vmlinux: .sbat set, signed with --sb-key',
    )
    .option('--image-out <file>', 'write the signed image here instead of in place')
    .option('--sbat <file>', "SBAT CSV (shim's SBAT.md) for the image's .sbat section")
    .option(
      '--initrd <file>',
      're-sign the modules inside this initramfs with the ephemeral key, in place (repeatable)',
      collect,
    )
    .option(
      '--uki-out <file>',
      'build a UKI from the signed image and the initrds, signed with --sb-key (repeatable)',
      collect,
    )
    .option('--cmdline <text>', "the UKI's command line, or @FILE (one for all UKIs, or one per --uki-out)", collect)
    .option('--stub <file>', "systemd-stub for the UKIs (default: the machine's for the kernel's architecture)")
    .option('--os-release <file>', "the UKIs' .osrel (default: /etc/os-release, as ukify)")
    .option('--no-os-release', 'no .osrel section in the UKIs')
    .option('--sb-key <key>', 'the long-term Secure Boot key: PEM file, or an RFC 7512 pkcs11: URI (HSM)')
    .option('--sb-cert <file>', "the long-term key's certificate (PEM or DER)")
    .option(
      '--sb-addcert <file>',
      'intermediate certificates to carry in the signatures, as sbsign --addcert (repeatable)',
      collect,
    )
    .option(
      '--pkcs11-module <so>',
      'PKCS#11 module (default: module-path= in the URI, $KMODSEAL_PKCS11_MODULE, or SoftHSM2)',
    )
    .option(
      '--signing-time <time>',
      'signingTime of the long-term signatures: RFC 3339 or @SECONDS (default: $SOURCE_DATE_EPOCH, else now)',
    )
    .addOption(new Option('-j, --jobs <n>', 'worker threads (default: all cores)').argParser(intArg))
    .option('--json', 'print the manifest')
    .action(async (paths, o) => {
      const { sealCommand } = await import('./commands/seal.js');
      done(await sealCommand(paths, o, io));
    });
}

/** `detach`, `attach`, `diff`. */
function addRepro(program: Command, io: Io, done: Done): void {
  program
    .command('detach')
    .summary("move every module's signature into a bundle (sign-file -d blobs + manifest)")
    .argument('<tree>', 'module tree')
    .option('--out <bundle>', 'bundle directory (absent or empty)')
    .option('--keep', 'leave the tree signed (default: the modules are left unsigned)')
    .option('--json', 'print JSON')
    .action(async (tree, o) => {
      const { detachCommand } = await import('./commands/repro.js');
      done(await detachCommand(tree, o, io));
    });
  program
    .command('attach')
    .summary("attach a bundle's signatures to an independent build of the same modules")
    .argument('<bundle>', 'bundle written by detach')
    .argument('<tree>', 'module tree of the second build')
    .option('--json', 'print JSON')
    .action(async (bundle, tree, o) => {
      const { attachCommand } = await import('./commands/repro.js');
      done(await attachCommand(bundle, tree, o, io));
    });
  program
    .command('diff')
    .summary('compare two builds (trees, .deb files or kernel images) modulo signatures and ephemeral certificates')
    .argument('<a>')
    .argument('<b>')
    .option('--json', 'print JSON')
    .action(async (a, b, o) => {
      const { diffCommand } = await import('./commands/repro.js');
      done(await diffCommand(a, b, o, io));
    });
}

/** `check`. */
function addCheck(program: Command, io: Io, done: Done): void {
  program
    .command('check')
    .summary('predict, offline, whether modules load into a kernel, and why not')
    .description(
      "The kernel's load-time checks in its order: signature trust, ELF, struct module size, modversions CRCs,\n" +
        'vermagic, symbols and namespaces, BTF. Without --kernel: the running kernel against /lib/modules/$(uname -r).',
    )
    .argument(
      '[modules...]',
      "module files, directories, .deb files (default: the kernel's own module tree; a UKI's: its .initrd)",
    )
    .option('--kernel <kernel>', 'kernel image, UKI, vmlinux, .deb, or unpacked package tree')
    .option('--running', 'the running kernel (the default)')
    .option('--sig-enforce', 'as if module.sig_enforce=1 (default: CONFIG_MODULE_SIG_FORCE)')
    .option('--lockdown', 'as if locked down (integrity), e.g. by Secure Boot')
    .option('--allow-btf-mismatch', 'assume CONFIG_MODULE_ALLOW_BTF_MISMATCH=y (default: from the config)')
    .option('--no-allow-btf-mismatch', 'assume CONFIG_MODULE_ALLOW_BTF_MISMATCH=n')
    .option('--force', 'as modprobe --force (ignore vermagic and modversions; the signature then counts as absent)')
    .option(
      '--trust <cert>',
      'also trust this certificate (PEM or DER), as a MOK/secondary keyring key (repeatable)',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option(
      '--config <file>',
      "the kernel's .config, instead of the one it embeds or that lies beside it (the policy comes from it)",
    )
    .option('--json', 'print {"kernel": {...}, "modules": [...]}')
    .option(
      '--initrd <file>',
      'also check the modules inside this initramfs (cpio, early microcode, gzip/xz/zstd/lz4; repeatable)',
      collect,
    )
    .option('--report <file.html>', 'also write a self-contained HTML report')
    .action(async (modules, o) => {
      const { checkCommand } = await import('./commands/check.js');
      done(await checkCommand(modules, o, io));
    });
}

/** `btf dump`, `btf check`. */
function addBtf(program: Command, io: Io, done: Done): void {
  const btf = program
    .command('btf')
    .summary('dump BTF like bpftool; check module BTF against a kernel as the kernel does');
  btf
    .command('dump')
    .summary('print BTF exactly as `bpftool btf dump file FILE [base BASE] format raw`')
    .argument('<file>', 'raw BTF, vmlinux, or a module (.ko, .ko.xz, .ko.zst, .ko.gz)')
    .option('--base <kernel>', 'base BTF for a module: raw BTF, vmlinux, image, .deb, directory, or "running"')
    .option('--json', 'the JSON bpftool prints with -j')
    .action(async (file, o) => {
      const { btfDumpCommand } = await import('./commands/btf.js');
      done(await btfDumpCommand(file, o, io));
    });
  btf
    .command('check')
    .summary("predict the kernel's verdict on module BTF (btf_parse_module), and compare base types")
    .argument('<modules...>', 'module files or directories')
    .option(
      '--kernel <kernel>',
      'target: raw BTF (/sys/kernel/btf/vmlinux), vmlinux, image, .deb, directory, or "running"',
    )
    .option(
      '--built-against <kernel>',
      'the kernel the modules were built against: compare every base type they reference',
    )
    .option('--allow-btf-mismatch', 'assume CONFIG_MODULE_ALLOW_BTF_MISMATCH=y (default: from the target config)')
    .option('--no-allow-btf-mismatch', 'assume CONFIG_MODULE_ALLOW_BTF_MISMATCH=n')
    .option('--json', 'print JSON')
    .action(async (modules, o) => {
      const { btfCheckCommand } = await import('./commands/btf.js');
      done(await btfCheckCommand(modules, o, io));
    });
}

/** `efi sign`, `efi detach`, `efi attach`, `efi verify`. */
function addEfi(program: Command, io: Io, done: Done): void {
  const efi = program
    .command('efi')
    .summary('sign EFI images (Authenticode, byte-identical to sbsign) and verify them as EDK2 would');
  efi
    .command('sign')
    .summary('sign a PE/EFI image (bzImage, vmlinuz, .efi) exactly as sbsign does')
    .argument('<image>', 'the PE/EFI image to sign')
    .option('--key <key>', 'private key: PEM file, or an RFC 7512 pkcs11: URI (HSM)')
    .option('--cert <file>', "the signer's certificate (PEM or DER)")
    .option(
      '--addcert <file>',
      'carry these intermediate certificates too (PEM/DER; repeatable), as sbsign --addcert',
      collect,
    )
    .option('--chain <file>', 'the same as --addcert', collect)
    .option('--signing-time <time>', 'signingTime: RFC 3339 or @SECONDS (default: $SOURCE_DATE_EPOCH, else now)')
    .option('--detached', 'write only the PKCS#7 signature (as sbsign --detached)')
    .option('--output <file>', 'where to write the signed image (or the signature)')
    .option('--out <file>', 'the same as --output')
    .option(
      '--pkcs11-module <so>',
      'PKCS#11 module (default: module-path= in the URI, $KMODSEAL_PKCS11_MODULE, or SoftHSM2)',
    )
    .action(async (image, o) => {
      const { efiSignCommand } = await import('./commands/efi.js');
      done(await efiSignCommand(image, o, io));
    });
  efi
    .command('detach')
    .summary("write an image's signature to a file and/or remove it, as sbattach --detach/--remove does")
    .argument('<image>', 'the signed PE/EFI image')
    .option('--output <file>', "where to write the signature's PKCS#7 (DER)")
    .option('--remove', 'also remove the signature from the image (rewritten in place, atomically)')
    .option('--signum <n>', 'which signature, from 1 (default: 1), as sbattach --signum')
    .option('--json', 'print JSON')
    .action(async (image, o) => {
      const { efiDetachCommand } = await import('./commands/efi-attach.js');
      done(efiDetachCommand(image, o, io));
    });
  efi
    .command('attach')
    .summary('append a detached Authenticode signature to an image, as sbattach --attach does')
    .argument('<image>', 'the PE/EFI image')
    .option('--signature <file>', 'the detached signature (PKCS#7 DER, as efi sign --detached writes it)')
    .option('--output <file>', 'write the signed image here (default: rewrite the image in place, atomically)')
    .option('--force', "attach even when the signature's digest is not this image's (as sbattach, which never checks)")
    .option('--json', 'print JSON')
    .action(async (image, o) => {
      const { efiAttachCommand } = await import('./commands/efi-attach.js');
      done(efiAttachCommand(image, o, io));
    });
  efi
    .command('verify')
    .summary("list an image's Authenticode signatures and whether EDK2 firmware with this db and dbx would run it")
    .argument('<image>', 'the PE/EFI image (signed or not)')
    .option('--cert <file>', 'a trusted (db) certificate (PEM/DER; repeatable)', collect)
    .option(
      '--db <file>',
      'db entries: a certificate, an EFI signature list, an .auth file or an efivarfs file (repeatable)',
      collect,
    )
    .option('--dbx <file>', 'dbx entries, in the same forms as --db (repeatable)', collect)
    .option('--running', "use this machine's own db and dbx (from efivarfs)")
    .option('--efivars <dir>', 'the efivarfs directory for --running (default: /sys/firmware/efi/efivars)')
    .option(
      '--sbat-level <level>',
      "also judge the image's .sbat as shim would: an SbatLevel file, shim:NAME, or 'running' (SbatLevelRT)",
    )
    .option('--json', 'print JSON')
    .action(async (image, o) => {
      const { efiVerifyCommand } = await import('./commands/efi.js');
      done(efiVerifyCommand(image, o, io));
    });
  efi
    .command('sbat')
    .summary("print an image's .sbat as shim reads it and whether shim would refuse it under an SbatLevel")
    .argument('<image>', 'the PE/EFI image')
    .option('--level <file>', 'an SbatLevel: a file (payload or efivarfs copy), or shim:automatic|latest|original|DATE')
    .option('--running', "judge against this machine's SbatLevelRT (efivarfs)")
    .option('--efivars <dir>', 'the efivarfs directory for --running (default: /sys/firmware/efi/efivars)')
    .option('--set <file>', "replace (or add) the image's .sbat with this CSV (the image must be unsigned)")
    .option('--output <file>', 'with --set: write the image here (default: in place, atomically)')
    .option('--json', 'print JSON')
    .action(async (image, o) => {
      const { efiSbatCommand } = await import('./commands/efi-sbat.js');
      done(efiSbatCommand(image, o, io));
    });
}

/** `uki build`, `uki inspect`. */
function addUki(program: Command, io: Io, done: Done): void {
  const uki = program
    .command('uki')
    .summary("build unified kernel images laid out exactly as systemd's ukify does, and list their sections");
  uki
    .command('build')
    .summary('build a UKI from a systemd-stub, a kernel and initrds (as ukify), optionally signed (as sbsign)')
    .option('--linux <file>', 'the kernel: an EFI-stub PE image (vmlinuz)')
    .option('--initrd <file>', 'an initrd (repeatable; several are concatenated, each padded to 4 bytes)', collect)
    .option('--cmdline <text>', 'the kernel command line (whitespace collapsed), or @FILE (verbatim)')
    .option('--os-release <file>', '.osrel (default: /etc/os-release, as ukify)')
    .option('--no-os-release', 'no .osrel section')
    .option('--uname <release>', '.uname (default: read from the kernel image, as ukify)')
    .option(
      '--sbat <file>',
      "SBAT CSV to merge with the stub's and kernel's (repeatable; default: ukify's \"uki,1\" row)",
      collect,
    )
    .option('--stub <file>', "systemd-stub (default: the machine's linux<arch>.efi.stub for the kernel's architecture)")
    .option('--out <file>', 'where to write the UKI')
    .option('--key <key>', 'sign with this key: PEM file, or an RFC 7512 pkcs11: URI (HSM)')
    .option('--cert <file>', "the signer's certificate (PEM or DER)")
    .option(
      '--pkcs11-module <so>',
      'PKCS#11 module (default: module-path= in the URI, $KMODSEAL_PKCS11_MODULE, or SoftHSM2)',
    )
    .option('--signing-time <time>', 'signingTime: RFC 3339 or @SECONDS (default: $SOURCE_DATE_EPOCH, else now)')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const { ukiBuildCommand } = await import('./commands/uki.js');
      done(await ukiBuildCommand(o, io));
    });
  uki
    .command('inspect')
    .summary("list a UKI's sections with their digests, its .uname/.osrel/.cmdline/.sbat and the kernel's release")
    .argument('<uki>', 'the UKI')
    .option('--json', 'print JSON')
    .action(async (file, o) => {
      const { ukiInspectCommand } = await import('./commands/uki.js');
      done(ukiInspectCommand(file, o, io));
    });
}

/** The exit code of what a command threw, said on stderr: usage (2), a KmodsealError (1, 2 or 3), or a bug (70, with its stack). */
function errorExit(e: unknown, io: Io): ExitCode {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help')
      return EXIT.OK;
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

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function run(argv: string[], io: Io): Promise<ExitCode> {
  let result: ExitCode = EXIT.OK;
  const done: Done = (code) => {
    result = code;
  };
  const program = createProgram(io);
  for (const add of [addInspect, addKernel, addKeys, addRepro, addCheck, addBtf, addEfi, addUki])
    add(program, io, done);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    return errorExit(e, io);
  }
  return result;
}
