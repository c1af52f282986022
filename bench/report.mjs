// npm run bench (last step): renders docs/benchmarks.md from the JSON results the bench scripts
// wrote to BENCH_OUT (or the directory given as the first argument): the machine, the date, each
// kmodseal figure beside its anchor's from the same run as a ratio, and with --against REV each
// kmodseal figure against REV's build from the same run. The prose is kept here, next to the code
// that produces the figures; the page is written through a temp file and a rename.
// BENCH_DOC: the page to write (default docs/benchmarks.md; when only some benchmarks ran
// (BENCH_ONLY) it defaults to BENCH_OUT/benchmarks.md, so a partial run does not replace the page).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root } from './lib.mjs';

const BENCHES = ['inspect', 'kernel', 'sign', 'check', 'repro', 'efi'];
const dir = process.argv[2] ?? process.env.BENCH_OUT;
if (!dir) throw new Error('usage: node bench/report.mjs RESULTS_DIR (or BENCH_OUT)');
const results = Object.fromEntries(
  BENCHES.filter((b) => fs.existsSync(path.join(dir, `${b}.json`))).map((b) => [
    b,
    JSON.parse(fs.readFileSync(path.join(dir, `${b}.json`), 'utf8')),
  ]),
);
const missing = BENCHES.filter((b) => !results[b]);
const doc =
  process.env.BENCH_DOC ||
  (missing.length ? path.join(dir, 'benchmarks.md') : path.join(root, 'docs', 'benchmarks.md'));
const any = Object.values(results)[0];
if (!any) throw new Error(`bench/report.mjs: no results in ${dir}`);
const quick = Object.values(results).some((r) => r.quick);
const against = any.against;

// ---- the machine and the run ----
const sh = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
};
const cpu = os.cpus()[0]?.model?.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
const distro = /^PRETTY_NAME="?([^"\n]*)/m.exec(
  fs.existsSync('/etc/os-release') ? fs.readFileSync('/etc/os-release', 'utf8') : '',
)?.[1];
const run = any.run ?? {}; // recorded by bench/lib.mjs emit(); the environment overrides
const head = process.env.BENCH_HEAD || run.head || sh('git', ['rev-parse', '--short', 'HEAD']);
const dirty = Number(process.env.BENCH_DIRTY ?? run.dirty ?? 0);
const dirtyText = dirty
  ? ` with ${dirty} uncommitted change(s) under src/, bin/ or native/ (built as they were at the start)`
  : '';
const againstCommit = (process.env.BENCH_AGAINST_COMMIT || run.againstCommit)?.slice(0, 7) ?? null;
const startedAt = process.env.BENCH_STARTED || run.started;
const started = startedAt ? new Date(startedAt) : null;
const now = new Date();
// the run ended when its last result was written (the page may be rendered later from a kept BENCH_OUT)
const ended = new Date(
  Math.max(...BENCHES.filter((b) => results[b]).map((b) => fs.statSync(path.join(dir, `${b}.json`)).mtimeMs)),
);
const utc = (d) =>
  d
    .toISOString()
    .replace('T', ' ')
    .replace(/:\d\d\.\d+Z$/, ' UTC');

// ---- formatting ----
const s = (x) => (x == null || !Number.isFinite(x) ? '—' : x < 1 ? `${x.toFixed(3)} s` : `${x.toFixed(2)} s`);
const x2 = (r) => (r == null || !Number.isFinite(r) ? '—' : `${r.toFixed(2)}x`);
const num = (n) => n.toLocaleString('en-US');
const met = (f) => {
  if (!f.target) return '';
  const v = f.target.of === 'limit' ? f.ofLimit : f.ratio;
  if (v == null || !Number.isFinite(v)) return f.target.text;
  return `${f.target.text}: **${v <= f.target.max ? 'met' : 'not met'}**`;
};
const revName = against
  ? `\`${against}\`${againstCommit && againstCommit !== against ? ` (${againstCommit})` : ''}`
  : '';
const quickSpread = quick ? ' (quick mode: one run of each, so no spread)' : '';
const vsCell = (f) => (f.against ? `${s(f.against.old)}; ${x2(f.against.ratio)}, ${f.against.verdict}` : '—');

