/**
 * verifyModuleSignature on Debian's own signatures, trusting exactly the certificates built
 * into the matching vmlinuz (extracted by src/kernel): the verdict a booted Debian kernel reaches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { corpusModules61, corpusModules612Xz, sample } from './helpers.js';
import { loadKernelImage } from '../../src/kernel/load.js';
import { decompressModule } from '../../src/compress/index.js';
import { createTrustedKeyring, verifyModuleSignature, type KernelSeries } from '../../src/sign/verify.js';

/** lib/modules/<release>/kernel/x.ko → boot/vmlinuz-<release> of the same unpacked package. */
function vmlinuzFor(moduleFile: string): string | undefined {
  const m = /^(.*)\/lib\/modules\/([^/]+)\/kernel\//.exec(moduleFile);
  if (!m) return undefined;
  const p = path.join(m[1]!, 'boot', `vmlinuz-${m[2]!}`);
  return fs.existsSync(p) ? p : undefined;
}

for (const [series, modules] of [
  ['6.1', corpusModules61()],
  ['6.12', corpusModules612Xz()],
] as const) {
  const image = modules[0] ? vmlinuzFor(modules[0]) : undefined;
  test(
    `Debian ${series}: 100 modules verify ok against the vmlinuz builtin keys; a flipped byte is key-rejected`,
    { skip: image ? false : `needs the amd64-${series} corpus with its vmlinuz`, timeout: 300_000 },
    async () => {
      const kernel = await loadKernelImage(image!);
      const certs = (kernel.certificates?.certificates ?? []).map((c) => new Uint8Array(Buffer.from(c.der, 'base64')));
      assert.ok(certs.length > 0, 'the image carries builtin certificates');
      const ring = createTrustedKeyring(certs, series as KernelSeries);
      assert.equal(ring.rejected.length, 0);
      for (const [i, f] of sample(modules, 100).entries()) {
        const { data } = await decompressModule(new Uint8Array(fs.readFileSync(f)), f);
        const r = verifyModuleSignature(data, ring, { file: f });
        assert.equal(r.status, 'ok', `${f}: ${r.detail}`);
        if (i % 25 === 0) {
          const tampered = Uint8Array.from(data);
          tampered[64]! ^= 1;
          assert.equal(verifyModuleSignature(tampered, ring).status, 'key-rejected');
        }
      }
    },
  );
}
