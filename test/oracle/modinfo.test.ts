/**
 * Differential test against kmod's modinfo (Debian 12, kmod 30) over every module of every
 * cached Debian kernel package: the outputs must be byte-identical.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corpus, modinfo, modulesBelow, runBin, firstDifference, have } from '../helpers.js';

const sets = corpus();

test('the corpus has the four required packages', () => {
  const names = sets.map((s) => s.set);
  for (const want of ['amd64-6.1', 'amd64-6.12', 'armhf-6.1', 's390x-6.1', 'arm64-6.1', 'amd64-6.12-prev'])
    assert.ok(names.includes(want), `missing ${want} (run scripts/fetch-kernels.sh)`);
  const ext = (set: string): string[] => [
    ...new Set(modulesBelow(sets.find((s) => s.set === set)!.modulesDir).map((f) => f.replace(/^.*?\.ko/, '.ko'))),
  ];
  assert.deepEqual(ext('amd64-6.1'), ['.ko']);
  assert.deepEqual(ext('amd64-6.12'), ['.ko.xz']);
});

for (const k of sets) {
  test(
    `inspect DIR == modinfo over every module of ${k.set} (${k.pkg} ${k.version})`,
    { skip: !have('modinfo') && 'modinfo missing' },
    () => {
      const files = modulesBelow(k.modulesDir);
      assert.ok(files.length > 1000, `${k.set}: only ${files.length} modules`); // cloud flavours have about 1,100
      const ours = runBin(['inspect', k.modulesDir]);
      assert.equal(ours.stderr, '');
      assert.equal(ours.code, 0);
      const theirs = modinfo([], files);
      if (!ours.stdout.equals(theirs)) assert.fail(firstDifference(ours.stdout, theirs));
    },
  );
}

test(
  '-F, -p, -n, -0 and -a agree with modinfo (sample of each package)',
  { skip: !have('modinfo') && 'modinfo missing' },
  () => {
    for (const k of sets) {
      const files = modulesBelow(k.modulesDir).filter((_, i) => i % 40 === 0);
      for (const args of [
        ['-F', 'signer'],
        ['-F', 'sig_key'],
        ['-F', 'parm'],
        ['-F', 'alias'],
        ['-F', 'vermagic'],
        ['-p'],
        ['-n'],
        ['-a'],
        ['-0'],
        ['-F', 'depends', '-0'],
        ['-F', 'nosuchfield'],
      ]) {
        const ours = runBin(['inspect', ...args, ...files]);
        const theirs = modinfo(args, files);
        if (!ours.stdout.equals(theirs))
          assert.fail(`${k.set} ${args.join(' ')}: ${firstDifference(ours.stdout, theirs)}`);
      }
    }
  },
);

test(
  'names and aliases resolve like modinfo -b BASEDIR -k RELEASE',
  { skip: !have('modinfo') && 'modinfo missing' },
  () => {
    const k = sets.find((s) => s.set === 'amd64-6.1')!;
    for (const name of [
      'dummy',
      'rtnl-link-dummy',
      'e1000e',
      'crc32c-generic',
      'amd_uncore',
      'unix',
      'fs-ext4',
      'pci:v00008086d00005511sv00001234sd00005678bc02sc00i00',
    ]) {
      const ours = runBin(['inspect', '-b', k.dir, '-k', k.release, name]);
      const theirs = modinfo(['-b', k.dir, '-k', k.release], [name]);
      assert.equal(ours.code, 0, `${name}: ${ours.stderr}`);
      if (!ours.stdout.equals(theirs)) assert.fail(`${name}: ${firstDifference(ours.stdout, theirs)}`);
    }
    const m = runBin(['inspect', '-m', '-b', k.dir, '-k', k.release, 'dummy']);
    assert.ok(m.stdout.equals(modinfo(['-m', '-b', k.dir, '-k', k.release], ['dummy'])));
    const missing = runBin(['inspect', '-b', k.dir, '-k', k.release, 'no_such_module_here']);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /Module no_such_module_here not found/);
  },
);

test(
  'relative paths print as modinfo prints them (cwd-joined, unnormalised)',
  { skip: !have('modinfo') && 'modinfo missing' },
  () => {
    const k = sets.find((s) => s.set === 'amd64-6.12')!;
    const file = modulesBelow(k.modulesDir).find((f) => f.endsWith('/dummy.ko.xz'))!;
    const rel = './' + file.slice(k.dir.length + 1);
    const ours = runBin(['inspect', rel], { cwd: k.dir });
    assert.ok(ours.stdout.equals(modinfo([], [rel], k.dir)), ours.stdout.toString());
  },
);