/** A table of figures: case, kmodseal, anchor, ratio, extra columns, target, and against REV. */
function table(rows, { anchor = 'anchor', extra = [], target = rows.some((f) => f.target) } = {}) {
  const cols = ['figure', 'kmodseal', anchor, 'kmodseal / anchor', ...extra.map((e) => e.head)];
  if (target) cols.push('target');
  if (against) cols.push(`${revName}: its time; new/old`);
  const out = [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`];
  for (const f of rows) {
    const cells = [
      f.label + (f.modules ? ` — ${num(f.modules)} modules` : ''),
      s(f.kmodseal),
      f.anchorText ?? s(f.anchor),
      x2(f.ratio),
      ...extra.map((e) => e.cell(f)),
    ];
    if (target) cells.push(met(f));
    if (against) cells.push(vsCell(f));
    out.push(`| ${cells.join(' | ')} |`);
  }
  return out.join('\n');
}
const allRuns = (r) =>
  '<details><summary>every run (s)</summary>\n\n' +
  r.rows
    .map((f) => {
      const l = (xs) => (xs?.length ? xs.map((t) => t.toFixed(3)).join(', ') : '—');
      return `- ${f.label}: kmodseal ${l(f.runs.kmodseal)}; anchor ${l(f.runs.anchor)}${f.runs.old ? `; ${against} ${l(f.runs.old)}` : ''}`;
    })
    .join('\n') +
  '\n\n</details>';

// ---- the page ----
const P = [];
P.push(`# Benchmarks

> Generated by \`npm run bench\` (\`bench/report.mjs\`) on ${utc(now)}. Do not edit by hand: the
> figures are this run's and the prose lives in \`bench/report.mjs\`.${
  quick
    ? `\n>\n> **Quick mode** (\`BENCH_QUICK=1\`): one run per figure and smaller samples (noted per table);` +
      ' for trying the benchmarks out, not for quoting.'
    : ''
}${missing.length ? `\n>\n> Only some benchmarks ran; missing: ${missing.join(', ')}.` : ''}

\`npm run bench\` (\`scripts/bench.sh\`) builds the checkout and runs every benchmark against its
anchor tool in the same run: \`bench/inspect.mjs\`, \`bench/kernel.mjs\`, \`bench/sign.mjs\`,
\`bench/check.mjs\`, \`bench/repro.mjs\`. Each writes its figures as JSON and \`bench/report.mjs\`
renders this page from them. \`npm run bench -- --against REV\` (or \`BENCH_AGAINST=REV\`) also
builds REV in a temporary git worktree and times every kmodseal figure with both builds,
alternating, in the same loop; \`BENCH_QUICK=1\` (or \`--quick\`) runs fewer and smaller samples,
to try the whole thing in a few minutes. See the header of \`bench/lib.mjs\` and
\`scripts/bench.sh\` for the other variables.

## Machine and run

- CPU: ${cpu}, ${os.availableParallelism()} logical cores; memory ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB
- System: ${distro ?? os.type()}, Linux ${os.release()} (${os.arch()}); Node ${process.version}
- Checkout: \`${head}\`${dirtyText}${against ? `; against ${revName}, built in a temporary worktree` : ''}
- Run: ${started ? `${utc(started)} to ${utc(ended)}` : `ended ${utc(ended)}`}${quick ? ', quick mode' : ''}

This is a virtual machine whose cores are shared with other tenants (and, on the project's
machine, with other engineers' test runs): its speed swings by up to 2x within minutes, so a
single absolute time says little. Each kmodseal figure is therefore given beside its anchor's
**from the same run** (measured in the same loop, alternating), and the ratio is what compares
across dates.`);

if (against) {
  const rows = Object.values(results).flatMap((r) =>
    r.rows.filter((f) => f.against).map((f) => ({ ...f, bench: r.bench })),
  );
  const reg = rows.filter((f) => f.against.verdict === 'regression');
  const faster = rows.filter((f) => f.against.verdict === 'faster');
  P.push(`## Against ${revName}

Every kmodseal figure timed with this checkout's build (new) and ${revName}'s (old) in the same
loop, the two alternating (new old, old new, ...), reduced the same way (median or best, as in
each table below). A new/old ratio is called a regression or an improvement only beyond the
noise: the larger of ${(100 * any.noiseFloor).toFixed(0)}% (\`BENCH_NOISE\`) and the spread (max/min) of either build's
runs of that figure${quickSpread}. With so few runs on a shared machine, a single "regression" here is a
reason to measure that figure again (\`BENCH_ONLY=<bench> npm run bench -- --against REV\`), not a
verdict. ${
    reg.length
      ? `**${reg.length} figure(s) slower beyond the noise**: ${reg.map((f) => `${f.bench}: ${f.label}`).join('; ')}.`
      : '**No figure is slower beyond the noise.**'
  }${faster.length ? ` Faster beyond the noise: ${faster.map((f) => `${f.bench}: ${f.label}`).join('; ')}.` : ''}

| benchmark | figure | new | old | new/old | noise | verdict |
|---|---|---|---|---|---|---|
${rows
  .map(
    (f) =>
      `| ${f.bench} | ${f.label} | ${s(f.kmodseal)} | ${s(f.against.old)} | ${x2(f.against.ratio)} | ` +
      `±${(100 * f.against.noise).toFixed(0)}% | ${f.against.verdict} |`,
  )
  .join('\n')}`);
}

const r = results;
if (r.inspect) {
  P.push(`## \`inspect\` vs \`xargs modinfo\`

\`bench/inspect.mjs\`: \`kmodseal inspect\` over every module of each cached Debian package against
kmod's \`modinfo\` over the same files (through \`xargs\`, as people run it); ${r.inspect.stat}, after a
warm-up run. kmodseal is run as a user runs \`kmodseal\`, through its launcher line.

${table(r.inspect.rows, { anchor: 'modinfo' })}

${allRuns(r.inspect)}

What makes the plain-\`.ko\` figures: the text of a well-formed module is rendered by
\`native/modinfo.c\` on all cores ([design.md](design.md#the-native-addons-and-why-nativemodinfoc-exists)),
reading a few KiB at each end of a module; the TypeScript path and the PKI library load only for
the modules the addon hands back; the directory walk goes through \`native/io.c\`; and the
launcher line (\`#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node\`) keeps Node 20 from loading the
whole \`NODE_EXTRA_CA_CERTS\` bundle before running any code (see
[setup.md](setup.md#environment-variables)); run as \`node dist/bundle/kmodseal.mjs\` with that
variable set, each figure is higher by Node's start-up cost. On \`.ko.xz\` kmodseal decodes on all
cores with liblzma 5.8, built statically from Debian trixie's source
(\`scripts/build-liblzma.sh\`), whose LZMA decoder is faster than bookworm's 5.4.1, which modinfo
uses.`);
}
if (r.kernel) {
  P.push(`## \`kernel --json\` vs the shell pipeline

\`bench/kernel.mjs\`: \`kmodseal kernel --json\` from a vmlinuz or a \`.deb\`, against the pipeline
people use today: \`extract-vmlinux\` (+ \`dpkg-deb\`/\`tar\` for a \`.deb\`), \`readelf\` for the build id
and sections, \`objcopy\` for \`.BTF\`, a grep for the banner, and \`extract-sys-certs.pl\` where the
image has the symbols it needs (both scripts from \`linux-source-6.1\`); ${r.kernel.stat}.

${table(r.kernel.rows, { anchor: 'pipeline' })}

${allRuns(r.kernel)}

kmodseal also reads the certificates of Debian's stripped images (the pipeline cannot: Debian's
\`System.map\` is a stub) and the Secure Boot signature, so on a bare vmlinuz it reads more than
the pipeline does.`);
}
if (r.sign) {
  const g = r.sign;
  P.push(`## \`sign\` vs \`sign-file\`

\`bench/sign.mjs\`: ${num(g.modules)} unsigned modules of ${g.pkg} (${g.mib.toFixed(0)} MiB${
    quick ? ', quick mode: every 8th module' : ''
  }) signed by \`kmodseal sign\` (all cores) and by the kernel's \`sign-file\` run per module two at a
time (as kbuild's \`modules_sign\` does with \`make -j2\`), for RSA-4096 and ECDSA P-384; and
\`.ko.xz\` modules of 6.12, which \`sign-file\` cannot sign: the anchor is kbuild's order (\`xz -d\`,
\`sign-file\`, \`xz --check=crc32 --lzma2=dict=1MiB\`), two at a time. Trees on ${g.benchDir} for both
tools (this VM's ext4 makes file creation cost seconds of system time that vary with earlier
deletions). Each measurement waits until both cores are free (at most \`BENCH_SETTLE\` seconds each,
\`BENCH_SETTLE_BUDGET\` in all);
each figure is the ${g.stat} runs, interleaved. kmodseal is timed with its native signer and with
node:crypto (\`KMODSEAL_NO_NATIVE_CRYPTO=1\`). The **limit** is \`openssl speed\` signatures/s on all
cores plus SHA-256 of the data: what the machine's system libcrypto can do at best.

Native signer: RSA on ${g.nativeLib}; EC on ${g.nativeLibEc}; node's bundled OpenSSL ${g.nodeOpenssl}.

${table(g.rows, {
  anchor: 'sign-file ×2',
  extra: [
    { head: 'limit', cell: (f) => (f.limit ? `${s(f.limit)} (${num(Math.round(f.perSec))} sig/s)` : '') },
    { head: 'kmodseal / limit', cell: (f) => (f.ofLimit ? x2(f.ofLimit) : '') },
  ],
})}

${g.notes.map((n) => `- ${n}`).join('\n')}

${allRuns(g)}

In-memory keys are signed through the optional addon \`native/crypto.c\`, which opens a libcrypto
itself because node exports its own bundled OpenSSL under the same names. RSA keys go to the
system libcrypto (Debian's \`libcrypto.so.3\`, the library \`sign-file\` uses); EC keys go to the
OpenSSL 3.5 that \`scripts/build-openssl.sh\` builds from Debian trixie's source, whose P-384 signs
several times faster than bookworm's OpenSSL 3.0: that is why P-384 can beat the limit \`openssl
speed\` sets. Modules are read into a per-thread buffer and written with one \`writev\` (unsigned
ELF plus signature tail) to a temp file that is then renamed. Without the addon, or with
\`KMODSEAL_NO_NATIVE_CRYPTO=1\`, node:crypto signs: the signatures are the same (RSA byte-identical
to \`sign-file\` either way); \`KMODSEAL_SYSTEM_LIBCRYPTO=1\` keeps EC keys on the system libcrypto.
Recompressing \`.ko.xz\` at the kernel's settings dominates a \`.ko.xz\` tree.`);
}
if (r.check) {
  const c = r.check;
  const tree = c.rows.filter((f) => f.id.startsWith('tree-'));
  const deb = c.rows.filter((f) => f.id.startsWith('deb-'));
  const btf = c.rows.filter((f) => f.id === 'btf');
  const stat = c.stat.replace(/ \(bpftool.*\)/, '');
  P.push(`## \`check\` of a whole package against its own kernel vs \`depmod -b\`

\`bench/check.mjs\`: \`kmodseal check --kernel DIR\` over an unpacked package's tree (all cores;
\`KMODSEAL_JOBS\` to change) against \`depmod -b\` over the same tree; ${stat}.

${table(tree, { anchor: 'depmod' })}

The plain-\`.ko\` target (no slower than depmod) is not reachable on this machine without leaving
checks out. Each module's own checks (decompression, signature, ELF, vermagic, \`module_layout\`,
BTF, and imports the kernel itself exports) run on every core, with the kernel's BTF and keys
parsed once per thread and each signature layout decoded once; only the order-dependent part
(names, remaining imports, duplicate exports) runs on one thread. What remains is work depmod
does not do, and its floor is above depmod's time: decompressing the kernel image (6.1's xz
payload is one xz block, decoded on one core before any module can be checked against the
kernel), SHA-256 of all the bytes the signatures cover, and one RSA-4096 verification per
module. On a \`.ko.xz\` tree depmod must decompress every module too.

## \`check\` of a \`linux-image\` \`.deb\` vs \`dpkg-deb -x\` + \`depmod -b\`

The package read in memory (kernel and modules) against unpacking it as its installation does and
running depmod on the tree; ${stat}. \`data.tar.xz\` is decoded in one piece by liblzma 5.8's
threaded decoder (dpkg-deb writes it in blocks).

${table(deb, { anchor: 'dpkg-deb -x + depmod' })}

## \`btf check\` vs \`bpftool btf dump\`

\`kmodseal btf check\` of ${num(c.btfModules)} 6.12 modules${quick ? ' (quick mode: every 8th module)' : ' (all of them)'},
decompressed beforehand, against the 6.12 vmlinux BTF, against one \`bpftool btf dump\` batch over
the same files; kmodseal ${stat}, bpftool one run.

${table(btf, { anchor: 'bpftool' })}

${allRuns(c)}`);
}
if (r.repro) {
  const rp = r.repro;
  P.push(`## Reproducible builds: \`detach\`, \`attach\`, \`diff\`

\`bench/repro.mjs\`: \`detach --keep\` of the signed 6.1 tree (plain \`.ko\`) and \`attach\` of the
signatures to an unsigned copy, checked byte-identical to the signed tree (these have no anchor);
and \`diff\` of the 6.12 and 6.12-prev module trees (\`.ko.xz\`, every module decompressed,
differences by ELF section) against a \`cmp -s\` shell loop (which only says "differs", and would
call every re-signed module different) and \`diffoscope\` (stopped after ${rp.diffoscopeLimit} s). One run each.

${table(rp.rows, { anchor: 'anchor' })}

The tree after \`attach\`: ${rp.attachResult?.new ?? '—'}${
    rp.attachResult?.old ? `; with ${revName}'s build: ${rp.attachResult.old}` : ''
  }.

${allRuns(rp)}`);
}

if (r.efi) {
  const e = r.efi;
  const rt = e.roundTrip ?? {};
  P.push(`## Secure Boot images: \`efi sign\`, \`efi verify\`, \`efi detach\`/\`attach\`

\`bench/efi.mjs\`: \`efi sign\` against \`sbsign\` (RSA-2048) on Debian's ${e.kernel} with its signature
removed, on a UKI built by \`uki build\`, and on the ${e.images} PE images of the EFI corpus
(kernels, shim, GRUB, systemd-boot of amd64, i386 and arm64) one process per image; \`efi verify\`
against \`sbverify\`; \`efi detach --remove\` + \`efi attach\` against \`sbattach\`. One process per
command, as a signing script runs them, so node's start-up (tens of milliseconds, against a C tool's
few) is in kmodseal's figure; kmodseal also syncs each output to disk before renaming it into place,
which sbsign does not. Median of ${e.runs} run(s), interleaved.

${table(e.rows, { anchor: 'sbsign / sbverify / sbattach' })}

Detach + attach gave back the package's own bytes: kmodseal ${rt.new ?? '—'}, sbattach ${rt.anchor ?? '—'}.

The whole-build \`seal\` (last row) makes every signature of a build in one process: the modules
of the tree and those inside the initrd with the ephemeral key (the initrd re-packed, gzip), then
\`.sbat\`, the image and the UKI with the long-term key: **${e.sealLongTermSignatures ?? '—'} long-term-key
signatures** for the whole build, however many modules. Its anchor does less: \`sign-file\` over the
tree two at a time with a key made beforehand, and \`sbsign\` of the image and of a UKI already built
(no initrd: no anchor tool re-packs one).

${allRuns(e)}`);
}

const slower = Object.values(results).flatMap((b) =>
  b.rows.filter((f) => f.ratio > 1).map((f) => `${b.bench}: ${f.label} (${x2(f.ratio)})`),
);
P.push(`## Where kmodseal is slower than its anchor in this run

${slower.length ? slower.map((l) => `- ${l}`).join('\n') : 'Nowhere.'}
`);

const text = P.join('\n\n').replace(/\n{3,}/g, '\n\n');
fs.mkdirSync(path.dirname(doc), { recursive: true });
const tmp = `${doc}.tmp-${process.pid}`;
fs.writeFileSync(tmp, text);
fs.renameSync(tmp, doc);
console.log(`bench/report.mjs: wrote ${path.relative(process.cwd(), doc) || doc}`);
