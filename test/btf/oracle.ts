/**
 * The distilled-base oracle: test/btf/oracle/btf-oracle.c linked with libbpf from the kernel's
 * own tools/lib/bpf (scripts/build-btf-oracle.sh builds it into .cache/btf-oracle/).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE, ROOT } from './helpers.js';

export const ORACLE = join(ROOT, '.cache/btf-oracle/btf-oracle');
export const DIR = join(CACHE, `relocate-${process.pid}`);

export interface OracleRelocation {
  status: 'ok' | 'fail';
  err: number;
  warnings: string[];
  relocated?: Buffer;
}

/** libbpf btf__distill_base(): raw distilled base and split BTF of `ko` (an uncompressed module file) on `vmlinux`. */
export function oracleDistill(ko: string, vmlinux: string, tag: string): { base: Uint8Array; split: Uint8Array } {
  mkdirSync(DIR, { recursive: true });
  const b = join(DIR, `${tag}.base`);
  const s = join(DIR, `${tag}.split`);
  const r = spawnSync(ORACLE, ['distill', ko, vmlinux, b, s], { encoding: 'utf8' });
  assert.equal(r.status, 0, `btf-oracle distill ${ko}: ${r.stderr}`);
  return { base: new Uint8Array(readFileSync(b)), split: new Uint8Array(readFileSync(s)) };
}

/** libbpf btf__relocate() of raw distilled base + split onto `vmlinux`. */
export function oracleRelocate(base: Uint8Array, split: Uint8Array, vmlinux: string, tag: string): OracleRelocation {
  mkdirSync(DIR, { recursive: true });
  const b = join(DIR, `${tag}.rbase`);
  const s = join(DIR, `${tag}.rsplit`);
  const o = join(DIR, `${tag}.rout`);
  writeFileSync(b, base);
  writeFileSync(s, split);
  const r = spawnSync(ORACLE, ['relocate', b, s, vmlinux, o], { encoding: 'utf8' });
  assert.equal(r.status, 0, `btf-oracle relocate: ${r.stderr}`);
  const warnings = r.stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/^libbpf: /, ''));
  const out = r.stdout.trim();
  if (out === 'ok') return { status: 'ok', err: 0, warnings, relocated: readFileSync(o) };
  const m = /^error (\d+)$/.exec(out);
  assert.ok(m, `btf-oracle said ${out}`);
  return { status: 'fail', err: -Number(m[1]), warnings };
}
