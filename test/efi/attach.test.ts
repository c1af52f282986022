/**
 * `kmodseal efi detach` / `efi attach` against sbattach (sbsigntools): the same signature files,
 * the same images after --remove and --attach, for every signed image of the corpus (Debian's
 * signed kernels, shim with its two Microsoft signatures, GRUB); Debian's signed images taken
 * apart and put back together bit for bit; a signature over another image refused.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers.js';
import { peImages, run, selfSigned, sh, tmpDir, unsignedImage, type KeyPair } from './helpers.js';
import { parsePe } from '../../src/pe/pe.js';

let dir = '';
let signed: { name: string; src: string; count: number }[] = [];
let key: KeyPair;

before(() => {
  dir = tmpDir('efi-attach');
  key = selfSigned(dir, 'k', 2048);
  signed = peImages().flatMap((src, i) => {
    const count = parsePe(fs.readFileSync(src), src).certificates.length;
    return count ? [{ name: `${i}-${path.basename(src)}`, src, count }] : [];
  });
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function copy(src: string, name: string): string {
  const f = path.join(dir, name);
  fs.copyFileSync(src, f);
  return f;
}

function same(ours: string, theirs: string, what: string): void {
  const x = fs.readFileSync(ours);
  const y = fs.readFileSync(theirs);
  assert.equal(x.length, y.length, `${what}: ${x.length} bytes, sbattach ${y.length}`);
  assert.equal(
    x.findIndex((v, i) => v !== y[i]),
    -1,
    `${what}: differs from sbattach`,
  );
}

async function cli(args: string[]): Promise<string> {
  const r = await runCli(['efi', ...args]);
  assert.equal(r.code, 0, `efi ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.toString();
}

test('the corpus has signed images, one of them with two signatures', () => {
  assert.ok(signed.length >= 15, `only ${signed.length} signed images`);
  assert.ok(
    signed.some((s) => s.count === 2),
    'no image with two signatures (shim-signed)',
  );
});

test('efi detach --signum N writes what sbattach --detach --signum N writes, for every signature', async () => {
  for (const img of signed)
    for (let n = 1; n <= img.count; n++) {
      const ours = path.join(dir, `${img.name}.${n}.ours.p7`);
      const theirs = path.join(dir, `${img.name}.${n}.sbattach.p7`);
      await cli(['detach', '--signum', String(n), '--output', ours, img.src]);
      sh('sbattach', ['--detach', theirs, '--signum', String(n), img.src]);
      same(ours, theirs, `${img.name} signature ${n}`);
    }
});

test('efi detach --remove leaves the image as sbattach --remove does, signature by signature', async () => {
  for (const img of signed.filter((s) => s.count === 2 || /vmlinuz|grubx64/.test(s.name))) {
    for (let n = 1; n <= img.count; n++) {
      const ours = copy(img.src, `${img.name}.rm${n}.ours`);
      const theirs = copy(img.src, `${img.name}.rm${n}.sbattach`);
      await cli(['detach', '--remove', '--signum', String(n), ours]);
      sh('sbattach', ['--remove', '--signum', String(n), theirs]);
      same(ours, theirs, `${img.name} without signature ${n}`);
    }
    // all of them: the table gone, DataDirectory[4] {0, 0}
    const ours = copy(img.src, `${img.name}.rmall.ours`);
    const theirs = copy(img.src, `${img.name}.rmall.sbattach`);
    for (let n = 0; n < img.count; n++) {
      await cli(['detach', '--remove', ours]);
      sh('sbattach', ['--remove', theirs]);
    }
    same(ours, theirs, `${img.name} without any signature`);
    assert.equal(parsePe(fs.readFileSync(ours), ours).certTable, undefined);
  }
});

test("Debian's signed images come apart and go back together bit for bit (the linux-signed flow)", async () => {
  for (const img of signed) {
    const work = copy(img.src, `${img.name}.roundtrip`);
    const sigs: string[] = [];
    for (let n = 1; n <= img.count; n++) {
      const sig = path.join(dir, `${img.name}.rt${n}.p7`);
      await cli(['detach', '--output', sig, '--remove', work]);
      sigs.push(sig);
    }
    assert.equal(parsePe(fs.readFileSync(work), work).certTable, undefined, `${img.name}: still signed`);
    const theirs = copy(work, `${img.name}.roundtrip.sbattach`);
    for (const sig of sigs) {
      await cli(['attach', '--signature', sig, work]);
      sh('sbattach', ['--attach', sig, theirs]);
    }
    same(work, theirs, `${img.name} reattached`);
    same(work, img.src, `${img.name} reattached, against the package's file`);
  }
});

test('efi sign --detached, then efi attach, equals efi sign; onto a signed image, equals sbattach --attach', async () => {
  const unsigned = unsignedImage(signed[0]!.src, dir, 'u.efi');
  const sig = path.join(dir, 'u.p7');
  const direct = path.join(dir, 'u.direct');
  const t = ['--signing-time', '@1704164645', '--key', key.key, '--cert', key.cert];
  await cli(['sign', ...t, '--detached', '--output', sig, unsigned]);
  await cli(['sign', ...t, '--output', direct, unsigned]);
  const attached = path.join(dir, 'u.attached');
  const json = JSON.parse(await cli(['attach', '--signature', sig, '--output', attached, '--json', unsigned])) as {
    digestMatches: boolean;
    signatures: number;
    signers: { subject: string }[];
  };
  same(attached, direct, 'attach of a detached signature');
  assert.equal(json.digestMatches, true);
  assert.equal(json.signatures, 1);
  assert.match(json.signers[0]!.subject, /kmodseal efi k/);
  assert.deepEqual(fs.readFileSync(unsigned), fs.readFileSync(unsignedImage(signed[0]!.src, dir, 'u2.efi')));
  // a second signature on an already signed image (the Debian-signed original): as sbattach appends it
  const src = signed.find((s) => s.count === 1)!.src;
  const prepared = copy(src, 'two.ours');
  const theirs = copy(src, 'two.sbattach');
  const sig2 = path.join(dir, 'two.p7');
  await cli(['sign', ...t, '--detached', '--output', sig2, src]);
  await cli(['attach', '--signature', sig2, prepared]);
  sh('sbattach', ['--attach', sig2, theirs]);
  same(prepared, theirs, 'a second signature attached');
  sh('sbverify', ['--cert', key.cert, prepared]);
});

test('a signature over another image is refused (nothing written) unless --force, which attaches as sbattach', async () => {
  const a = unsignedImage(signed[0]!.src, dir, 'a.efi');
  const b = unsignedImage(signed[1]!.src, dir, 'b.efi');
  const sig = path.join(dir, 'a.p7');
  await cli(['sign', '--signing-time', '@0', '--key', key.key, '--cert', key.cert, '--detached', '--output', sig, a]);
  const before = fs.readFileSync(b);
  const r = await runCli(['efi', 'attach', '--signature', sig, b]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /a\.p7: the signature is over another image .*--force/);
  assert.deepEqual(fs.readFileSync(b), before, 'the image was changed');
  const theirs = copy(b, 'b.sbattach');
  await cli(['attach', '--force', '--signature', sig, b]);
  sh('sbattach', ['--attach', sig, theirs]);
  same(b, theirs, 'forced attach');
  assert.notEqual(run('sbverify', ['--cert', key.cert, b]).code, 0, 'sbverify accepts a signature over another image');
});

test('bad use and bad input: exit codes, messages, nothing written', async () => {
  const img = signed[0]!;
  const unsigned = unsignedImage(img.src, dir, 'bad.efi');
  let r = await runCli(['efi', 'detach', img.src]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /needs --output SIG, --remove, or both/);
  r = await runCli(['efi', 'detach', '--signum', String(img.count + 1), '--output', path.join(dir, 'x.p7'), img.src]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`carries ${img.count} signature`));
  assert.equal(fs.existsSync(path.join(dir, 'x.p7')), false);
  r = await runCli(['efi', 'detach', '--signum', 'one', '--output', path.join(dir, 'x.p7'), img.src]);
  assert.equal(r.code, 2, r.stderr);
  r = await runCli(['efi', 'detach', '--remove', unsigned]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /carries no signature/);
  // not a PKCS#7
  const junk = path.join(dir, 'junk.p7');
  fs.writeFileSync(junk, Buffer.from('not a signature'));
  const before = fs.readFileSync(unsigned);
  r = await runCli(['efi', 'attach', '--signature', junk, unsigned]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /junk\.p7: 0x[0-9a-f]+: /);
  assert.deepEqual(fs.readFileSync(unsigned), before);
  // a truncated image
  const cut = path.join(dir, 'cut.efi');
  fs.writeFileSync(cut, fs.readFileSync(img.src).subarray(0, 300));
  r = await runCli(['efi', 'detach', '--remove', cut]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /cut\.efi: 0x[0-9a-f]+: pe: .*E_RANGE/);
  assert.equal(fs.readFileSync(cut).length, 300);
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.includes('.tmp')),
    [],
    'a temporary file was left',
  );
});
