/**
 * detach/attach on a tree where `x.ko` and `x.ko.xz` both exist (depmod picks one; the tree is
 * keyed by path): each file keeps its own signature, the round trip is bit-exact, and a bundle of
 * `x.ko.xz` still pairs with a rebuilt `x.ko` when that is the only candidate.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { walkModules } from '../../src/io/files.js';
import { detach } from '../../src/repro/detach.js';
import { attach, AttachRefusedError } from '../../src/repro/attach.js';
import { decompressModule } from '../../src/compress/index.js';
import { compressModule } from '../../src/sign/compressed.js';
import { cachedSet, cmp, copyTree, tmpDir } from './helpers.js';

const s61 = cachedSet('amd64-6.1');
const s612 = cachedSet('amd64-6.12');
const skip = !s61 || !s612 ? 'needs the amd64-6.1 and amd64-6.12 corpus (.cache/kernels/index.tsv)' : false;

let work = '';
let signed = '';

function find(root: string, name: string): string {
  const f = walkModules(root).find((p) => path.basename(p) === name);
  assert.ok(f, name);
  return f;
}

before(() => {
  if (skip) return;
  work = tmpDir('same-name');
  signed = path.join(work, 'signed');
  fs.mkdirSync(path.join(signed, 'net'), { recursive: true });
  // two different modules under one name: 6.1's veth.ko beside 6.12's veth.ko.xz
  fs.copyFileSync(find(s61!.modulesDir, 'veth.ko'), path.join(signed, 'net', 'veth.ko'));
  fs.copyFileSync(find(s612!.modulesDir, 'veth.ko.xz'), path.join(signed, 'net', 'veth.ko.xz'));
  fs.copyFileSync(find(s612!.modulesDir, 'dummy.ko.xz'), path.join(signed, 'net', 'dummy.ko.xz'));
});
after(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test(
  'x.ko beside x.ko.xz: detach unsigns both, attach of its bundle restores both bit for bit',
  { skip, timeout: 60_000 },
  async () => {
    const t = path.join(work, 'tree');
    copyTree(signed, t);
    const bundle = path.join(work, 'bundle');
    const d = await detach(t, bundle);
    assert.equal(d.signed, 3);
    assert.equal(d.rewritten, 3);
    assert.deepEqual(d.records.map((r) => r.signature).sort(), [
      'net/dummy.ko.xz.sig',
      'net/veth.ko.sig',
      'net/veth.ko.xz.sig',
    ]);
    const a = await attach(bundle, t);
    assert.equal(a.attached, 3);
    for (const f of walkModules(signed))
      assert.ok(cmp(f, path.join(t, path.relative(signed, f))), `${f} differs after the round trip`);
    // a second, independent unsigned build of the same tree
    const u = path.join(work, 'unsigned');
    copyTree(signed, u);
    await detach(u, path.join(work, 'discard'));
    await attach(bundle, u);
    for (const f of walkModules(signed))
      assert.ok(cmp(f, path.join(u, path.relative(signed, f))), `${f} differs in the second build`);
  },
);

test(
  'a bundle of x.ko.xz pairs with a rebuilt x.ko; an ambiguous pairing is refused',
  { skip, timeout: 60_000 },
  async () => {
    const one = path.join(work, 'one');
    fs.mkdirSync(one);
    fs.copyFileSync(path.join(signed, 'net', 'dummy.ko.xz'), path.join(one, 'dummy.ko.xz'));
    const bundle = path.join(work, 'bundle-one');
    await detach(one, bundle, { keep: true });
    const rebuilt = path.join(work, 'rebuilt');
    fs.mkdirSync(rebuilt);
    const f = path.join(one, 'dummy.ko.xz');
    const { data } = await decompressModule(new Uint8Array(fs.readFileSync(f)), f);
    fs.writeFileSync(path.join(rebuilt, 'dummy.ko'), data);
    await detach(rebuilt, path.join(work, 'discard-one'));
    assert.equal((await attach(bundle, rebuilt)).attached, 1);
    assert.ok(Buffer.from(data).equals(fs.readFileSync(path.join(rebuilt, 'dummy.ko'))));
    // two candidates (dummy.ko and dummy.ko.gz) for the one record dummy.ko.xz: refused, nothing written
    fs.writeFileSync(path.join(rebuilt, 'dummy.ko.gz'), await compressModule(data, 'gzip'));
    const before = fs.readFileSync(path.join(rebuilt, 'dummy.ko'));
    await assert.rejects(attach(bundle, rebuilt), (e: unknown) => {
      assert.ok(e instanceof AttachRefusedError);
      assert.deepEqual(
        e.problems.map((p) => [p.path, p.reason]),
        [
          ['dummy.ko', 'duplicate-module'],
          ['dummy.ko.gz', 'duplicate-module'],
        ],
      );
      return true;
    });
    assert.ok(before.equals(fs.readFileSync(path.join(rebuilt, 'dummy.ko'))));
  },
);
