/**
 * `efi sbat --set` puts an SBAT into a kernel image before signing (objcopy extracts exactly the
 * CSV; sbsign then signs it and sbverify accepts it), and `efi verify --sbat-level` adds shim's
 * SBAT verdict to the firmware's: a revoked generation refuses the image (exit 4) even when db
 * trusts its signer.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers.js';
import { kernelPeImages, selfSigned, sh, tmpDir, unsignedImage, type KeyPair } from './helpers.js';

let dir = '';
let key: KeyPair;
let kernel = '';
const CSV =
  'sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n' +
  'linux,1,The Linux Developers,linux,6.12,https://linux.org\n' +
  'linux.kmodseal,1,kmodseal test,linux,6.12.118,https://example.invalid/\n';

before(() => {
  dir = tmpDir('efi-sbat-set');
  key = selfSigned(dir, 'db', 2048);
  const src = kernelPeImages().find((f) => /amd64$/.test(f));
  assert.ok(src, 'no amd64 kernel image in the package cache');
  kernel = unsignedImage(src, dir, 'vmlinuz');
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function ok(args: string[]): Promise<string> {
  const r = await runCli(args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout.toString();
}

test('efi sbat --set adds .sbat to a kernel image; objcopy extracts the CSV; signed, sbverify accepts it', async () => {
  const csv = path.join(dir, 'sbat.csv');
  fs.writeFileSync(csv, CSV);
  const out = path.join(dir, 'vmlinuz.sbat');
  const text = await ok(['efi', 'sbat', '--set', csv, '--output', out, kernel]);
  assert.match(text, /3 entries/);
  assert.match(text, /linux\.kmodseal,1/);
  const extracted = path.join(dir, 'extracted');
  sh('objcopy', ['-O', 'binary', '--only-section=.sbat', out, extracted]);
  assert.equal(fs.readFileSync(extracted, 'latin1'), CSV);
  // replacing it in place: a shorter one
  const csv2 = path.join(dir, 'sbat2.csv');
  fs.writeFileSync(csv2, CSV.split('\n').slice(0, 2).join('\n') + '\n');
  await ok(['efi', 'sbat', '--set', csv2, out]);
  sh('objcopy', ['-O', 'binary', '--only-section=.sbat', out, extracted]);
  assert.equal(fs.readFileSync(extracted, 'latin1'), fs.readFileSync(csv2, 'latin1'));
  const signed = path.join(dir, 'vmlinuz.signed');
  await ok(['efi', 'sign', '--key', key.key, '--cert', key.cert, '--output', signed, out]);
  sh('sbverify', ['--cert', key.cert, signed]);
  const j = JSON.parse(await ok(['efi', 'sbat', '--json', signed])) as { sbat: { entries: unknown[] } };
  assert.equal(j.sbat.entries.length, 2);
});

test('efi verify --sbat-level: shim refuses a revoked generation (exit 4) though db trusts the signer', async () => {
  const csv = path.join(dir, 'v.csv');
  fs.writeFileSync(csv, CSV);
  const withSbat = path.join(dir, 'v.sbat');
  await ok(['efi', 'sbat', '--set', csv, '--output', withSbat, kernel]);
  const signed = path.join(dir, 'v.signed');
  await ok(['efi', 'sign', '--key', key.key, '--cert', key.cert, '--output', signed, withSbat]);
  const revoking = path.join(dir, 'level-revoking');
  fs.writeFileSync(revoking, 'sbat,1,2099010100\nlinux.kmodseal,2\n');
  let r = await runCli(['efi', 'verify', '--cert', key.cert, '--sbat-level', revoking, '--json', signed]);
  assert.equal(r.code, 4, r.stderr);
  const j = JSON.parse(r.stdout.toString()) as {
    accepted: boolean;
    sbat: { allowed: boolean; reason: string; revoked: { component: string; generation: number; minimum: number } };
  };
  assert.equal(j.accepted, true, 'the firmware accepts it');
  assert.equal(j.sbat.allowed, false);
  assert.deepEqual(j.sbat.revoked, { component: 'linux.kmodseal', generation: 1, minimum: 2 });
  r = await runCli(['efi', 'verify', '--cert', key.cert, '--sbat-level', 'shim:latest', signed]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.toString(), /shim under SbatLevel shim:latest: allowed/);
  // the image without .sbat: shim refuses to start it itself under any non-empty level
  const bare = path.join(dir, 'bare.signed');
  await ok(['efi', 'sign', '--key', key.key, '--cert', key.cert, '--output', bare, kernel]);
  r = await runCli(['efi', 'verify', '--cert', key.cert, '--sbat-level', 'shim:latest', bare]);
  assert.equal(r.code, 4, r.stderr);
});

test('efi sbat --set refuses a signed image, a CSV shim would not read, or one without its sbat row: nothing written', async () => {
  const signed = path.join(dir, 'r.signed');
  await ok(['efi', 'sign', '--key', key.key, '--cert', key.cert, '--output', signed, kernel]);
  const csv = path.join(dir, 'r.csv');
  fs.writeFileSync(csv, CSV);
  const before = fs.readFileSync(signed);
  let r = await runCli(['efi', 'sbat', '--set', csv, signed]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /signed; remove its signatures first/);
  assert.deepEqual(fs.readFileSync(signed), before);
  const noHeader = path.join(dir, 'noheader.csv');
  fs.writeFileSync(noHeader, 'linux,1,x,linux,1,https://x\n');
  const out = path.join(dir, 'never');
  r = await runCli(['efi', 'sbat', '--set', noHeader, '--output', out, kernel]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /noheader\.csv: 0x0: sbat: the first row must be the 'sbat,1,\.\.\.' row/);
  assert.equal(fs.existsSync(out), false);
  r = await runCli(['efi', 'sbat', '--output', out, kernel]);
  assert.equal(r.code, 2, r.stderr);
});
