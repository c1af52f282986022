/**
 * Issue #16: a kernel one part of which cannot be read. `kmodseal kernel --json` reads every
 * cached linux-image package, one test per architecture (i386's PREL32 ksymtab included, its
 * exports checked by depmod against every module's __versions); an image with a corrupted
 * __ksymtab name reference gives everything else plus a warning at the field's offset;
 * `check` against it still gives verdicts, each saying what it could not check; and the test
 * kernel with a damaged certificate area gives everything but its certificates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { corpus, modulesBelow, runBin, type KernelSet } from '../helpers.js';
import { Elf } from '../../src/elf/elf.js';
import { ksymtabLayout, readExports } from '../../src/kernel/ksymtab.js';
import { inspectVmlinux } from '../../src/kernel/vmlinux.js';
import type { KernelJson } from '../../src/report/kernel.js';
import type { ModuleVerdict } from '../../src/check/check.js';
import { buildElf } from './build-elf.js';
import { kitFacts, needTestKernel } from './helpers.js';

const sets = corpus();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-partial-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function kernelJson(args: string[], code = 0): { j: KernelJson; stderr: string } {
  const r = runBin(['kernel', '--json', ...args]);
  assert.equal(r.code, code, r.stderr);
  return { j: JSON.parse(r.stdout.toString('utf8')) as KernelJson, stderr: r.stderr };
}

/** depmod's complaints about the modules of `k` against the exports `kmodseal kernel --symvers` reads. */
function depmodComplaints(k: KernelSet): string[] {
  const r = runBin(['kernel', '--symvers', k.dir]);
  assert.equal(r.code, 0, r.stderr);
  const symvers = path.join(tmp, `${k.set}.symvers`);
  fs.writeFileSync(symvers, r.stdout);
  const d = spawnSync('depmod', ['-b', k.dir, '-e', '-E', symvers, '-n', k.release], { maxBuffer: 1 << 30 });
  assert.equal(d.status, 0, d.stderr.toString());
  return d.stderr
    .toString()
    .split('\n')
    .filter((l) => /unknown symbol|disagrees about version/.test(l));
}

for (const arch of ['amd64', 'i386', 'arm64', 'armhf', 's390x']) {
  test(`${arch}: kmodseal kernel --json reads every cached linux-image package whole`, () => {
    const mine = sets.filter((s) => s.arch === arch);
    assert.ok(mine.length > 0, `no cached ${arch} linux-image package (run scripts/fetch-kernels.sh)`);
    for (const k of mine) {
      const { j, stderr } = kernelJson([k.dir]);
      assert.equal(stderr, '', k.set);
      assert.equal('warnings' in j, false, `${k.set}: ${JSON.stringify(j.warnings)}`);
      assert.equal(j.release, k.release, k.set);
      assert.ok(j.certificates.length >= 1, `${k.set}: the build key`);
      if (!j.image!.elf) continue; // raw Image: no section table, no exports
      assert.ok(
        j.exports && j.exports.count > 5000 && j.exports.withCrc === j.exports.count,
        `${k.set}: ${JSON.stringify(j.exports)}`,
      );
      // the kernel's exports are what modpost recorded in every module's __versions
      assert.deepEqual(depmodComplaints(k), [], k.set);
    }
  });
}

test('i386 (ELF32, EM_386) selects HAVE_ARCH_PREL32_RELOCATIONS: its 12-byte entries are relative', () => {
  const strAddr = 0xc1c25d90;
  const tabAddr = 0xc1bfe060;
  const strings = Buffer.from('\0printk\0', 'latin1');
  const tab = new Uint8Array(12);
  const v = new DataView(tab.buffer);
  v.setInt32(0, -0x1000, true);
  v.setInt32(4, strAddr + 1 - (tabAddr + 4), true);
  v.setInt32(8, strAddr - (tabAddr + 8), true);
  const crc = new Uint8Array([0x78, 0x56, 0x34, 0x12]);
  const elf = Elf.parse(
    buildElf({
      class: 32,
      littleEndian: true,
      machine: 3,
      sections: [
        { name: '__ksymtab', addr: BigInt(tabAddr), data: tab },
        { name: '__kcrctab', addr: 0xc1c1be44n, data: crc },
        { name: '__ksymtab_strings', addr: BigInt(strAddr), data: strings },
      ],
    }),
    'i386',
  );
  assert.equal(ksymtabLayout(elf), 'prel32');
  assert.deepEqual(readExports(elf), [{ name: 'printk', crc: 0x12345678, gpl: false, namespace: '' }]);
});

