/**
 * Differential tests: our raw/JSON dump against bpftool 7.1 (`bpftool [-B base] btf dump file
 * F format raw`), byte for byte, on vmlinux BTF (test kernel, Debian 6.1 and 6.12) and on
 * hundreds of Debian modules with their vmlinux as base.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseBtfFile } from '../../src/btf/btf.js';
import { dumpBtfJson, dumpBtfRaw } from '../../src/btf/dump.js';
import { decompressModule } from '../../src/compress/index.js';
import {
  bpftool,
  bpftoolBatchDump,
  CACHE,
  haveBpftool,
  kernelSets,
  moduleFiles,
  sample,
  TESTKERNEL,
  vmlinuxFor,
} from './helpers.js';

const skip = !haveBpftool() && 'bpftool not installed';

/** First differing line, for a readable failure. */
function firstDiff(a: string, b: string): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i])
      return `line ${i + 1}:\n  ours:    ${JSON.stringify(la[i])}\n  bpftool: ${JSON.stringify(lb[i])}`;
  }
  return 'identical';
}

function assertSame(ours: string, theirs: string, what: string): void {
  if (ours !== theirs) assert.fail(`${what}: dump differs from bpftool at ${firstDiff(ours, theirs)}`);
}

describe('btf dump vs bpftool: vmlinux', { skip }, () => {
  it('test kernel vmlinux (6.12.111), raw and JSON', () => {
    const f = join(TESTKERNEL, 'vmlinux');
    const btf = parseBtfFile(readFileSync(f), f);
    assertSame(dumpBtfRaw(btf), bpftool(['btf', 'dump', 'file', f, 'format', 'raw']), f);
    assertSame(dumpBtfJson(btf), bpftool(['-j', 'btf', 'dump', 'file', f, 'format', 'raw']), `${f} (json)`);
  });

  for (const k of kernelSets().filter((k) => k.arch === 'amd64')) {
    it(`Debian ${k.set} vmlinux (${k.release}), raw and JSON`, () => {
      const f = vmlinuxFor(k);
      assert.ok(f, `could not extract vmlinux from ${k.dir}`);
      const btf = parseBtfFile(readFileSync(f), f);
      assertSame(dumpBtfRaw(btf), bpftool(['btf', 'dump', 'file', f, 'format', 'raw']), f);
      assertSame(dumpBtfJson(btf), bpftool(['-j', 'btf', 'dump', 'file', f, 'format', 'raw']), `${f} (json)`);
    });
  }

  it('raw BTF input (objcopy-style .BTF blob) dumps like the ELF', () => {
    const f = join(TESTKERNEL, 'vmlinux');
    const btf = parseBtfFile(readFileSync(f), f);
    mkdirSync(CACHE, { recursive: true });
    const raw = join(CACHE, 'testkernel.btf');
    writeFileSync(raw, btf.data);
    assertSame(
      dumpBtfRaw(parseBtfFile(readFileSync(raw), raw)),
      bpftool(['btf', 'dump', 'file', raw, 'format', 'raw']),
      raw,
    );
  });
});

describe('btf dump vs bpftool: modules with base', { skip }, () => {
  it('every test kernel module, raw and JSON (-B vmlinux)', () => {
    const base = join(TESTKERNEL, 'vmlinux');
    const b = parseBtfFile(readFileSync(base), base);
    for (const m of ['kms_hello.ko', 'kms_export.ko', 'kms_user.ko', 'in-tree/dummy.ko'].map((n) =>
      join(TESTKERNEL, 'modules', n),
    )) {
      const btf = parseBtfFile(readFileSync(m), m, b);
      assertSame(dumpBtfRaw(btf), bpftool(['-B', base, 'btf', 'dump', 'file', m, 'format', 'raw']), m);
      assertSame(
        dumpBtfJson(btf),
        bpftool(['-j', '-B', base, 'btf', 'dump', 'file', m, 'format', 'raw']),
        `${m} (json)`,
      );
    }
  });

  // 300 modules per Debian set, spread over the tree; bpftool runs once per set in batch mode.
  for (const k of kernelSets().filter((k) => k.arch === 'amd64')) {
    it(`300 Debian ${k.set} modules against their vmlinux`, { timeout: 120_000 }, async () => {
      const base = vmlinuxFor(k);
      assert.ok(base, `could not extract vmlinux from ${k.dir}`);
      const b = parseBtfFile(readFileSync(base), base);
      const files = sample(moduleFiles(k), 300);
      assert.equal(files.length, 300);
      const plain: string[] = [];
      const ours: string[] = [];
      mkdirSync(join(CACHE, k.set), { recursive: true });
      for (const f of files) {
        const { data, compression } = await decompressModule(readFileSync(f), f);
        let path = f;
        if (compression !== 'none') {
          // bpftool reads only uncompressed ELF files
          path = join(
            CACHE,
            k.set,
            f
              .split('/')
              .pop()!
              .replace(/\.(xz|zst|gz)$/, ''),
          );
          writeFileSync(path, data);
        }
        plain.push(path);
        ours.push(dumpBtfRaw(parseBtfFile(data, path, b)));
      }
      assertSame(ours.join(''), bpftoolBatchDump(plain, base), `${k.set} modules`);
    });
  }
});
