/**
 * Secure Boot (Authenticode) signatures and SBAT of PE/EFI images, read-only, against
 * osslsigncode (calculated digest), sbverify (signer) and objcopy (.sbat).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { corpus, have } from '../helpers.js';
import { readPeSignatures } from '../../src/pe/authenticode.js';
import { parsePe } from '../../src/pe/pe.js';
import { KmodsealError } from '../../src/bytes/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-pe-'));
const images = corpus()
  .filter((k) => ['amd64-6.1', 'amd64-6.12', 'arm64-6.1'].includes(k.set))
  .map((k) =>
    path.join(
      k.dir,
      'boot',
      fs.readdirSync(path.join(k.dir, 'boot')).find((n) => n.startsWith('vmlinuz-'))!,
    ),
  );

test(
  'Debian vmlinuz: signer as sbverify lists it, digest as osslsigncode calculates it',
  { skip: !(have('osslsigncode') && have('sbverify')) && 'osslsigncode/sbverify missing' },
  () => {
    assert.ok(images.length >= 3);
    for (const img of images) {
      const sigs = readPeSignatures(fs.readFileSync(img), img);
      assert.equal(sigs.signatures.length, 1, img);
      const s = sigs.signatures[0]!;
      const ossl = spawnSync('osslsigncode', ['verify', '-in', img], { encoding: 'utf8' }).stdout;
      const calc = /Calculated message digest\s*:\s*([0-9A-F]+)/.exec(ossl)![1]!.toLowerCase();
      assert.equal(s.imageDigest, calc, img);
      assert.ok(s.digestMatches);
      const sb = spawnSync('sbverify', ['--list', img], { encoding: 'utf8' }).stdout;
      assert.ok(sb.includes(`subject: /${s.signers[0]!.subject!.replace(/, /g, '/')}`), sb);
      assert.ok(sb.includes(`/${s.signers[0]!.issuer}`), sb);
    }
  },
);

test('a changed byte in the image breaks the digest; a truncated image is a typed error', () => {
  const img = images[0]!;
  const data = Buffer.from(fs.readFileSync(img));
  const pe = parsePe(data, img);
  const text = pe.sections.find((s) => s.sizeOfRawData > 0)!;
  data[text.pointerToRawData + 100]! ^= 0xff;
  const s = readPeSignatures(data, img).signatures[0]!;
  assert.equal(s.digestMatches, false);
  assert.throws(
    () => readPeSignatures(data.subarray(0, pe.certTable!.offset + 100), img),
    (e: KmodsealError) => e instanceof KmodsealError && /E_RANGE|E_TRUNCATED/.test(e.code),
  );
  assert.throws(
    () => parsePe(Buffer.from('MZ not a pe at all, really not'), 'x'),
    (e: KmodsealError) => e.code === 'E_MAGIC',
  );
});

const stub = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';
test(
  "SBAT of the systemd EFI stub equals objcopy's .sbat; an unsigned PE has no signatures",
  { skip: !fs.existsSync(stub) && 'systemd-boot-efi missing' },
  () => {
    const out = path.join(tmp, 'sbat.bin');
    execFileSync('objcopy', ['-O', 'binary', '--only-section=.sbat', stub, out]);
    const theirs = fs.readFileSync(out, 'latin1').replace(/\0+$/, '');
    const sigs = readPeSignatures(fs.readFileSync(stub), stub);
    assert.equal(sigs.sbat, theirs);
    assert.match(sigs.sbat!, /^sbat,1,/);
    assert.equal(sigs.signatures.length, 0);
  },
);