/** The i386 package's vmlinux, and a copy whose __ksymtab entry 10 names an address far outside __ksymtab_strings. */
function corruptedI386(): { k: KernelSet; clean: string; bad: string; fieldOffset: number } {
  const k = sets.find((s) => s.arch === 'i386');
  assert.ok(k, 'no cached i386 package (run scripts/fetch-kernels.sh --only i386-6.1)');
  const clean = path.join(tmp, 'vmlinux-i386');
  if (!fs.existsSync(clean)) kernelJson(['--extract-vmlinux', clean, k.dir]);
  const data = new Uint8Array(fs.readFileSync(clean));
  const ksymtab = Elf.parse(data, clean).findSection('__ksymtab')!;
  const fieldOffset = ksymtab.sh_offset + 10 * 12 + 4; // struct kernel_symbol[10].name_offset
  new DataView(data.buffer, data.byteOffset).setInt32(fieldOffset, 0x7fff0000, true);
  const bad = path.join(tmp, 'vmlinux-i386-bad');
  fs.writeFileSync(bad, data);
  return { k, clean, bad, fieldOffset };
}

test('an image whose __ksymtab names a string outside __ksymtab_strings: everything else, and a warning at the field', () => {
  const { k, clean, bad, fieldOffset } = corruptedI386();
  const config = path.join(k.dir, 'boot', `config-${k.release}`);
  const whole = kernelJson([clean, '--config', config]).j;
  // the unreadable part is a warning (stderr and JSON): the rest is reported and the command succeeds
  const { j, stderr } = kernelJson([bad, '--config', config], 0);
  assert.deepEqual(j.warnings, [
    { part: 'exports', offset: fieldOffset, message: j.warnings![0]!.message, code: 'E_FORMAT' },
  ]);
  assert.match(j.warnings![0]!.message, /name 0x[0-9a-f]+ is outside __ksymtab_strings/);
  assert.equal(j.exports, null);
  const { warnings: _w, ...rest } = j;
  assert.deepEqual({ ...rest, source: '' }, { ...whole, exports: null, source: '' });
  const at = `0x${fieldOffset.toString(16)}`;
  assert.match(
    stderr,
    new RegExp(`^kmodseal: warning: .*vmlinux-i386-bad: exports unreadable at ${at}: .*\\(E_FORMAT\\)\\n$`),
  );
  // the text report says it where the exports would be; --symvers has nothing to print
  const text = runBin(['kernel', bad]);
  assert.equal(text.code, 0);
  assert.match(text.stdout.toString(), new RegExp(`\\nexports: +\\(exports unreadable at ${at}: `));
  assert.match(text.stdout.toString(), /\ncertificates: 1 in the system list/);
  const symvers = runBin(['kernel', '--symvers', bad]);
  assert.deepEqual([symvers.code, symvers.stdout.length], [1, 0]);
  assert.equal(symvers.stderr, stderr);
});

test('check against that image: verdicts for every module, each naming the checks the unreadable exports left undone', () => {
  const { k, bad, fieldOffset } = corruptedI386();
  const mods = modulesBelow(path.join(k.modulesDir, 'kernel/lib')).slice(0, 6);
  assert.ok(mods.length >= 3);
  const r = runBin([
    'check',
    '--json',
    '--kernel',
    bad,
    '--config',
    path.join(k.dir, 'boot', `config-${k.release}`),
    ...mods,
  ]);
  assert.ok([0, 4, 5].includes(r.code), `exit ${r.code}: ${r.stderr}`);
  const out = JSON.parse(r.stdout.toString('utf8')) as { modules: ModuleVerdict[] };
  assert.equal(out.modules.length, mods.length);
  for (const v of out.modules) {
    assert.match(v.signedBy ?? '', /^Build time autogenerated kernel key: /, v.file);
    const notes = v.reasons.filter((x) => x.code === 'kernel-unreadable');
    assert.deepEqual(
      notes.map((x) => [x.check, x.unreadable, x.fatal]),
      [
        ['modversions', { part: 'exports', offset: fieldOffset }, false],
        ['symbols', { part: 'exports', offset: fieldOffset }, false],
      ],
      v.file,
    );
    assert.match(
      notes[0]!.message,
      /the kernel's exports could not be read \(.*outside __ksymtab_strings.*\): CRCs not checked/,
    );
  }
});

