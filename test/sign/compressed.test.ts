/** Re-signing compressed modules: .ko.xz byte-identical to the xz CLI with the kernel's options; .zst and .gz round trips. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { corpusModules612Xz, have, run, sample, tmpDir } from './helpers.js';
import { generateSigningKey } from '../../src/keys/keygen.js';
import { createNodeSigner } from '../../src/keys/node-signer.js';
import { signModuleFile, xzCompress } from '../../src/sign/compressed.js';
import { verifyModuleSignature } from '../../src/sign/verify.js';
import { decompressModule } from '../../src/compress/index.js';
import { findModuleSignature } from '../../src/modsig/signature.js';

const xzModules = corpusModules612Xz();
const skip = xzModules.length === 0 || !have('xz') ? 'needs the amd64-6.12 corpus and xz' : false;
let dir = '';
before(() => {
  dir = tmpDir('compressed');
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test(
  '.ko.xz re-signed: modinfo sees the new signer, xz -t passes, bytes equal xz --check=crc32 --lzma2=dict=1MiB of the signed .ko',
  { skip, timeout: 300_000 },
  async () => {
    const key = await generateSigningKey({ type: 'rsa2048', subject: 'CN=kmodseal xz test' });
    const signer = createNodeSigner(key.privateKey, key.certificate);
    // small and mid-sized modules: xz at preset-6 settings runs ~3 MiB/s
    const picked = sample(
      xzModules.filter((f) => fs.statSync(f).size < 60_000),
      16,
    );
    for (const [i, src] of picked.entries()) {
      const original = new Uint8Array(fs.readFileSync(src));
      const out = await signModuleFile(original, signer, { file: src });
      assert.equal(out.compression, 'xz');
      const xzFile = path.join(dir, `${i}.ko.xz`);
      fs.writeFileSync(xzFile, out.data);
      assert.equal(run('xz', ['-t', xzFile]).code, 0, `${src}: xz -t`);
      const koFile = path.join(dir, `${i}.ko`);
      fs.writeFileSync(koFile, out.signed);
      const cli = run('xz', ['--check=crc32', '--lzma2=dict=1MiB', '-c', koFile]);
      assert.equal(cli.code, 0);
      assert.ok(cli.stdout.equals(Buffer.from(out.data)), `${src}: differs from the xz CLI`);
      assert.equal(run('modinfo', ['-F', 'signer', xzFile]).stdout.toString().trim(), 'kmodseal xz test');
      const dec = await decompressModule(out.data, xzFile);
      assert.equal(verifyModuleSignature(dec.data, [key.certificate], { kernel: '6.12' }).status, 'ok');
      // Debian's signature was replaced, not stacked
      const debian = await decompressModule(original, src);
      assert.equal(
        findModuleSignature(dec.data, xzFile)!.moduleLength,
        findModuleSignature(debian.data, src)!.moduleLength,
      );
    }
  },
);

test(
  'xz encoder reproduces Debian 6.12 .ko.xz files byte for byte (unchanged content)',
  { skip, timeout: 300_000 },
  async () => {
    for (const src of sample(
      xzModules.filter((f) => fs.statSync(f).size < 40_000),
      12,
    )) {
      const original = new Uint8Array(fs.readFileSync(src));
      const { data } = await decompressModule(original, src);
      assert.ok(Buffer.from(await xzCompress(data)).equals(Buffer.from(original)), src);
    }
  },
);

test(
  '.ko.zst and .ko.gz re-signed: the CLI tools decompress them to the signed ELF',
  { skip: skip || !have('zstd') ? 'needs zstd' : false },
  async () => {
    const key = await generateSigningKey({ type: 'p256' });
    const signer = createNodeSigner(key.privateKey, key.certificate);
    const src = sample(
      xzModules.filter((f) => fs.statSync(f).size < 30_000),
      1,
    )[0]!;
    const { data: elf } = await decompressModule(new Uint8Array(fs.readFileSync(src)), src);
    for (const [ext, cmd, args] of [
      ['.ko.zst', 'zstd', ['-d', '-c', '-q']],
      ['.ko.gz', 'gzip', ['-d', '-c']],
    ] as const) {
      const f = path.join(dir, `z${ext}`);
      fs.writeFileSync(
        f,
        ext === '.ko.zst'
          ? run('zstd', ['-q', '-c'], { input: elf }).stdout
          : run('gzip', ['-n', '-c'], { input: elf }).stdout,
      );
      const out = await signModuleFile(new Uint8Array(fs.readFileSync(f)), signer, { file: f });
      assert.equal(out.compression, ext === '.ko.zst' ? 'zstd' : 'gzip');
      fs.writeFileSync(f, out.data);
      const r = run(cmd, [...args, f]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.equals(Buffer.from(out.signed)));
      assert.equal(verifyModuleSignature(out.signed, [key.certificate]).status, 'ok');
      if (ext === '.ko.gz')
        assert.deepEqual(
          [...out.data.subarray(3, 10)],
          [0, 0, 0, 0, 0, 0, 3],
          'gzip -n header: no name, mtime 0, OS unix',
        );
    }
  },
);

test('signModulePath: in place keeps the mode and compression; dest and .p7s; verifyModulePath', { skip }, async () => {
  const { signModulePath, verifyModulePath, readUnsignedModule } = await import('../../src/sign/files.js');
  const key = await generateSigningKey({ type: 'p256', subject: 'CN=kmodseal file test' });
  const signer = createNodeSigner(key.privateKey, key.certificate);
  const src = sample(
    xzModules.filter((f) => fs.statSync(f).size < 30_000),
    1,
  )[0]!;
  const f = path.join(dir, 'inplace.ko.xz');
  fs.copyFileSync(src, f);
  fs.chmodSync(f, 0o640);
  const p7s = path.join(dir, 'inplace.p7s');
  const r = await signModulePath(f, signer, { p7sPath: p7s });
  assert.equal(r.compression, 'xz');
  assert.equal(fs.statSync(f).mode & 0o777, 0o640);
  assert.equal((await verifyModulePath(f, [key.certificate])).status, 'ok');
  assert.equal((await verifyModulePath(src, [key.certificate])).status, 'no-matching-key');
  const unsigned = await readUnsignedModule(f);
  const dec = await decompressModule(new Uint8Array(fs.readFileSync(f)), f);
  assert.ok(
    Buffer.from(dec.data.subarray(unsigned.length, unsigned.length + fs.statSync(p7s).size)).equals(
      fs.readFileSync(p7s),
    ),
  );
  const dest = path.join(dir, 'dest.ko.xz');
  await signModulePath(src, signer, { dest });
  assert.equal(run('modinfo', ['-F', 'signer', dest]).stdout.toString().trim(), 'kmodseal file test');
  assert.equal(fs.readdirSync(dir).filter((x) => x.endsWith('.tmp')).length, 0);
});
