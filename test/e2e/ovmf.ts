/**
 * Secure Boot on real firmware (test-only): Debian's OVMF Secure Boot build under qemu, a
 * variable store with keys enrolled per run, UKIs on a FAT disk, and what the guest reports.
 * docs/secure-boot-e2e.md describes the whole procedure.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

/** Debian's `ovmf`: the Secure Boot build (SMM) and its empty variable store (setup mode). */
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/** Debian's `systemd-boot-efi`: the UKI stub `kmodseal uki build` uses by default. */
export const STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';
/** EFI_GLOBAL_VARIABLE (PK, KEK, SecureBoot, SetupMode) and EFI_IMAGE_SECURITY_DATABASE_GUID (db, dbx). */
export const EFI_GLOBAL = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
export const EFI_IMAGE_SECURITY = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f';
/** The SignatureOwner of every list this test writes. */
const OWNER = '6b6d6f64-7365-616c-8000-000000000e2e';
/** The kernel's command line in every UKI; the tampering case changes its last character. */
export const CMDLINE = 'console=ttyS0 panic=-1 rdinit=/init printk.devkmsg=on kmodseal_e2e=1';

const run = (cmd: string, args: string[], opts: { input?: Buffer | string; cwd?: string } = {}): Buffer => {
  const r = spawnSync(cmd, args, {
    maxBuffer: 1 << 28,
    env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' },
    ...opts,
  });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.toString().trim()}`);
  return r.stdout;
};
const onPath = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function staticBusybox(): string | undefined {
  for (const b of ['/bin/busybox', '/usr/bin/busybox']) {
    if (!fs.existsSync(b)) continue;
    const ldd = spawnSync('ldd', [b], { env: { ...process.env, LC_ALL: 'C' } });
    if (`${ldd.stdout}${ldd.stderr}`.includes('not a dynamic executable')) return b;
  }
  return undefined;
}

/**
 * Every tool and file the firmware test needs, each with its Debian package; throws one error
 * naming all that are missing (the test fails: it never skips).
 */
export function requireTools(kit: string): void {
  const missing = new Set<string>();
  const tools: [string, string][] = [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['cert-to-efi-sig-list', 'efitools'],
    ['sign-efi-sig-list', 'efitools'],
    ['hash-to-efi-sig-list', 'efitools'],
    ['mformat', 'mtools'],
    ['mmd', 'mtools'],
    ['mcopy', 'mtools'],
    ['openssl', 'openssl'],
    ['cpio', 'cpio'],
    ['gcc', 'gcc'],
  ];
  for (const [cmd, pkg] of tools) if (!onPath(cmd)) missing.add(pkg);
  if (!fs.existsSync(OVMF_CODE) || !fs.existsSync(OVMF_VARS)) missing.add('ovmf');
  if (!fs.existsSync(STUB)) missing.add('systemd-boot-efi');
  if (!staticBusybox()) missing.add('busybox-static');
  if (!fs.readdirSync('/usr/lib').some((d) => fs.existsSync(`/usr/lib/${d}/libc.a`))) missing.add('libc6-dev');
  const problems: string[] = [];
  if (missing.size) problems.push(`missing Debian packages: ${[...missing].join(' ')} (scripts/setup.sh --tests)`);
  const config = path.join(kit, 'config');
  if (!fs.existsSync(path.join(kit, 'bzImage')) || !fs.existsSync(config))
    problems.push(`test kernel kit absent at ${kit}: build it with testkernel/build.sh`);
  else {
    const text = fs.readFileSync(config, 'utf8');
    const off = ['CONFIG_EFI_STUB', 'CONFIG_EFIVAR_FS', 'CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT'].filter(
      (o) => !text.includes(`\n${o}=y\n`),
    );
    if (off.length)
      problems.push(`the kit at ${kit} is older than testkernel/kit.config (${off.join(', ')} off): rebuild it`);
  }
  if (problems.length) throw new Error(problems.join('; '));
}

// ---- keys and signature lists ---------------------------------------------------------------------

export interface KeyPair {
  name: string;
  key: string;
  cert: string;
}

/** A fresh self-signed RSA-2048 key and certificate (EDK2 enrols RSA only). */
export function rsaKey(dir: string, name: string, cn: string): KeyPair {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  run('openssl', [
    'req',
    '-x509',
    '-new',
    '-nodes',
    '-newkey',
    'rsa:2048',
    '-sha256',
    '-days',
    '3650',
    '-subj',
    `/O=kmodseal e2e/CN=${cn}`,
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { name, key, cert };
}

/** An EFI_SIGNATURE_LIST holding one X.509 certificate (efitools). */
export function certList(cert: string, out: string): string {
  run('cert-to-efi-sig-list', ['-g', OWNER, cert, out]);
  return out;
}

/** An EFI_SIGNATURE_LIST holding an image's Authenticode SHA-256 (efitools computes it). */
export function digestList(image: string, out: string): string {
  run('hash-to-efi-sig-list', [image, out]);
  return out;
}

/** The SHA-256 entry of a one-entry EFI_CERT_SHA256 list, as hex. */
export function listedDigest(esl: string): string {
  const b = fs.readFileSync(esl);
  // EFI_SIGNATURE_LIST header (28 bytes), then SignatureOwner (16 bytes), then the digest
  if (b.length !== 28 + 16 + 32 || b.readUInt32LE(24) !== 48) throw new Error(`${esl}: not one SHA-256 entry`);
  return b.subarray(44).toString('hex');
}

/** What the guest writes to efivarfs: the attributes (NV|BS|RT|TIME_BASED_AUTHENTICATED_WRITE), then the .auth. */
const ATTRIBUTES = 0x27;

export interface Enrolment {
  /** The efivarfs file name, `NAME-GUID`. */
  name: string;
  /** The `.auth`: EFI_VARIABLE_AUTHENTICATION_2, then the signature list. */
  auth: string;
  /** What the guest writes to efivarfs: the attributes (4 bytes), then the `.auth`. */
  file: string;
}

/** A signed variable update (`sign-efi-sig-list`, fixed timestamp) ready for efivarfs. */
export function enrolment(dir: string, variable: 'PK' | 'KEK' | 'db' | 'dbx', esl: string, signer: KeyPair): Enrolment {
  const auth = path.join(dir, `${variable}.${path.basename(esl)}.auth`);
  run('sign-efi-sig-list', ['-t', '2026-01-01 00:00:00', '-k', signer.key, '-c', signer.cert, variable, esl, auth]);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(ATTRIBUTES);
  const file = `${auth}.efivar`;
  fs.writeFileSync(file, Buffer.concat([head, fs.readFileSync(auth)]));
  const guid = variable === 'PK' || variable === 'KEK' ? EFI_GLOBAL : EFI_IMAGE_SECURITY;
  return { name: `${variable}-${guid}`, auth, file };
}

// ---- the guest: initramfs, UKI, FAT disk ----------------------------------------------------------

/** The guest's /init: reports the firmware state, writes the enrolments, loads the modules, powers off. */
const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
r() { echo "@@R $*"; }
var() { f=/sys/firmware/efi/efivars/$1-${EFI_GLOBAL}; if [ -r $f ]; then od -An -v -tx1 $f | tr -d ' \\n'; else echo absent; fi; }
r start
r efi $([ -d /sys/firmware/efi ] && echo yes || echo no)
r SecureBoot $(var SecureBoot)
r SetupMode $(var SetupMode)
r lockdown "$(cat /sys/kernel/security/lockdown 2>/dev/null || echo absent)"
dmesg | grep -i 'locked down' | sed 's/^/@@R boot /'
for n in $(cat /e/order 2>/dev/null); do
  if dd if=/e/$n of=/sys/firmware/efi/efivars/$n bs=1M 2>/tmp/dd; then r wrote $n ok; else r wrote $n failed $(cat /tmp/dd); fi
done
r SetupModeAfter $(var SetupMode)
echo 1 > /proc/sys/kernel/printk
i=1
while [ -f /m/$i.ko ]; do
  dmesg -c >/dev/null
  r $i result $(load /m/$i.ko)
  dmesg -r -c | sed "s/^/@@R $i log /"
  r $i done
  i=$((i + 1))
done
r end
sync
reboot -f
`;

