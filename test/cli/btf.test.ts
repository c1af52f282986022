/** `kmodseal btf dump|check` end to end: bpftool parity, verdicts and exit codes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { TESTKERNEL, corpus, have, modulesBelow, runBin } from '../helpers.js';
import type { BtfCheckJson } from '../../src/report/btf-check.js';

const sets = corpus();
const k61 = sets.find((s) => s.set === 'amd64-6.1')!;
const k612 = sets.find((s) => s.set === 'amd64-6.12')!;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-btfcli-'));
const vmlinux = path.join(TESTKERNEL, 'vmlinux');

test(
  'btf dump = bpftool (text and -j) for a test-kernel module and a Debian .ko.xz',
  { skip: !have('bpftool') && 'bpftool missing' },
  () => {
    const m = path.join(TESTKERNEL, 'modules/kms_hello.ko');
    assert.ok(
      runBin(['btf', 'dump', m, '--base', vmlinux]).stdout.equals(
        execFileSync('bpftool', ['-B', vmlinux, 'btf', 'dump', 'file', m, 'format', 'raw']),
      ),
    );
    assert.ok(
      runBin(['btf', 'dump', '--json', m, '--base', vmlinux]).stdout.equals(
        execFileSync('bpftool', ['-j', '-B', vmlinux, 'btf', 'dump', 'file', m, 'format', 'raw']),
      ),
    );
    const out = path.join(tmp, 'vmlinux-6.12');
    assert.equal(runBin(['kernel', '--extract-vmlinux', out, k612.dir]).code, 0);
    const xz = modulesBelow(k612.modulesDir).find((f) => f.endsWith('/dummy.ko.xz'))!;
    const plain = path.join(tmp, 'dummy.ko');
    fs.writeFileSync(plain, execFileSync('xz', ['-dc', xz]));
    const ours = runBin(['btf', 'dump', xz, '--base', k612.dir]);
    assert.equal(ours.code, 0, ours.stderr);
    assert.ok(
      ours.stdout.equals(
        execFileSync('bpftool', ['-B', out, 'btf', 'dump', 'file', plain, 'format', 'raw'], { maxBuffer: 1 << 28 }),
      ),
    );
  },
);

test('btf check: the test kernel accepts its modules (exit 0)', () => {
  const mods = ['kms_hello.ko', 'kms_export.ko', 'kms_user.ko', 'in-tree/dummy.ko'].map((m) =>
    path.join(TESTKERNEL, 'modules', m),
  );
  const r = runBin(['btf', 'check', '--json', '--kernel', vmlinux, ...mods]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout.toString()) as {
    kernel: { series: string; allowBtfMismatch: boolean };
    modules: BtfCheckJson[];
  };
  assert.equal(j.kernel.series, '6.12');
  assert.equal(j.kernel.allowBtfMismatch, false);
  assert.deepEqual(
    j.modules.map((m) => [m.module, m.status, m.loads]),
    [
      ['kms_hello', 'ok', true],
      ['kms_export', 'ok', true],
      ['kms_user', 'ok', true],
      ['dummy', 'ok', true],
    ],
  );
});

test('btf check: a 6.1 module against the 6.12 kernel: mismatch, loads only because Debian allows it; base types differ', () => {
  const m = modulesBelow(k61.modulesDir).find((f) => f.endsWith('/dummy.ko'))!;
  const r = runBin(['btf', 'check', '--json', '--kernel', k612.dir, '--built-against', k61.dir, m]);
  assert.equal(r.code, 4, r.stderr);
  const one = (JSON.parse(r.stdout.toString()) as { modules: BtfCheckJson[] }).modules[0]!;
  assert.equal(one.status, 'mismatch');
  assert.equal(one.loads, true);
  assert.ok(
    one.kernelLog.some((l) => /BTF mismatch detected/.test(l)),
    one.kernelLog.join('\n'),
  );
  assert.equal(one.semantic!.status, 'mismatched');
  // the text: each differing type once, with both descriptions; paths short enough to read
  const text = runBin(['btf', 'check', '--kernel', k612.dir, '--built-against', k61.dir, m]).stdout.toString();
  assert.match(
    text,
    /base types: MISMATCHED \(\d+\+? of \d+ referenced differ\)\n\s+\[\d+\]( vs \[\d+\])? .+\n\s+built against: .+\n\s+target: {8}.+\n/,
  );
  const first = one.semantic!.mismatches[0]!;
  assert.ok(text.includes(`built against: ${first.differsAt.build}\n`), text);
  assert.ok(
    text.split('\n').every((l) => l.length < 400),
    'no line runs on',
  );
  const strict = runBin(['btf', 'check', '--json', '--no-allow-btf-mismatch', '--kernel', k612.dir, m]);
  const s = (JSON.parse(strict.stdout.toString()) as { modules: BtfCheckJson[] }).modules[0]!;
  assert.equal(s.loads, false);
  assert.equal(s.errno, 'EINVAL');
  assert.ok(
    s.kernelLog.some((l) => /failed to validate module \[dummy\] BTF: -22/.test(l)),
    s.kernelLog.join('\n'),
  );
});

test('btf check: a module built against its own kernel is compatible; bad input and usage have their exit codes', () => {
  const xz = modulesBelow(k612.modulesDir).find((f) => f.endsWith('/dummy.ko.xz'))!;
  const r = runBin(['btf', 'check', '--kernel', k612.dir, '--built-against', k612.dir, xz]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.toString(), /BTF valid -> loads\n\s+base types: compatible/);
  const bad = path.join(tmp, 'bad.ko');
  fs.writeFileSync(bad, 'nope');
  assert.equal(runBin(['btf', 'check', '--kernel', vmlinux, bad]).code, 1);
  assert.equal(runBin(['btf', 'check', bad]).code, 2);
});

const prev = sets.find((s) => s.set === 'amd64-6.12-prev');
test(
  'which modules of the other 6.12 build fail BTF validation against this kernel, and why',
  { skip: !prev && 'no amd64-6.12-prev' },
  () => {
    const mods = modulesBelow(prev!.modulesDir).filter((_, i) => i % 10 === 0);
    const r = runBin(['btf', 'check', '--json', '--no-allow-btf-mismatch', '--kernel', k612.dir, ...mods]);
    assert.equal(r.code, 4, r.stderr);
    const out = (JSON.parse(r.stdout.toString()) as { modules: BtfCheckJson[] }).modules;
    const byReason = new Map<string, number>();
    for (const m of out)
      byReason.set(
        m.status === 'mismatch' ? `${m.errno}: ${m.reason}` : m.status,
        (byReason.get(m.status === 'mismatch' ? `${m.errno}: ${m.reason}` : m.status) ?? 0) + 1,
      );
    // every module either fails structurally or, when its split BTF happens to line up, passes; the reasons are the kernel's
    const failed = out.filter((m) => m.status === 'mismatch');
    assert.ok(
      failed.length > out.length / 2,
      `only ${failed.length} of ${out.length} failed: ${JSON.stringify([...byReason])}`,
    );
    for (const m of failed) {
      assert.ok(
        m.kernelLog.some((l) => l.startsWith('BPF: ')),
        m.module,
      );
      assert.ok(m.kernelLog.at(-1)!.startsWith(`failed to validate module [${m.module}] BTF: -`), m.kernelLog.at(-1));
    }
    // and its own build accepts the same modules' counterparts
    const own = modulesBelow(prev!.modulesDir).filter((_, i) => i % 200 === 0);
    assert.equal(runBin(['btf', 'check', '--kernel', prev!.dir, ...own]).code, 0);
  },
);

test(
  'without the original base: evidence of another base is reported as a heuristic, none for the own build',
  { skip: !prev && 'no amd64-6.12-prev' },
  () => {
    const pick = (k: typeof k612, n: string): string =>
      modulesBelow(k.modulesDir).find((f) => f.endsWith(`/${n}.ko.xz`))!;
    const names = ['dummy', 'veth', 'tun', 'ifb', 'nlmon', 'macvlan', 'eql', 'vrf'];
    const run = (mods: string[]): BtfCheckJson[] =>
      (
        JSON.parse(runBin(['btf', 'check', '--json', '--kernel', k612.dir, ...mods]).stdout.toString()) as {
          modules: BtfCheckJson[];
        }
      ).modules;
    for (const m of run(names.map((n) => pick(k612, n)))) {
      assert.equal(m.status, 'ok', m.module);
      assert.equal(m.heuristic!.status, 'no-evidence', `${m.module}: ${JSON.stringify(m.heuristic)}`);
      assert.ok(m.heuristic!.namesChecked + m.heuristic!.refsChecked > 0, m.module);
    }
    const other = run(names.map((n) => pick(prev!, n)));
    // modules the kernel accepts structurally still show traces of the other base
    const passed = other.filter((m) => m.status === 'ok');
    assert.ok(passed.length > 0, "some modules of the other build pass the kernel's own check");
    for (const m of passed) assert.equal(m.heuristic!.status, 'evidence-of-another-base', m.module);
    const text = runBin(['btf', 'check', '--kernel', k612.dir, ...passed.map((m) => m.file)]).stdout.toString();
    assert.match(text, /heuristic, no --built-against\): EVIDENCE of another base/);
  },
);

test('btf check/dump of modules with a distilled base (.BTF.base): relocatable, mismatch, 6.1 ignores it', async () => {
  const { oracleDistill } = await import('../btf/oracle.js');
  const src = path.join(TESTKERNEL, 'modules/kms_export.ko');
  const { base, split } = oracleDistill(src, vmlinux, 'cli');
  const build = (name: string, b: Uint8Array): string => {
    fs.writeFileSync(path.join(tmp, `${name}.base`), b);
    fs.writeFileSync(path.join(tmp, `${name}.split`), split);
    const out = path.join(tmp, `${name}.ko`);
    execFileSync('objcopy', [
      '--add-section',
      `.BTF.base=${path.join(tmp, `${name}.base`)}`,
      '--update-section',
      `.BTF=${path.join(tmp, `${name}.split`)}`,
      src,
      out,
    ]);
    return out;
  };
  const good = build('good', base);
  const broken = new Uint8Array(base);
  // the distilled INT 'int' becomes 'Znt', which vmlinux does not have
  const at = Buffer.from(broken).indexOf(Buffer.from('\0int\0', 'latin1'));
  assert.ok(at > 0);
  broken[at + 1] = 0x5a;
  const bad = build('bad', broken);

  const ok = runBin(['btf', 'check', '--json', '--kernel', vmlinux, good]);
  assert.equal(ok.code, 0, ok.stderr);
  const j = (JSON.parse(ok.stdout.toString()) as { modules: BtfCheckJson[] }).modules[0]!;
  assert.equal(j.status, 'relocatable');
  assert.equal(j.distilledBase?.used, true);
  assert.equal(j.distilledBase?.mapped, (j.distilledBase?.types ?? 0) - 1);
  assert.ok(j.distilledBase?.mappings?.some((m) => m.name === 'int' && m.kind === 'INT' && m.targetKind === 'INT'));
  assert.equal(j.heuristic, null);
  assert.match(
    runBin(['btf', 'check', '--kernel', vmlinux, good]).stdout.toString(),
    /relocatable: all \d+ types of its \.BTF\.base map onto/,
  );

  const no = runBin(['btf', 'check', '--kernel', vmlinux, bad]);
  assert.equal(no.code, 4);
  assert.match(no.stdout.toString(), /distilled base BTF type 'Znt' \[\d+\] is not mapped to base BTF id/);
  assert.match(no.stdout.toString(), /failed to validate module \[kms_export\] BTF: -22/);
  assert.match(
    runBin(['btf', 'check', '--allow-btf-mismatch', '--kernel', vmlinux, bad]).stdout.toString(),
    /loads without BTF/,
  );

  // 6.1 rules: .BTF.base is ignored and .BTF is checked against vmlinux (said in the output)
  const old = runBin(['btf', 'check', '--kernel', k61.dir, good]);
  assert.match(old.stdout.toString(), /\.BTF\.base: ignored by this kernel series \(6\.1\)/);

  // dump: on the distilled base without --base; relocated onto --base; refused when it cannot be
  const own = runBin(['btf', 'dump', good]);
  assert.equal(own.code, 0, own.stderr);
  const distTypes = j.distilledBase!.types!;
  assert.ok(own.stdout.toString().startsWith(`[${distTypes}] `), 'module types follow the distilled base');
  const rel = runBin(['btf', 'dump', good, '--base', vmlinux]);
  assert.equal(rel.code, 0, rel.stderr);
  // the first module id is one past vmlinux's last type (bpftool's dump of vmlinux)
  const vmTypes = execFileSync('bpftool', ['btf', 'dump', 'file', vmlinux, 'format', 'raw'], { maxBuffer: 1 << 28 })
    .toString()
    .match(/^\[(\d+)\] /gm)!;
  const firstId = Number(/\d+/.exec(vmTypes.at(-1)!)![0]) + 1;
  assert.ok(
    rel.stdout.toString().startsWith(`[${firstId}] `),
    "relocated: module types follow the test kernel's vmlinux types",
  );
  const refused = runBin(['btf', 'dump', bad, '--base', vmlinux]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /does not relocate onto .*not mapped to base BTF id/);
});
