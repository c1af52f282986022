#!/usr/bin/env node
// boot-and-load.mjs: boots an x86-64 kernel under qemu (software emulation) and loads kernel
// modules into it, one finit_module(fd, "", 0) each (what insmod and modprobe do), in order.
//
//   node boot-and-load.mjs [--timeout SEC] [--console FILE] [--mem MB] KERNEL CMDLINE_EXTRA [MODULE...]
//
// KERNEL: a bzImage, or a vmlinux with a PVH entry point (the kit's). CMDLINE_EXTRA is appended
// to "console=ttyS0 panic=-1 rdinit=/init printk.devkmsg=on" (e.g. "module.sig_enforce=1", or "").
// MODULE: .ko, .ko.xz, .ko.zst or .ko.gz (decompressed on the host first); dependencies first.
//
// stdout: one JSON object per module, one line each:
//   index, module (the path given), name (as /proc/modules lists it, or null), loaded,
//   rc, errno, errno_name ("OK", "EKEYREJECTED", ...), kernel_log (the kernel's lines during
//   the syscall, without timestamps), other_log (lines around it from unrelated work),
//   taint (the kernel's taint letters after it), taint_value, module_taint
//   (/sys/module/NAME/taint, or null), complete (false when the guest died before the end).
// stderr: the release, command line, sig_enforce, every "Loaded X.509 cert" boot line.
// Exit: 0 the guest ran to the end; 1 it did not (panic, timeout); 2 usage or missing tools.
//
// Each run is one fresh boot: taint and once-a-boot messages start clean. Needs, from Debian:
// qemu-system-x86 busybox-static cpio gcc libc6-dev (installed when missing, as root).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

const usage = 'usage: boot-and-load.mjs [--timeout SEC] [--console FILE] [--mem MB] KERNEL CMDLINE_EXTRA [MODULE...]';
function die(msg, code = 2) {
  process.stderr.write(`boot-and-load: ${msg}\n`);
  process.exit(code);
}

const opts = { timeout: 300, console: '', mem: 512 };
const args = process.argv.slice(2);
while (args.length && args[0].startsWith('--')) {
  const o = args.shift();
  if (o === '--') break;
  const v = args.shift();
  if (v === undefined) die(usage);
  if (o === '--timeout') opts.timeout = Number(v);
  else if (o === '--console') opts.console = v;
  else if (o === '--mem') opts.mem = Number(v);
  else die(`unknown option ${o}\n${usage}`);
}
if (args.length < 2) die(usage);
const [kernel, extra, ...modules] = args;
if (!fs.statSync(kernel, { throwIfNoEntry: false })?.isFile()) die(`no such kernel file: ${kernel}`);

// ---- tools ---------------------------------------------------------------------------------
const run = (cmd, argv, o = {}) => spawnSync(cmd, argv, { maxBuffer: 1 << 28, ...o });
const which = (cmd) => run('sh', ['-c', `command -v ${cmd}`]).status === 0;
function staticBusybox() {
  for (const b of ['/bin/busybox', '/usr/bin/busybox']) {
    if (!fs.existsSync(b)) continue;
    const ldd = run('ldd', [b], { env: { ...process.env, LC_ALL: 'C' } });
    if (`${ldd.stdout}${ldd.stderr}`.includes('not a dynamic executable')) return b;
  }
  return undefined;
}
const missing = [];
if (!which('qemu-system-x86_64')) missing.push('qemu-system-x86');
if (!staticBusybox()) missing.push('busybox-static');
if (!which('cpio')) missing.push('cpio');
if (!which('gcc')) missing.push('gcc');
if (
  !fs.existsSync('/usr/include/stdio.h') ||
  !fs.readdirSync('/usr/lib').some((d) => fs.existsSync(`/usr/lib/${d}/libc.a`))
)
  missing.push('libc6-dev');
if (missing.length) {
  if (process.getuid() !== 0) die(`missing Debian packages: ${missing.join(' ')} (run as root to install them)`);
  const install = () =>
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=300', ...missing], {
      stdio: ['ignore', 2, 2],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }).status === 0;
  if (!install() && !(run('apt-get', ['update', '-qq'], { stdio: ['ignore', 2, 2] }).status === 0 && install()))
    die(`apt-get install ${missing.join(' ')} failed`);
}
const busybox = staticBusybox();
if (!busybox) die('need a static busybox (busybox-static)');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'boot-and-load-'));
const cleanup = () => fs.rmSync(work, { recursive: true, force: true });
process.on('exit', cleanup);
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(130));

