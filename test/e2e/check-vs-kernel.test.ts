/**
 * The final judge: `kmodseal check` must give the verdict the real kernel gives. Each case
 * boots the test kernel under qemu (about 3 s), loads modules with finit_module(), and
 * compares outcome, errno and the module's taint with the prediction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { TESTKERNEL, corpus, modulesBelow, runBin } from '../helpers.js';
import { bootAndLoad, canBoot, opensslSign } from './kernel.js';
import { compareElfVariants, renameSections } from './elf-variants.js';
import { elfCheckFlow } from '../../src/check/elf-validity.js';
import { Elf } from '../../src/elf/elf.js';
import type { ModuleVerdict } from '../../src/check/check.js';

const K = TESTKERNEL;
const keys = path.join(K, 'keys');
const vmlinux = path.join(K, 'vmlinux');
const hello = path.join(K, 'modules/kms_hello.ko');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-e2e-'));
const out = (n: string): string => path.join(tmp, n);

function variants(): void {
  opensslSign(`${keys}/direct.key`, `${keys}/direct.crt`, hello, out('direct.ko'));
  opensslSign(`${keys}/ecdirect.key`, `${keys}/ecdirect.crt`, hello, out('ecdsa.ko'));
  opensslSign(`${keys}/leaf2.key`, `${keys}/leaf2.crt`, hello, out('leaf2-chain.ko'), [
    '-certfile',
    `${keys}/inter.crt`,
  ]);
  opensslSign(`${keys}/leaf2.key`, `${keys}/leaf2.crt`, hello, out('leaf2-nochain.ko'), []);
  opensslSign(`${keys}/untrusted.key`, `${keys}/untrusted.crt`, hello, out('untrusted.ko'));
  opensslSign(`${keys}/direct.key`, `${keys}/direct.crt`, hello, out('direct-sha512.ko'), ['-nocerts'], 'sha512');
  const tampered = fs.readFileSync(out('direct.ko'));
  tampered[0x200]! ^= 0x01;
  fs.writeFileSync(out('tampered.ko'), tampered);
  // signed attributes (openssl's default adds them): fatal even without enforcement
  execFileSync('openssl', [
    'cms',
    '-sign',
    '-binary',
    '-outform',
    'DER',
    '-md',
    'sha256',
    '-nocerts',
    '-signer',
    `${keys}/direct.crt`,
    '-inkey',
    `${keys}/direct.key`,
    '-in',
    hello,
    '-out',
    out('attrs.p7s'),
  ]);
  const p7 = fs.readFileSync(out('attrs.p7s'));
  const info = Buffer.alloc(12);
  info[2] = 2;
  info.writeUInt32BE(p7.length, 8);
  fs.writeFileSync(
    out('attrs.ko'),
    Buffer.concat([fs.readFileSync(hello), p7, info, Buffer.from('~Module signature appended~\n')]),
  );
  // vermagic edited in place ("mod_unload" -> "mod_unlaod"), and a CRC changed in __versions
  const elf = fs.readFileSync(hello);
  const at = elf.indexOf('mod_unload');
  const vm = Buffer.from(elf);
  vm.write('mod_unlaod', at, 'latin1');
  fs.writeFileSync(out('vermagic.ko'), vm);
  const crc = Buffer.from(elf);
  const rec = crc.indexOf(Buffer.from('_printk\0', 'latin1'));
  crc[rec - 8]! ^= 0xff; // the record's crc word precedes its name
  fs.writeFileSync(out('crc.ko'), crc);
  // later steps: .text made writable (STRICT_MODULE_RWX), `livepatch` in .modinfo on a kernel
  // without CONFIG_LIVEPATCH, no vermagic, a license that is not GPL-compatible (taint P)
  const text = Elf.parse(elf, hello).sections.find((s) => s.name === '.text')!; // .text made writable
  const rwx = Buffer.from(elf);
  rwx.writeBigUInt64LE(BigInt(text.sh_flags | 1), text.headerOffset + 8);
  fs.writeFileSync(out('rwx.ko'), rwx);
  const lic = elf.indexOf('license=GPL\0', 0, 'latin1');
  const lp = Buffer.from(elf);
  lp.write('livepatch=Y', lic, 'latin1');
  fs.writeFileSync(out('livepatch.ko'), lp);
  const bsd = Buffer.from(elf);
  bsd.write('license=BSD', lic, 'latin1');
  fs.writeFileSync(out('license-bsd.ko'), bsd);
  const nv = Buffer.from(elf);
  nv.write('vermagix=', elf.indexOf('vermagic=', 0, 'latin1'), 'latin1');
  fs.writeFileSync(out('no-vermagic.ko'), nv);
  // both .ctors and .init_array (two allocated sections renamed in place): refused only with
  // CONFIG_CONSTRUCTORS, which this kernel (like Debian's) does not set
  // `test` and `staging` in .modinfo (over the description): taints N and C
  const marked = (file: string, entry: string, to: string): void => {
    const b = fs.readFileSync(file);
    const at = b.indexOf('description=', 0, 'latin1');
    const end = b.indexOf(0, at);
    b.fill(0, at, end);
    b.write(entry, at, 'latin1');
    fs.writeFileSync(out(to), b);
  };
  marked(hello, 'test=Y', 'test-hello.ko');
  marked(path.join(K, 'modules/kms_export.ko'), 'staging=Y', 'staging-export.ko');
  // kms_export's export renamed in __ksymtab_strings only (its symbols still say kms_answer): the
  // kernel reads the name through __ksymtab's relocation, sees msleep, which it exports itself
  const exp = fs.readFileSync(path.join(K, 'modules/kms_export.ko'));
  const strs = Elf.parse(exp, 'kms_export.ko').sections.find((s) => s.name === '__ksymtab_strings')!;
  const answer = exp.indexOf('kms_answer\0', strs.sh_offset, 'latin1');
  assert.ok(answer >= strs.sh_offset && answer < strs.sh_offset + strs.sh_size);
  exp.write('msleep\0', answer, 'latin1');
  fs.writeFileSync(out('dup-export.ko'), exp);
  fs.writeFileSync(
    out('ctors.ko'),
    renameSections(elf, hello, { '.note.gnu.build-id': '.init_array', '.rodata.str1.1': '.ctors' }),
  );
}

interface Case {
  readonly title: string;
  readonly cmdline: string;
  readonly modules: readonly string[];
}

const cases: Case[] = [
  { title: 'RSA signer the kernel trusts, enforced', cmdline: 'module.sig_enforce=1', modules: [out('direct.ko')] },
  { title: 'ECDSA signer, enforced', cmdline: 'module.sig_enforce=1', modules: [out('ecdsa.ko')] },
  {
    title: 'leaf of an intermediate of the trusted root, chain carried, enforced',
    cmdline: 'module.sig_enforce=1',
    modules: [out('leaf2-chain.ko')],
  },
  {
    title: 'leaf without its intermediate, enforced',
    cmdline: 'module.sig_enforce=1',
    modules: [out('leaf2-nochain.ko')],
  },
  { title: 'unsigned, enforced', cmdline: 'module.sig_enforce=1', modules: [hello] },
  { title: 'untrusted signer, not enforced', cmdline: '', modules: [out('untrusted.ko')] },
  { title: 'trusted key but one byte changed, not enforced', cmdline: '', modules: [out('tampered.ko')] },
  { title: 'signed attributes, not enforced', cmdline: '', modules: [out('attrs.ko')] },
  { title: 'vermagic flag changed', cmdline: '', modules: [out('vermagic.ko')] },
  {
    title: 'CRC of an imported symbol changed; sha512 signature',
    cmdline: 'module.sig_enforce=1',
    modules: [out('crc.ko'), out('direct-sha512.ko')],
  },
  {
    title: 'RWX section, livepatch without CONFIG_LIVEPATCH, no vermagic, BSD license, then the same name again',
    cmdline: '',
    modules: [out('rwx.ko'), out('livepatch.ko'), out('no-vermagic.ko'), out('license-bsd.ko'), hello],
  },
  {
    title: 'an export the kernel already has, named only in __ksymtab_strings',
    cmdline: '',
    modules: [out('dup-export.ko')],
  },
  {
    title: 'a test module (N) and a staging module (C)',
    cmdline: '',
    modules: [out('test-hello.ko'), out('staging-export.ko')],
  },
  { title: 'both .ctors and .init_array without CONFIG_CONSTRUCTORS', cmdline: '', modules: [out('ctors.ko')] },
  {
    title: 'dependencies in order, a missing one, and the in-tree module',
    cmdline: '',
    modules: [
      path.join(K, 'modules/kms_user.ko'),
      path.join(K, 'modules/kms_export.ko'),
      path.join(K, 'modules/kms_user.ko'),
      path.join(K, 'modules/in-tree/dummy.ko'),
    ],
  },
];

const debian = corpus().filter((k) => k.set === 'amd64-6.1' || k.set === 'amd64-6.12');
if (debian.length === 2) {
  const plain = (k: (typeof debian)[number], n: string): string => {
    const f = modulesBelow(k.modulesDir).find((p) => p.endsWith('/dummy.ko') || p.endsWith('/dummy.ko.xz'))!;
    const o = out(n);
    fs.writeFileSync(o, f.endsWith('.xz') ? execFileSync('xz', ['-dc', f]) : fs.readFileSync(f));
    return o;
  };
  cases.push({
    title: "Debian's 6.1 and 6.12 dummy.ko (other builds)",
    cmdline: '',
    modules: [plain(debian[0]!, 'deb61-dummy.ko'), plain(debian[1]!, 'deb612-dummy.ko')],
  });
}

test(
  "check predicts the booted kernel's verdict for every case",
  { skip: !canBoot() && 'needs root and the test kernel kit' },
  () => {
    variants();
    const failures: string[] = [];
    for (const c of cases) {
      const args = [
        'check',
        '--json',
        '--kernel',
        vmlinux,
        ...(c.cmdline.includes('sig_enforce=1') ? ['--sig-enforce'] : []),
        ...c.modules,
      ];
      const r = runBin(args);
      assert.ok(r.code === 0 || r.code === 4 || r.code === 5, `${c.title}: exit ${r.code} ${r.stderr}`);
      const predicted = (JSON.parse(r.stdout.toString('utf8')) as { modules: ModuleVerdict[] }).modules;
      const real = bootAndLoad(vmlinux, c.cmdline, c.modules);
      assert.equal(real.length, c.modules.length, `${c.title}: the kernel reported ${real.length} loads`);
      real.forEach((k, i) => {
        const p = predicted[i]!;
        const got = {
          loaded: p.outcome !== 'rejected',
          errno: p.errno ?? 'OK',
          taint: p.outcome === 'rejected' ? null : p.taints,
        };
        const want = { loaded: k.loaded, errno: k.errno_name, taint: k.loaded ? (k.module_taint ?? '') : null };
        if (JSON.stringify(got) !== JSON.stringify(want))
          failures.push(
            `${c.title} [${path.basename(c.modules[i]!)}]: predicted ${JSON.stringify(got)}, ` +
              `kernel ${JSON.stringify(want)} (log: ${k.kernel_log.join(' | ')})`,
          );
        // every line predicted for the module (fatal or not) is one the kernel logged for it
        for (const r of p.reasons) {
          if (!r.log) continue;
          for (const line of r.log.split('\n'))
            if (!k.kernel_log.includes(line))
              failures.push(
                `${c.title} [${path.basename(c.modules[i]!)}]: kernel did not log predicted line '${line}' ` +
                  `(${r.code}; it logged: ${k.kernel_log.join(' | ')})`,
              );
        }
      });
    }
    assert.deepEqual(failures, []);
  },
);

test(
  "the kernel's ELF checks (test kernel, 6.12): each malformed module refused as predicted, with the kernel's line",
  {
    skip: !canBoot() && 'needs root and the test kernel kit',
  },
  () => {
    const flow = elfCheckFlow('6.12', fs.readFileSync(path.join(K, 'kernel.release'), 'utf8').trim());
    assert.deepEqual(compareElfVariants(flow, vmlinux, vmlinux, hello, fs.mkdtempSync(path.join(tmp, 'elf-'))), []);
  },
);
