/**
 * Conformance with Debian's own kernels booted under qemu: the matrix of research/
 * observed-kernel-behaviour.md (same build signed, signature stripped, payload byte flipped,
 * another build of the same series, vermagic edited to match, a 6.1 module in 6.12, a foreign
 * signing key, missing dependencies), with module.sig_enforce on and off. `check` must predict
 * what the kernel does: loaded or not, errno, and the module's taint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { TESTKERNEL, corpus, modulesBelow, runBin, type KernelSet } from '../helpers.js';
import { bootAndLoad, canBoot, opensslSign } from './kernel.js';
import { compareElfVariants } from './elf-variants.js';
import { elfCheckFlow } from '../../src/check/elf-validity.js';
import { findModuleSignature } from '../../src/modsig/signature.js';
import type { ModuleVerdict } from '../../src/check/check.js';

const sets = corpus();
const cur = sets.find((s) => s.set === 'amd64-6.12');
const prev = sets.find((s) => s.set === 'amd64-6.12-prev');
const k61 = sets.find((s) => s.set === 'amd64-6.1');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-deb-e2e-'));

function plain(k: KernelSet, name: string): Buffer {
  const f = modulesBelow(k.modulesDir).find((p) => p.endsWith(`/${name}.ko`) || p.endsWith(`/${name}.ko.xz`));
  assert.ok(f, `${k.set}: no ${name}`);
  return f.endsWith('.xz') ? execFileSync('xz', ['-dc', f]) : fs.readFileSync(f);
}
function save(name: string, data: Uint8Array): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, data);
  return p;
}
function image(k: KernelSet): string {
  return path.join(
    k.dir,
    'boot',
    fs.readdirSync(path.join(k.dir, 'boot')).find((n) => n.startsWith('vmlinuz-'))!,
  );
}

function compare(kernel: KernelSet, cmdline: string, modules: string[], failures: string[]): void {
  const r = runBin([
    'check',
    '--json',
    '--kernel',
    kernel.dir,
    ...(cmdline.includes('sig_enforce=1') ? ['--sig-enforce'] : []),
    ...modules,
  ]);
  assert.ok([0, 4, 5].includes(r.code), r.stderr);
  const predicted = (JSON.parse(r.stdout.toString('utf8')) as { modules: ModuleVerdict[] }).modules;
  const real = bootAndLoad(image(kernel), cmdline, modules);
  assert.equal(real.length, modules.length);
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
        `${kernel.set} ${cmdline || 'no enforcement'} ${path.basename(modules[i]!)}: ` +
          `predicted ${JSON.stringify(got)}, kernel ${JSON.stringify(want)} (${k.kernel_log.join(' | ')})`,
      );
    // every line predicted for the module (fatal or not) is one the kernel logged for it
    for (const r of p.reasons) {
      if (!r.log) continue;
      for (const line of r.log.split('\n'))
        if (!k.kernel_log.includes(line))
          failures.push(
            `${kernel.set} ${cmdline || 'no enforcement'} ${path.basename(modules[i]!)}: ` +
              `kernel did not log '${line}' (${r.code}; it logged: ${k.kernel_log.join(' | ')})`,
          );
    }
  });
}

test(
  "check agrees with Debian's 6.12 and 6.1 kernels booted under qemu",
  { skip: (!canBoot() || !cur || !prev || !k61) && 'needs root, the kit and the cached packages' },
  () => {
    const keys = path.join(TESTKERNEL, 'keys');
    // the matrix, one distinct module name per case so that one boot serves them all
    const same = save('same-build-dummy.ko', plain(cur!, 'dummy'));
    const nl = plain(cur!, 'nlmon');
    const stripped = save('stripped-nlmon.ko', nl.subarray(0, findModuleSignature(nl, 'nlmon')!.moduleLength));
    const flipped = Buffer.from(plain(cur!, 'ifb'));
    flipped[0x300]! ^= 0x01;
    const flippedPath = save('flipped-ifb.ko', flipped);
    const other = save('other-build-eql.ko', plain(prev!, 'eql'));
    const mii = Buffer.from(plain(prev!, 'mii'));
    const at = mii.indexOf(Buffer.from(`vermagic=${prev!.release} `, 'latin1'));
    assert.ok(at > 0 && prev!.release.length === cur!.release.length);
    mii.write(`vermagic=${cur!.release} `, at, 'latin1');
    const edited = save('vermagic-edited-mii.ko', mii);
    const old = save('6.1-tun.ko', plain(k61!, 'tun'));
    const veth = plain(cur!, 'veth');
    const vethUnsigned = save('veth-unsigned.ko', veth.subarray(0, findModuleSignature(veth, 'veth')!.moduleLength));
    const foreign = path.join(tmp, 'foreign-key-veth.ko');
    opensslSign(path.join(keys, 'direct.key'), path.join(keys, 'direct.crt'), vethUnsigned, foreign);
    const nodeps = save('missing-deps-macvtap.ko', plain(cur!, 'macvtap'));
    // marked as a live patch (`livepatch` in .modinfo, over its license): Debian builds
    // CONFIG_LIVEPATCH, so it loads and taints K (and P, and E unsigned)
    const ifb = plain(cur!, 'ifb');
    const live = Buffer.from(ifb.subarray(0, findModuleSignature(ifb, 'ifb')!.moduleLength));
    const lic = live.indexOf('license=GPL\0', 0, 'latin1');
    assert.ok(lic > 0);
    live.write('livepatch=Y', lic, 'latin1');
    // a namespaced import without its import_ns (EINVAL, "does not import it"), and a module
    // whose license gave way to `staging` (taint C, and P: its GPL-only imports are then unknown)
    const unsigned = (name: string): Buffer => {
      const b = plain(cur!, name);
      return Buffer.from(b.subarray(0, findModuleSignature(b, name)!.moduleLength));
    };
    const modinfoEdit = (b: Buffer, from: string, to: string): Buffer => {
      const i = b.indexOf(`${from}\0`, 0, 'latin1');
      assert.ok(i > 0, from);
      b.write(to, i, 'latin1');
      return b;
    };
    const noImport = save(
      'ns-missing-xcbc.ko',
      modinfoEdit(unsigned('xcbc'), 'import_ns=CRYPTO_INTERNAL', 'import_nx=CRYPTO_INTERNAL'),
    );
    const staging = save('staging-vmac.ko', modinfoEdit(unsigned('vmac'), 'license=GPL', 'staging=YYY'));
    const matrix = [
      same,
      stripped,
      flippedPath,
      other,
      edited,
      old,
      foreign,
      nodeps,
      save('livepatch-ifb.ko', live),
      noImport,
      staging,
    ];

    const failures: string[] = [];
    compare(cur!, '', matrix, failures);
    compare(cur!, 'module.sig_enforce=1', matrix, failures);
    // dependencies in order load
    compare(
      cur!,
      'module.sig_enforce=1',
      [
        save('macvlan.ko', plain(cur!, 'macvlan')),
        save('tap.ko', plain(cur!, 'tap')),
        save('macvtap.ko', plain(cur!, 'macvtap')),
      ],
      failures,
    );
    // the 6.1 kernel: its own module, a 6.12 module, a changed byte
    const flipped61 = Buffer.from(plain(k61!, 'ifb'));
    flipped61[0x300]! ^= 0x01;
    compare(
      k61!,
      '',
      [
        save('6.1-dummy.ko', plain(k61!, 'dummy')),
        save('6.12-eql.ko', plain(cur!, 'eql')),
        save('6.1-flipped-ifb.ko', flipped61),
      ],
      failures,
    );
    assert.deepEqual(failures, []);
  },
);

test(
  "BTF of another 6.12 build, confirmed by Debian's kernel: loads without BTF, as predicted",
  { skip: (!canBoot() || !cur || !prev) && 'needs root, the kit and both 6.12 packages' },
  () => {
    // Get a module of the other build past the earlier checks the way a forced load would: its
    // __versions section renamed (no CRCs: force-loaded, taint F) and its vermagic release edited.
    const m = Buffer.from(plain(prev!, 'eql'));
    const shoff = Number(m.readBigUInt64LE(0x28));
    const shstr = shoff + m.readUInt16LE(0x3e) * 64;
    const strOff = Number(m.readBigUInt64LE(shstr + 24));
    const strSize = Number(m.readBigUInt64LE(shstr + 32));
    const at = m.subarray(strOff, strOff + strSize).indexOf(Buffer.from('__versions\0', 'latin1'));
    assert.ok(at >= 0);
    m.write('__versionx', strOff + at, 'latin1');
    const vm = m.indexOf(Buffer.from(`vermagic=${prev!.release} `, 'latin1'));
    m.write(`vermagic=${cur!.release} `, vm, 'latin1');
    const file = save('other-build-btf-eql.ko', m);
    const r = runBin(['check', '--json', '--kernel', cur!.dir, file]);
    const p = (JSON.parse(r.stdout.toString('utf8')) as { modules: ModuleVerdict[] }).modules[0]!;
    const btf = p.reasons.find((x) => x.check === 'btf');
    assert.equal(btf?.code, 'btf-mismatch', 'the BTF of another build does not validate against this vmlinux');
    const [k] = bootAndLoad(image(cur!), '', [file]);
    assert.deepEqual([k!.loaded, k!.module_taint], [p.outcome !== 'rejected', p.taints]);
    assert.ok(
      k!.kernel_log.includes('Kernel module BTF mismatch detected, BTF debug info may be unavailable for some modules'),
      k!.kernel_log.join(' | '),
    );
    assert.ok(btf!.log!.includes('Kernel module BTF mismatch detected'));
  },
);

test(
  "the kernel's ELF checks (Debian 6.1): each malformed module refused as predicted, with the kernel's line",
  {
    skip: (!canBoot() || !k61) && 'needs root, the kit and the 6.1 package',
  },
  () => {
    const dummy = save('6.1-elf-base-dummy.ko', plain(k61!, 'dummy'));
    assert.deepEqual(
      compareElfVariants('6.1', k61!.dir, image(k61!), dummy, fs.mkdtempSync(path.join(tmp, 'elf-'))),
      [],
    );
  },
);

// 6.12.117 backported mainline 6.13's elf_validity_cache_sechdrs(), _secstrings(), _index_*(): both Debian 6.12 kernels run them
test(
  "the kernel's ELF checks (Debian 6.12.117 and later): each malformed module refused as predicted, with the kernel's line",
  {
    skip: (!canBoot() || !cur || !prev) && 'needs root, the kit and the 6.12 packages',
  },
  () => {
    const failures = [prev!, cur!].flatMap((k) => {
      const flow = elfCheckFlow('6.12', k.release);
      assert.equal(flow, '6.12.117', `${k.release}: the split checks`);
      const dummy = save(`${k.set}-elf-base-dummy.ko`, plain(k, 'dummy'));
      return compareElfVariants(flow, k.dir, image(k), dummy, fs.mkdtempSync(path.join(tmp, 'elf-'))).map(
        (f) => `${k.release}: ${f}`,
      );
    });
    assert.deepEqual(failures, []);
  },
);