const rootfs = path.join(work, 'root');
for (const d of ['bin', 'm', 'proc', 'sys', 'dev', 'tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });

// ---- the loader: one finit_module() and its result ----------------------------------------------
const errnos = [
  'EPERM',
  'ENOENT',
  'ENOEXEC',
  'ENOMEM',
  'EFAULT',
  'EBUSY',
  'EEXIST',
  'EINVAL',
  'ENOSPC',
  'ERANGE',
  'ENOSYS',
  'EBADMSG',
  'EOVERFLOW',
  'EMSGSIZE',
  'ENOPKG',
  'ENOKEY',
  'EKEYEXPIRED',
  'EKEYREVOKED',
  'EKEYREJECTED',
  'ENODEV',
  'EACCES',
  'ETXTBSY',
  'EFBIG',
  'EOPNOTSUPP',
  'ENODATA',
  'ELIBBAD',
  'EAGAIN',
  'EINTR',
];
fs.writeFileSync(
  path.join(work, 'load.c'),
  `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
static const char *errno_name(int e) {
  switch (e) {
  case 0: return "OK";
${errnos.map((e) => `  case ${e}: return "${e}";`).join('\n')}
  default: return "E?";
  }
}
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0) { perror(argv[1]); return 2; }
  errno = 0;
  long rc = syscall(SYS_finit_module, fd, "", 0);
  int e = rc ? errno : 0;
  printf("%ld %d %s\\n", rc, e, errno_name(e));
  return 0;
}
`,
);
const cc = run('gcc', ['-static', '-Os', '-o', path.join(rootfs, 'bin/load'), path.join(work, 'load.c')]);
if (cc.status !== 0) die(`cannot build the static loader: ${cc.stderr}`);
fs.copyFileSync(busybox, path.join(rootfs, 'bin/busybox'));

// ---- the modules, decompressed on the host --------------------------------------------------------
modules.forEach((m, i) => {
  let data;
  try {
    data = fs.readFileSync(m);
  } catch {
    die(`no such module file: ${m}`);
  }
  const magic = data.subarray(0, 4).toString('hex');
  const decompress = (tool) => {
    const r = run(tool, ['-dc'], { input: data });
    if (r.status !== 0) die(`${m}: ${tool} -dc failed (is ${tool} installed?)`);
    return r.stdout;
  };
  if (magic.startsWith('fd377a58')) data = decompress('xz');
  else if (magic === '28b52ffd') data = decompress('zstd');
  else if (magic.startsWith('1f8b')) data = zlib.gunzipSync(data);
  else if (magic !== '7f454c46') die(`${m}: neither ELF nor xz, zstd or gzip`);
  fs.writeFileSync(path.join(rootfs, 'm', `${i + 1}.ko`), data);
});

// ---- /init: report, load each module between two fences in the log, report again, power off ----------
fs.writeFileSync(
  path.join(rootfs, 'init'),
  `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev 2>/dev/null
echo 1 > /proc/sys/kernel/printk
r() { echo "@@R $*"; }
r start
r release $(uname -r)
r cmdline $(cat /proc/cmdline)
r sig_enforce $(cat /sys/module/module/parameters/sig_enforce 2>/dev/null)
# let asynchronous boot work finish: the log unchanged for three looks 0.2 s apart (6 s at most)
last=-1 same=0 n=0
while [ $same -lt 3 ] && [ $n -lt 30 ]; do
  c=$(dmesg -s 4194304 | wc -l); [ "$c" = "$last" ] && same=$((same + 1)) || same=0
  last=$c n=$((n + 1)); usleep 200000
done
dmesg -r -c -s 4194304 | sed 's/^/@@R boot /'
i=1
while [ -f /m/$i.ko ]; do
  dmesg -c -s 4194304 >/dev/null
  cut -d' ' -f1 /proc/modules > /tmp/before
  echo "<5>@@fence-in" > /dev/kmsg
  res=$(load /m/$i.ko)
  echo "<5>@@fence-out" > /dev/kmsg
  r $i result $res
  dmesg -r -c -s 4194304 | sed "s/^/@@R $i log /"
  r $i taint $(cat /proc/sys/kernel/tainted)
  for m in $(cut -d' ' -f1 /proc/modules); do
    grep -qxF "$m" /tmp/before && continue
    r $i new $m
    [ -r /sys/module/$m/taint ] && r $i modtaint $(cat /sys/module/$m/taint)
  done
  r $i done
  i=$((i + 1))
done
r end
sync
reboot -f
`,
  { mode: 0o755 },
);
const list = run('sh', ['-c', 'find . -mindepth 1 | LC_ALL=C sort'], { cwd: rootfs }).stdout;
const cpio = run('cpio', ['--quiet', '-o', '-H', 'newc', '-R', '0:0'], { cwd: rootfs, input: list });
if (cpio.status !== 0) die(`cpio: ${cpio.stderr}`);
const initrd = path.join(work, 'initrd.gz');
fs.writeFileSync(initrd, zlib.gzipSync(cpio.stdout, { level: 1 }));

// ---- boot -------------------------------------------------------------------------------------
const cmdline = `console=ttyS0 panic=-1 rdinit=/init printk.devkmsg=on${extra ? ` ${extra}` : ''}`;
const t0 = Date.now();
const q = run(
  'timeout',
  [
    '--kill-after=10',
    String(opts.timeout),
    'qemu-system-x86_64',
    '-accel',
    'tcg',
    '-cpu',
    'max',
    '-m',
    String(opts.mem),
    '-smp',
    '1',
    '-nographic',
    '-nodefaults',
    '-no-reboot',
    '-serial',
    'stdio',
    '-monitor',
    'none',
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    cmdline,
  ],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
const seconds = ((Date.now() - t0) / 1000).toFixed(1);
const consoleLog = q.stdout.toString('latin1');
if (opts.console) fs.writeFileSync(opts.console, q.stdout);

// ---- the console, read back ------------------------------------------------------------------------
const TAINT = 'PFSRMBUDAWCIOELKXTN';
const letters = (v) => [...TAINT].filter((_, bit) => Math.floor(v / 2 ** bit) % 2 === 1).join('');
const bare = (l) => l.replace(/^<\d+>/, '').replace(/^\[ *[\d.]+\] ?/, '');
const facts = { x509: [] };
const mods = modules.map((m, i) => ({
  index: i + 1,
  module: m,
  name: null,
  loaded: false,
  rc: null,
  errno: null,
  errno_name: null,
  kernel_log: [],
  other_log: [],
  taint: null,
  taint_value: null,
  module_taint: null,
  complete: false,
  phase: 0,
}));
let state = 'no-output';
for (const raw of consoleLog.split('\n')) {
  const at = raw.indexOf('@@R ');
  if (at < 0) continue;
  const words = raw
    .slice(at + 4)
    .replace(/\r$/, '')
    .split(' ');
  const head = words.shift();
  const rest = words.join(' ');
  if (head === 'start') state = 'incomplete';
  else if (head === 'end') state = 'ok';
  else if (head === 'release' || head === 'cmdline' || head === 'sig_enforce') facts[head] = rest;
  else if (head === 'boot') {
    if (/X\.509/.test(rest)) facts.x509.push(bare(rest));
  } else if (/^\d+$/.test(head) && mods[Number(head) - 1]) {
    const m = mods[Number(head) - 1];
    const [what, ...more] = words;
    const value = more.join(' ');
    if (what === 'result') {
      const [rc, e, name] = more;
      Object.assign(m, { rc: Number(rc), errno: Number(e), errno_name: name });
    } else if (what === 'log') {
      const line = bare(value);
      if (line.startsWith('@@fence-in')) m.phase = 1;
      else if (line.startsWith('@@fence-out')) m.phase = 2;
      else (m.phase === 1 ? m.kernel_log : m.other_log).push(line);
    } else if (what === 'taint') Object.assign(m, { taint_value: Number(value), taint: letters(Number(value)) });
    else if (what === 'new') Object.assign(m, { name: value, loaded: true });
    else if (what === 'modtaint') m.module_taint = value;
    else if (what === 'done') m.complete = true;
  }
}
for (const { phase: _phase, ...m } of mods) process.stdout.write(`${JSON.stringify(m)}\n`);
process.stderr.write(
  `boot-and-load: ${state}: kernel ${facts.release ?? '?'}, sig_enforce=${facts.sig_enforce ?? '?'}, ${seconds} s, qemu exit ${q.status}\n`,
);
process.stderr.write(`boot-and-load: cmdline: ${facts.cmdline ?? '?'}\n`);
for (const l of facts.x509) process.stderr.write(`boot-and-load: ${l}\n`);
if (state !== 'ok') {
  process.stderr.write(
    `boot-and-load: the guest did not finish (timeout ${opts.timeout} s, qemu exit ${q.status}); the console's last lines:\n`,
  );
  process.stderr.write(
    `${consoleLog.split('\n').slice(-25).join('\n')}\n${q.stderr.toString().split('\n').slice(-5).join('\n')}\n`,
  );
  process.exitCode = 1;
}
