/** detach → attach round trip on real Debian modules (.ko from 6.1, .ko.xz from 6.12), refusals, rollback. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { walkModules } from '../../src/io/files.js';
import { detach } from '../../src/repro/detach.js';
import { attach, AttachRefusedError } from '../../src/repro/attach.js';
import { parseManifest, MANIFEST_NAME } from '../../src/repro/manifest.js';
import { findModuleSignature } from '../../src/modsig/signature.js';
import { decompressModule } from '../../src/compress/index.js';
import { stripModuleSignature } from '../../src/sign/cms.js';
import { cachedSet, copySubset, copyTree, pickModules, stripTree, tmpDir, cmp } from './helpers.js';

const s61 = cachedSet('amd64-6.1');
const s612 = cachedSet('amd64-6.12');
const skip = !s61 || !s612 ? 'needs the amd64-6.1 and amd64-6.12 corpus (.cache/kernels/index.tsv)' : false;

let work = '';
let treeA = '';
let treeU = '';
let bundle = '';

/** Snapshot of a tree: relative path → bytes. */
function snapshot(root: string): Map<string, Buffer> {
  return new Map(walkModules(root).map((f) => [path.relative(root, f), fs.readFileSync(f)]));
}
function assertSameTree(a: Map<string, Buffer>, b: Map<string, Buffer>): void {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, v] of a) assert.ok(v.equals(b.get(k)!), `${k} changed`);
}

