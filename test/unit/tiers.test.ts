/** The tiers themselves: scripts/run-tests.mjs assigns every test file one tier, and the unit tier reads nothing it may not. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function listed(...tiers: string[]): [string, string][] {
  const r = spawnSync(process.execPath, ['scripts/run-tests.mjs', ...tiers, '--list'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => l.split('\t') as [string, string]);
}

test('every *.test.ts under src/ and test/ is in exactly one tier, by its folder', () => {
  const all = listed('all');
  const onDisk = ['src', 'test']
    .flatMap((d) => fs.readdirSync(path.join(ROOT, d), { recursive: true, encoding: 'utf8' }).map((f) => `${d}/${f}`))
    .filter((f) => f.endsWith('.test.ts'))
    .sort();
  assert.deepEqual(all.map(([, f]) => f).sort(), onDisk);
  for (const [tier, f] of all) {
    const want = /^(src\/|test\/unit\/)/.test(f) ? 'unit' : /^test\/e2e\/[^/]+$/.test(f) ? 'e2e' : 'oracle';
    assert.equal(tier, want, f);
  }
  assert.deepEqual(
    listed('unit', 'e2e').map(([, f]) => f),
    all.filter(([t]) => t !== 'oracle').map(([, f]) => f),
  );
  assert.equal(spawnSync(process.execPath, ['scripts/run-tests.mjs', 'nope'], { cwd: ROOT }).status, 2);
});

test('the unit tier imports no corpus, kit or network helper and names no .cache/ path', () => {
  const unit = listed('unit').map(([, f]) => f);
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    // (this file names what it looks for)
    if (file !== 'test/unit/tiers.test.ts')
      // (network use: node:http/https/net or fetch(); a URL inside test data, e.g. an SBAT row, is not one)
      assert.doesNotMatch(text, /\.cache\b|TESTKERNEL|corpus\(|kernelSet\(|'node:(?:https?|net)'|\bfetch\(/, file);
    // follow relative imports into test/ (src/ is the code under test)
    for (const m of text.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), `${m[1]}.ts`));
      if (target.startsWith('test/')) visit(target);
    }
  };
  for (const f of unit) visit(f);
  assert.ok(seen.has('test/kernel/build-elf.ts') && seen.has('test/btf/build.ts'));
});