test('the test kernel, system_extra_cert_used past its area: the certificates are a warning at that word, the rest is read', async (t) => {
  const dir = needTestKernel(t);
  const usedOff = kitFacts(dir).offset('system_extra_cert_used');
  const vmlinux = fs.readFileSync(path.join(dir, 'vmlinux'));
  const bad = Buffer.from(vmlinux);
  bad.writeInt32LE(5000, usedOff);
  const info = await inspectVmlinux(bad, { file: 'vmlinux' });
  assert.deepEqual(
    info.warnings.map((w) => [w.part, w.offset, w.code]),
    [['certificates', usedOff, 'E_RANGE']],
  );
  assert.match(info.warnings[0]!.message, /system_extra_cert_used 5000 is outside/);
  const whole = await inspectVmlinux(vmlinux, { file: 'vmlinux' });
  assert.ok(whole.certificates && whole.exports && whole.btf && whole.buildId);
  assert.deepEqual({ ...info, warnings: [] }, { ...whole, certificates: undefined });
});

test('commands that need the unreadable part refuse with its offset; check names the verdicts that depend on it', (t) => {
  const dir = needTestKernel(t);
  const usedOff = kitFacts(dir).offset('system_extra_cert_used');
  const bad = Buffer.from(fs.readFileSync(path.join(dir, 'vmlinux')));
  bad.writeInt32LE(5000, usedOff);
  const work = fs.mkdtempSync(path.join(tmp, 'parts-'));
  const vmlinux = path.join(work, 'vmlinux');
  fs.writeFileSync(vmlinux, bad);
  const mod = path.join(work, 'kms_hello.ko');
  fs.copyFileSync(path.join(dir, 'modules/kms_hello.ko'), mod);
  const at = `0x${usedOff.toString(16)}`;

  const verify = runBin(['verify', '--kernel', vmlinux, mod]);
  assert.equal(verify.code, 1);
  assert.match(
    verify.stderr,
    new RegExp(
      `^kmodseal: ERROR: .*vmlinux: ${at}: certificates: unreadable, so no module can be verified against it: ` +
        `.*system_extra_cert_used 5000 is outside`,
    ),
  );

  const before = fs.readFileSync(mod);
  const seal = runBin([
    'seal',
    '--kernel-tree',
    work,
    '--type',
    'p256',
    '--embed',
    vmlinux,
    '--embed-out',
    path.join(work, 'out'),
  ]);
  assert.equal(seal.code, 1);
  assert.match(seal.stderr, new RegExp(`${at}: certificates: unreadable, so the reserved area cannot be found`));
  assert.ok(fs.readFileSync(mod).equals(before), 'no module signed');
  assert.equal(fs.existsSync(path.join(work, 'out')), false);

  const check = runBin(['check', '--kernel', vmlinux, mod]);
  assert.equal(check.code, 5, check.stderr);
  assert.match(check.stderr, new RegExp(`^kmodseal: warning: .*vmlinux: certificates unreadable at ${at}: `));
  assert.match(check.stdout.toString(), /\n {4}not checked \(kernel part unreadable\): signature \(certificates\)\n/);
  const json = JSON.parse(runBin(['check', '--json', '--kernel', vmlinux, mod]).stdout.toString()) as {
    kernel: { unreadable: { part: string; offset: number }[] };
  };
  assert.deepEqual(
    json.kernel.unreadable.map((w) => [w.part, w.offset]),
    [['certificates', usedOff]],
  );
});
