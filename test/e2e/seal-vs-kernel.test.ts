/**
 * Real-kernel proof of signing and sealing: modules signed by kmodseal load under
 * module.sig_enforce=1 when the kernel trusts the key (RSA, ECDSA, a leaf with its chain
 * carried), are rejected otherwise; `seal --embed` binds a build: its modules load into the
 * patched vmlinux, another seal run's do not. Debian's kernel rejects its own module re-signed
 * with a foreign key. Each verdict is also what `check` predicts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { TESTKERNEL, corpus, modulesBelow, runBin } from '../helpers.js';
import { bootAndLoad, canBoot, type KernelLoad } from './kernel.js';
import type { ModuleVerdict } from '../../src/check/check.js';
import { nonMinimalLeaf } from '../pki/nonminimal.js';

const K = TESTKERNEL;
const keys = path.join(K, 'keys');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-seal-e2e-'));
const mod = (n: string): string => path.join(K, 'modules', n);

function signed(name: string, src: string, key: string, cert: string, extra: string[] = []): string {
  const dir = path.join(tmp, name);
  const r = runBin([
    'sign',
    '--key',
    path.join(keys, key),
    '--cert',
    path.join(keys, cert),
    '--out',
    dir,
    ...extra,
    src,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return path.join(dir, path.basename(src));
}

function agree(
  kernel: string,
  checkKernel: string,
  cmdline: string,
  modules: string[],
  expect: [boolean, string][],
): void {
  const real: KernelLoad[] = bootAndLoad(kernel, cmdline, modules);
  assert.deepEqual(
    real.map((k) => [k.loaded, k.errno_name]),
    expect,
    real.map((k) => `${k.module}: ${k.kernel_log.join(' | ')}`).join('\n'),
  );
  const c = runBin(['check', '--json', '--kernel', checkKernel, ...(cmdline ? ['--sig-enforce'] : []), ...modules]);
  const predicted = (JSON.parse(c.stdout.toString()) as { modules: ModuleVerdict[] }).modules;
  assert.deepEqual(
    predicted.map((m) => [m.outcome !== 'rejected', m.errno ?? 'OK']),
    expect,
    'check predicts the same',
  );
}

test(
  'kmodseal-signed modules under enforcement: trusted RSA, ECDSA and chains load; missing chain and untrusted keys are rejected',
  { skip: !canBoot() && 'needs root and the kit' },
  () => {
    const vm = path.join(K, 'vmlinux');
    const exportRsa = signed('rsa', mod('kms_export.ko'), 'direct.key', 'direct.crt');
    const userEc = signed('ec', mod('kms_user.ko'), 'ecdirect.key', 'ecdirect.crt', ['--hash', 'sha384']);
    const helloChain = signed('chain2', mod('kms_hello.ko'), 'leaf2.key', 'leaf2.crt', [
      '--chain',
      path.join(keys, 'inter.crt'),
    ]);
    const dummyLeaf = signed('chain1', mod('in-tree/dummy.ko'), 'leaf.key', 'leaf.crt', [
      '--chain',
      path.join(keys, 'leaf.crt'),
    ]);
    agree(
      vm,
      vm,
      'module.sig_enforce=1',
      [exportRsa, userEc, helloChain, dummyLeaf],
      [
        [true, 'OK'],
        [true, 'OK'],
        [true, 'OK'],
        [true, 'OK'],
      ],
    );
    const helloNoChain = signed('nochain', mod('kms_hello.ko'), 'leaf2.key', 'leaf2.crt');
    const exportUntrusted = signed('untrusted', mod('kms_export.ko'), 'untrusted.key', 'untrusted.crt');
    const dummySkid = signed('skid', mod('in-tree/dummy.ko'), 'direct.key', 'direct.crt', [
      '--key-id',
      'skid',
      '--hash',
      'sha512',
    ]);
    agree(
      vm,
      vm,
      'module.sig_enforce=1',
      [helloNoChain, exportUntrusted, dummySkid],
      [
        [false, 'EKEYREJECTED'],
        [false, 'EKEYREJECTED'],
        [true, 'OK'],
      ],
    );
  },
);

test(
  'a carried leaf whose TBS is not its DER re-encoding: the kernel verifies the raw bytes and loads it; check agrees',
  { skip: !canBoot() && 'needs root and the kit' },
  () => {
    // Before src/pki, check re-encoded the TBS and predicted EKEYREJECTED ("the carried chain's
    // issuer is trusted but its signature does not verify"); the kernel hashes cert->tbs as found.
    const leaf = nonMinimalLeaf();
    const pem = path.join(tmp, 'leaf-nonminimal.pem');
    fs.writeFileSync(pem, leaf.pem);
    const dir = path.join(tmp, 'nonminimal');
    const r = runBin(['sign', '--key', leaf.key, '--cert', pem, '--chain', pem, '--out', dir, mod('kms_hello.ko')]);
    assert.equal(r.code, 0, r.stderr);
    const vm = path.join(K, 'vmlinux');
    agree(vm, vm, 'module.sig_enforce=1', [path.join(dir, 'kms_hello.ko')], [[true, 'OK']]);
  },
);

test(
  "seal --embed binds a build: its modules load into the patched vmlinux, another run's are rejected",
  { skip: !canBoot() && 'needs root and the kit' },
  () => {
    const build = (name: string): { dir: string; vmlinux: string } => {
      const dir = path.join(tmp, name);
      fs.mkdirSync(dir);
      for (const m of ['kms_export.ko', 'kms_user.ko', 'kms_hello.ko', 'in-tree/dummy.ko'])
        fs.copyFileSync(mod(m), path.join(dir, path.basename(m)));
      const vmlinux = path.join(tmp, `${name}.vmlinux`);
      const r = runBin([
        'seal',
        '--kernel-tree',
        dir,
        '--type',
        'rsa2048',
        '--cert-out',
        path.join(tmp, `${name}.pem`),
        '--manifest',
        path.join(tmp, `${name}.json`),
        '--embed',
        path.join(K, 'vmlinux'),
        '--embed-out',
        vmlinux,
      ]);
      assert.equal(r.code, 0, r.stderr);
      return { dir, vmlinux };
    };
    const a = build('run-a');
    const b = build('run-b');
    const manifest = JSON.parse(fs.readFileSync(path.join(tmp, 'run-a.json'), 'utf8')) as {
      modules: { sha256Before: string; sha256After: string }[];
    };
    assert.equal(manifest.modules.length, 4);
    assert.ok(manifest.modules.every((m) => m.sha256Before !== m.sha256After));
    const mods = (d: string): string[] =>
      ['kms_export.ko', 'kms_user.ko', 'kms_hello.ko', 'dummy.ko'].map((n) => path.join(d, n));
    agree(a.vmlinux, a.vmlinux, 'module.sig_enforce=1', mods(a.dir), [
      [true, 'OK'],
      [true, 'OK'],
      [true, 'OK'],
      [true, 'OK'],
    ]);
    agree(a.vmlinux, a.vmlinux, 'module.sig_enforce=1', [path.join(b.dir, 'kms_hello.ko')], [[false, 'EKEYREJECTED']]);
  },
);

const k612 = corpus().find((s) => s.set === 'amd64-6.12');
test(
  "Debian's kernel rejects its own module re-signed with a foreign key",
  { skip: (!canBoot() || !k612) && 'needs root, the kit and the 6.12 package' },
  () => {
    const xz = modulesBelow(k612!.modulesDir).find((f) => f.endsWith('/dummy.ko.xz'))!;
    const resigned = signed('foreign', xz, 'direct.key', 'direct.crt');
    const plain = path.join(tmp, 'foreign-dummy.ko');
    fs.writeFileSync(plain, execFileSync('xz', ['-dc', resigned]));
    const image = path.join(
      k612!.dir,
      'boot',
      fs.readdirSync(path.join(k612!.dir, 'boot')).find((n) => n.startsWith('vmlinuz-'))!,
    );
    const real = bootAndLoad(image, 'module.sig_enforce=1', [plain]);
    assert.deepEqual(
      real.map((k) => [k.loaded, k.errno_name]),
      [[false, 'EKEYREJECTED']],
    );
    assert.deepEqual(real[0]!.kernel_log, ['Loading of module with unavailable key is rejected']);
    const c = runBin(['check', '--json', '--sig-enforce', '--kernel', k612!.dir, resigned]);
    assert.equal((JSON.parse(c.stdout.toString()) as { modules: ModuleVerdict[] }).modules[0]!.errno, 'EKEYREJECTED');
  },
);