const LOADER = `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0) { perror(argv[1]); return 2; }
  long rc = syscall(SYS_finit_module, fd, "", 0);
  printf("%s\\n", rc ? strerrorname_np(errno) : "OK");
  return 0;
}
`;

/** A gzip newc initramfs: busybox, a one-syscall module loader, /init, the enrolments, the modules. */
export function initramfs(work: string, name: string, plan: { enrol?: Enrolment[]; modules?: string[] }): string {
  const root = path.join(work, `${name}.root`);
  fs.rmSync(root, { recursive: true, force: true });
  for (const d of ['bin', 'e', 'm', 'proc', 'sys', 'dev', 'tmp']) fs.mkdirSync(path.join(root, d), { recursive: true });
  const loader = path.join(work, 'load');
  if (!fs.existsSync(loader)) {
    fs.writeFileSync(`${loader}.c`, LOADER);
    run('gcc', ['-static', '-Os', '-o', loader, `${loader}.c`]);
  }
  fs.copyFileSync(loader, path.join(root, 'bin/load'));
  fs.copyFileSync(staticBusybox()!, path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  fs.writeFileSync(path.join(root, 'init'), INIT, { mode: 0o755 });
  const enrol = plan.enrol ?? [];
  for (const e of enrol) fs.copyFileSync(e.file, path.join(root, 'e', e.name));
  if (enrol.length) fs.writeFileSync(path.join(root, 'e/order'), enrol.map((e) => e.name).join('\n') + '\n');
  (plan.modules ?? []).forEach((m, i) => fs.copyFileSync(m, path.join(root, 'm', `${i + 1}.ko`)));
  const list = run('sh', ['-c', 'find . -mindepth 1 | LC_ALL=C sort'], { cwd: root });
  const cpio = run('cpio', ['--quiet', '-o', '-H', 'newc', '-R', '0:0'], { cwd: root, input: list });
  const out = path.join(work, `${name}.initrd.gz`);
  fs.writeFileSync(out, zlib.gzipSync(cpio, { level: 1 }));
  fs.rmSync(root, { recursive: true, force: true });
  return out;
}

/** A FAT disk (no partition table) holding the image as the removable-media boot path \EFI\BOOT\BOOTX64.EFI. */
export function espDisk(image: string, out: string): string {
  fs.rmSync(out, { force: true });
  const mb = Math.ceil(fs.statSync(image).size / 2 ** 20) + 16;
  run('mformat', ['-i', out, '-C', '-T', String(mb * 2048), '-h', '64', '-s', '32', '-v', 'ESP', '::']);
  run('mmd', ['-i', out, '::/EFI', '::/EFI/BOOT']);
  run('mcopy', ['-i', out, image, '::/EFI/BOOT/BOOTX64.EFI']);
  return out;
}

// ---- one boot -------------------------------------------------------------------------------------

export interface Boot {
  /**
   * booted: the image ran (the guest's /init reported to the end); refused: the firmware printed
   * "Access Denied" for it and no kernel started; other: anything else (see console).
   */
  outcome: 'booted' | 'refused' | 'other';
  /** The guest's reports: `@@R KEY VALUE` lines, KEY → VALUE (the last of each). */
  facts: Map<string, string>;
  /** Per module (1-based order): the loader's errno name ("OK") and the kernel's lines meanwhile. */
  modules: { result: string; log: string[] }[];
  /** The firmware's refusal line, if any. */
  refusal: string | null;
  console: string;
  seconds: number;
}

/**
 * Boots OVMF (Secure Boot build, SMM) with this variable store (written in place) and this FAT
 * disk under qemu TCG. Stops at the guest's power-off, or kills qemu as soon as the firmware
 * prints `Access Denied`, or after `timeout` seconds.
 */
export function boot(vars: string, disk: string, timeout = 150): Promise<Boot> {
  const args = [
    '-accel',
    'tcg',
    '-machine',
    'q35,smm=on',
    '-global',
    'driver=cfi.pflash01,property=secure,value=on',
    '-global',
    'ICH9-LPC.disable_s3=1',
    '-cpu',
    'max',
    '-m',
    '512',
    '-smp',
    '1',
    '-nographic',
    '-nodefaults',
    '-no-reboot',
    '-serial',
    'stdio',
    '-monitor',
    'none',
    '-drive',
    `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`,
    '-drive',
    `if=pflash,format=raw,unit=1,file=${vars}`,
    '-drive',
    `if=none,id=esp,format=raw,file=${disk}`,
    '-device',
    'virtio-blk-pci,drive=esp',
  ];
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const q = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let refusal: string | null = null;
    const timer = setTimeout(() => q.kill('SIGKILL'), timeout * 1000);
    q.stdout.on('data', (c: Buffer) => {
      out += c.toString('latin1');
      if (refusal === null) {
        const m = /BdsDxe: failed to load [^\r\n]*Access Denied/.exec(out);
        if (m) {
          refusal = m[0];
          q.kill('SIGKILL');
        }
      }
    });
    q.stderr.on('data', (c: Buffer) => (err += c.toString()));
    q.on('error', reject);
    q.on('close', () => {
      clearTimeout(timer);
      const facts = new Map<string, string>();
      const modules: { result: string; log: string[] }[] = [];
      let ended = false;
      for (const raw of out.split('\n')) {
        const at = raw.indexOf('@@R ');
        if (at < 0) continue;
        const words = raw
          .slice(at + 4)
          .replace(/\r$/, '')
          .split(' ');
        const head = words.shift()!;
        if (head === 'end') ended = true;
        if (/^\d+$/.test(head)) {
          const m = (modules[Number(head) - 1] ??= { result: '?', log: [] });
          if (words[0] === 'result') m.result = words[1] ?? '?';
          else if (words[0] === 'log')
            m.log.push(
              words
                .slice(1)
                .join(' ')
                .replace(/^<\d+>/, '')
                .replace(/^\[ *[\d.]+\] ?/, ''),
            );
        } else if (head === 'wrote') facts.set(`wrote ${words[0]}`, words.slice(1).join(' '));
        else if (head === 'boot') facts.set('boot', `${facts.get('boot') ?? ''}${words.join(' ')}\n`);
        else facts.set(head, words.join(' '));
      }
      const kernelRan = /Linux version |@@R start/.test(out);
      const outcome = ended ? 'booted' : refusal !== null && !kernelRan ? 'refused' : 'other';
      resolve({
        outcome,
        facts,
        modules,
        refusal,
        console: out + (err ? `\n[qemu stderr] ${err}` : ''),
        seconds: (Date.now() - t0) / 1000,
      });
    });
  });
}

/** The last byte of an efivarfs file as the guest printed it in hex (4 attribute bytes, then the value). */
export function efiByte(hex: string | undefined): number | null {
  if (!hex || hex === 'absent' || hex.length < 10) return null;
  return parseInt(hex.slice(-2), 16);
}

/** ANSI escape sequences (OVMF draws its menus with them). */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;=?]*[A-Za-z]`, 'g');

/** The console's tail, for failure messages. */
export function tail(b: Boot, lines = 30): string {
  return `${b.outcome} after ${b.seconds.toFixed(1)} s; console tail:\n${b.console
    .replace(ANSI, '')
    .split('\n')
    .slice(-lines)
    .join('\n')}`;
}