before(async () => {
  if (skip) return;
  work = tmpDir('detach');
  treeA = path.join(work, 'A');
  // 220 plain .ko (any size) + 80 small .ko.xz (xz at the kernel's preset runs ~2 MiB/s)
  copySubset(s61!.modulesDir, path.join(treeA, '6.1'), pickModules(s61!.modulesDir, 220));
  copySubset(s612!.modulesDir, path.join(treeA, '6.12'), pickModules(s612!.modulesDir, 80, 12_000));
  treeU = path.join(work, 'U');
  copyTree(treeA, treeU);
  await stripTree(treeU);
  bundle = path.join(work, 'bundle');
});
after(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test(
  'detach --keep writes sign-file -d blobs and a manifest, leaves the tree signed',
  { skip, timeout: 120_000 },
  async () => {
    const before = snapshot(treeA);
    const r = await detach(treeA, bundle, { keep: true });
    assert.equal(r.signed, 300);
    assert.equal(r.rewritten, 0);
    assertSameTree(before, snapshot(treeA));
    const manifest = parseManifest(fs.readFileSync(path.join(bundle, MANIFEST_NAME), 'utf8'), MANIFEST_NAME);
    assert.equal(manifest.modules.length, 300);
    const xz = manifest.modules.find((m) => m.compression === 'xz')!;
    const ko = manifest.modules.find((m) => m.compression === 'none')!;
    for (const rec of [xz, ko]) {
      assert.equal(rec.signature, `${rec.path}.sig`);
      assert.equal(rec.hashAlgorithm, rec === xz ? 'sha256' : rec.hashAlgorithm);
      assert.equal(rec.keyIdType, 'issuer-serial');
      assert.match(rec.keyId!, /^[0-9a-f]+$/);
      // the .sig is exactly the PKCS#7 blob of the module: what sign-file -d writes
      const { data } = await decompressModule(new Uint8Array(fs.readFileSync(path.join(treeA, rec.path))), rec.path);
      const sig = findModuleSignature(data, rec.path)!;
      assert.ok(Buffer.from(sig.sigData).equals(fs.readFileSync(path.join(bundle, rec.signature!))));
      assert.equal(rec.size, sig.moduleLength);
    }
  },
);

test(
  'attach to an independent unsigned build reproduces A byte for byte (.ko and .ko.xz)',
  { skip, timeout: 120_000 },
  async () => {
    const u = path.join(work, 'U-attach');
    copyTree(treeU, u);
    const r = await attach(bundle, u);
    assert.equal(r.attached, 300);
    const a = walkModules(treeA);
    assert.equal(a.filter((f) => f.endsWith('.ko.xz')).length, 80);
    for (const f of a) assert.ok(cmp(f, path.join(u, path.relative(treeA, f))), `${f} differs after attach`);
    // attaching again changes nothing
    assert.equal((await attach(bundle, u)).attached, 0);
  },
);

test('detach without --keep leaves the tree equal to the unsigned build', { skip, timeout: 120_000 }, async () => {
  const t = path.join(work, 'A-detach');
  copyTree(treeA, t);
  const b = path.join(work, 'bundle2');
  const r = await detach(t, b);
  assert.equal(r.rewritten, 300);
  for (const f of walkModules(treeU))
    assert.ok(cmp(f, path.join(t, path.relative(treeU, f))), `${f}: detached tree differs from the stripped copy`);
  await attach(b, t);
  for (const f of walkModules(treeA)) assert.ok(cmp(f, path.join(t, path.relative(treeA, f))));
});

test(
  'attach refuses a module whose content differs, names it, and writes nothing',
  { skip, timeout: 120_000 },
  async () => {
    const u = path.join(work, 'U-flip');
    copyTree(treeU, u);
    const victims = walkModules(u)
      .filter((f) => f.endsWith('.ko'))
      .slice(3, 4)
      .concat(
        walkModules(u)
          .filter((f) => f.endsWith('.ko.xz'))
          .slice(5, 6),
      );
    const { compressModule } = await import('../../src/sign/compressed.js');
    for (const v of victims) {
      const { data, compression } = await decompressModule(new Uint8Array(fs.readFileSync(v)), v);
      const copy = Uint8Array.prototype.slice.call(data);
      const at = Math.floor(copy.length / 2);
      copy[at] = copy[at]! ^ 0x01;
      fs.writeFileSync(v, await compressModule(copy, compression));
    }
    const before = snapshot(u);
    await assert.rejects(attach(bundle, u), (e: unknown) => {
      assert.ok(e instanceof AttachRefusedError);
      assert.equal(e.code, 'E_SIG');
      assert.deepEqual(
        e.problems.map((p) => [p.path, p.reason]),
        victims.map((v) => [path.relative(u, v), 'content-mismatch']).sort(),
      );
      for (const v of victims) assert.ok(e.message.includes(path.relative(u, v)));
      return true;
    });
    assertSameTree(before, snapshot(u));
  },
);

test(
  'attach refuses unpaired modules and signatures (both directions, and stray .sig files)',
  { skip, timeout: 120_000 },
  async () => {
    const u = path.join(work, 'U-unpaired');
    copyTree(treeU, u);
    const b = path.join(work, 'bundle-unpaired');
    copyTree(bundle, b);
    const mods = walkModules(u);
    const removed = path.relative(u, mods[10]!);
    fs.rmSync(mods[10]!);
    const extra = '6.1/extra/kmodseal-extra.ko';
    fs.mkdirSync(path.join(u, '6.1/extra'), { recursive: true });
    fs.copyFileSync(mods[11]!, path.join(u, extra));
    fs.writeFileSync(path.join(b, 'stray.ko.sig'), 'x');
    const before = snapshot(u);
    await assert.rejects(attach(b, u), (e: unknown) => {
      assert.ok(e instanceof AttachRefusedError);
      assert.deepEqual(
        e.problems.map((p) => [p.path, p.reason]),
        [
          [extra, 'module-without-signature'],
          [removed, 'signature-without-module'],
          ['stray.ko.sig', 'signature-file-unlisted'],
        ].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)),
      );
      return true;
    });
    assertSameTree(before, snapshot(u));
    // a .sig named by the manifest but missing
    fs.rmSync(path.join(b, 'stray.ko.sig'));
    fs.rmSync(path.join(u, extra));
    fs.copyFileSync(path.join(treeU, removed), path.join(u, removed));
    const rec = parseManifest(fs.readFileSync(path.join(b, MANIFEST_NAME), 'utf8'), MANIFEST_NAME).modules[7]!;
    fs.rmSync(path.join(b, rec.signature!));
    await assert.rejects(
      attach(b, u),
      (e: unknown) =>
        e instanceof AttachRefusedError &&
        e.problems.length === 1 &&
        e.problems[0]!.reason === 'signature-file-missing' &&
        e.problems[0]!.path === rec.signature,
    );
  },
);

test('a write failing midway rolls back the files already written', { skip, timeout: 120_000 }, async () => {
  const u = path.join(work, 'U-rollback');
  copyTree(treeU, u);
  const before = snapshot(u);
  await assert.rejects(
    attach(bundle, u, {
      beforeWrite: (_f, i) => {
        if (i === 150) throw new Error('simulated ENOSPC');
      },
    }),
    (e: unknown) =>
      e instanceof Error &&
      'code' in e &&
      e.code === 'E_IO' &&
      /simulated ENOSPC; 150 files already written were restored/.test(e.message),
  );
  assertSameTree(before, snapshot(u));
  for (const f of walkModules(u)) {
    const { data } = await decompressModule(new Uint8Array(fs.readFileSync(f)), f);
    assert.equal(stripModuleSignature(data, f).length, data.length, `${f} is signed after the rollback`);
  }
});
