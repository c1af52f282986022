/** `detach`, `attach`, `diff` as a user runs them: the multi-stage signing round trip and exit codes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { corpus, modulesBelow, runBin } from '../helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-repro-cli-'));
const k612 = corpus().find((s) => s.set === 'amd64-6.12')!;
const prev = corpus().find((s) => s.set === 'amd64-6.12-prev');

function tree(name: string, from: string, names: readonly string[]): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const n of names) {
    const f = modulesBelow(from).find((p) => p.endsWith(`/${n}`));
    assert.ok(f, n);
    fs.copyFileSync(f, path.join(dir, n));
  }
  return dir;
}
const names = ['dummy.ko.xz', 'veth.ko.xz', 'tun.ko.xz', 'ifb.ko.xz', 'nlmon.ko.xz'];

test('detach, attach to an unsigned build: byte for byte; diff says equal modulo signatures; exit codes', () => {
  const signed = tree('signed', k612.modulesDir, names);
  const build2 = tree('build2', k612.modulesDir, names);
  // the second build: unsigned (detach without --keep is how a build is left unsigned)
  assert.equal(runBin(['detach', build2, '--out', path.join(tmp, 'discard')]).code, 0);
  assert.equal(runBin(['diff', signed, build2]).code, 0, 'signatures only');
  const bundle = path.join(tmp, 'bundle');
  const d = runBin(['detach', '--keep', signed, '--out', bundle]);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout.toString(), /detached 5 signatures/);
  const a = runBin(['attach', bundle, build2]);
  assert.equal(a.code, 0, a.stderr);
  for (const n of names)
    assert.ok(fs.readFileSync(path.join(build2, n)).equals(fs.readFileSync(path.join(signed, n))), n);
  const same = runBin(['diff', '--json', signed, build2]);
  assert.equal(same.code, 0);
  assert.equal((JSON.parse(same.stdout.toString()) as { identical: boolean }).identical, true);
  // a changed module is refused by name and nothing is written
  const bad = tree('bad', k612.modulesDir, names);
  assert.equal(runBin(['detach', bad, '--out', path.join(tmp, 'discard2')]).code, 0);
  fs.copyFileSync(path.join(bad, 'veth.ko.xz'), path.join(bad, 'tun.ko.xz')); // another module's content under tun's name
  const before = names.map((n) => fs.readFileSync(path.join(bad, n)));
  const r = runBin(['attach', bundle, bad]);
  assert.equal(r.code, 4);
  assert.match(r.stderr, /tun\.ko/);
  names.forEach((n, i) => assert.ok(fs.readFileSync(path.join(bad, n)).equals(before[i]!), `${n} untouched`));
  assert.equal(runBin(['detach', signed]).code, 2);
});

test('diff against another build lists real differences (exit 4)', { skip: !prev && 'no amd64-6.12-prev' }, () => {
  const a = tree('cur', k612.modulesDir, names);
  const b = tree('prev', prev!.modulesDir, names);
  const r = runBin(['diff', a, b]);
  assert.equal(r.code, 4);
  assert.match(r.stdout.toString(), /module content differs at 0x[0-9a-f]+ .*sections?: .*\.modinfo/);
  assert.match(
    r.stdout.toString(),
    new RegExp(
      `^${names.length} differences besides signatures \\(${names.length} entries compared; 0 more differ only in their signatures\\)$`,
      'm',
    ),
  );
  // mixed: an unsigned copy of this build with one module of the other build
  const mixed = tree('mixed', k612.modulesDir, names);
  assert.equal(runBin(['detach', mixed, '--out', path.join(tmp, 'discard3')]).code, 0);
  fs.copyFileSync(path.join(b, 'dummy.ko.xz'), path.join(mixed, 'dummy.ko.xz'));
  const m = runBin(['diff', a, mixed]);
  assert.equal(m.code, 4);
  assert.match(m.stdout.toString(), /^dummy\.ko\.xz: module content differs at/m);
  assert.match(
    m.stdout.toString(),
    new RegExp(
      `^1 difference besides signatures \\(${names.length} entries compared; ${names.length - 1} more differ only in their signatures\\)$`,
      'm',
    ),
  );
});

for (const set of ['amd64-6.1', 'amd64-6.12']) {
  test(
    `the whole ${set} package: an unsigned build + detached signatures = the published tree, byte for byte`,
    { timeout: 900_000 },
    () => {
      const k = corpus().find((s) => s.set === set)!;
      const published = path.join(k.modulesDir, 'kernel');
      const second = path.join(tmp, `${set}-build`);
      fs.cpSync(published, second, { recursive: true });
      // the second build comes out unsigned
      assert.equal(runBin(['detach', second, '--out', path.join(tmp, `${set}-discard`)]).code, 0);
      const bundle = path.join(tmp, `${set}-bundle`);
      const d = runBin(['detach', '--keep', published, '--out', bundle]);
      assert.equal(d.code, 0, d.stderr);
      assert.equal(runBin(['attach', bundle, second]).code, 0);
      const files = modulesBelow(published);
      assert.ok(files.length > 4000);
      for (const f of files)
        assert.ok(fs.readFileSync(path.join(second, path.relative(published, f))).equals(fs.readFileSync(f)), f);
      fs.rmSync(second, { recursive: true, force: true });
    },
  );
}
