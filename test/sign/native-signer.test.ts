/**
 * The native signer (native/crypto.c): when it is built, in-memory keys sign through the system
 * libcrypto or the newer one scripts/build-openssl.sh built (not node's bundled OpenSSL), RSA output
 * stays byte-identical to node:crypto's and to sign-file's, ECDSA output verifies with openssl, workers load it, and without it (or with
 * KMODSEAL_NO_NATIVE_CRYPTO=1) node:crypto signs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { corpusModules61, opensslKernelKey, run, sample, SIGN_FILE, tmpDir, unsignedCopy } from './helpers.js';
import { createNodeSigner } from '../../src/keys/node-signer.js';
import {
  loadNativeCrypto,
  nativeSignerAvailable,
  nativeSignerLibrary,
  type NativeCrypto,
} from '../../src/keys/native-crypto.js';
import { type HashAlgorithm } from '../../src/keys/signer.js';
import { signModuleBytes, signModuleParts } from '../../src/sign/cms.js';
import { findModuleSignature } from '../../src/modsig/signature.js';
import { signMany } from '../../src/run/sign-many.js';
import { KmodsealError } from '../../src/bytes/errors.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ADDON = path.join(ROOT, 'native', 'build', 'Release', 'kmodseal_crypto.node');
const disabled = process.env.KMODSEAL_NO_NATIVE === '1' || process.env.KMODSEAL_NO_NATIVE_CRYPTO === '1';
const noAddon =
  !fs.existsSync(ADDON) || disabled ? 'the native signer is not built (scripts/build-native.sh) or is disabled' : false;
const modules = corpusModules61();
const noCorpus = !fs.existsSync(SIGN_FILE) || modules.length === 0 ? 'needs sign-file and the amd64-6.1 corpus' : false;
let dir = '';

before(() => {
  dir = tmpDir('native-signer');
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const keyPair = (
  kind: 'rsa2048' | 'rsa4096' | 'p256' | 'p384',
  name: string,
): { pem: string; cert: Uint8Array; certPem: string; keyPem: string; certDer: string } => {
  const k = opensslKernelKey(dir, name, kind);
  return {
    pem: fs.readFileSync(k.keyPem, 'utf8'),
    cert: new Uint8Array(fs.readFileSync(k.certDer)),
    certPem: k.certPem,
    keyPem: k.keyPem,
    certDer: k.certDer,
  };
};

test(
  "when built, the native signer is the one in-memory keys use, and it is a libcrypto shared library (not node's copy)",
  { skip: noAddon },
  () => {
    assert.equal(nativeSignerAvailable(), true);
    const lib = nativeSignerLibrary()!;
    assert.match(lib.version, /^OpenSSL 3\./);
    // the functions come from the shared library, not from node's executable (node exports its own copy)
    assert.match(lib.library, /libcrypto\.so\.3$/);
    assert.notEqual(path.resolve(lib.library), fs.realpathSync(process.execPath));
    assert.notEqual(
      lib.version,
      `OpenSSL ${process.versions.openssl}`,
      'a system libcrypto of another build than node bundles (Debian: 3.0.x, node: its own)',
    );
    const cert = keyPair('rsa2048', 'which');
    assert.equal(createNodeSigner(cert.pem, cert.cert).backend, 'libcrypto');
    assert.equal(createNodeSigner(cert.pem, cert.cert, { native: false }).backend, 'node');
  },
);

const OWN_LIBCRYPTO = path.join(ROOT, '.cache', 'openssl', 'lib', 'libcrypto.so.3');
const noOwn =
  noAddon || (!fs.existsSync(OWN_LIBCRYPTO) ? 'scripts/build-openssl.sh has not built .cache/openssl' : false);

test(
  'with the OpenSSL build-openssl.sh built, EC keys sign on it and RSA keys on the system one; ' +
    'KMODSEAL_SYSTEM_LIBCRYPTO=1 puts EC back; same RSA bytes from both, both P-384 verify',
  { skip: noOwn },
  () => {
    const ecLib = nativeSignerLibrary('ec')!;
    const rsaLib = nativeSignerLibrary('rsa')!;
    assert.equal(ecLib.library, OWN_LIBCRYPTO);
    assert.match(ecLib.version, /^OpenSSL 3\.([2-9]|\d\d)\./, 'a 64-bit P-384 needs OpenSSL 3.2 or later');
    assert.notEqual(rsaLib.library, OWN_LIBCRYPTO);
    assert.match(rsaLib.library, /libcrypto\.so\.3$/);
    const ecKey = keyPair('p384', 'own-ec');
    const rsaKey = keyPair('rsa2048', 'own-rsa');
    assert.equal(createNodeSigner(ecKey.pem, ecKey.cert).backend, 'libcrypto');
    // RSA PKCS#1 v1.5 is deterministic: the two libraries give the same bytes
    const newer = loadNativeCrypto('ec')!;
    const system = loadNativeCrypto('rsa')!;
    const content = crypto.randomBytes(70000);
    const digest = crypto.createHash('sha256').update(content).digest();
    const rsaDer = crypto.createPrivateKey(rsaKey.pem).export({ format: 'der', type: 'pkcs8' });
    assert.ok(
      newer.sign(newer.loadKey(rsaDer), 'sha256', digest).equals(system.sign(system.loadKey(rsaDer), 'sha256', digest)),
    );
    const ecDer = crypto.createPrivateKey(ecKey.pem).export({ format: 'der', type: 'pkcs8' });
    const pub = crypto.createPublicKey(ecKey.pem);
    for (const n of [newer, system]) {
      assert.ok(
        crypto.verify('sha256', content, { key: pub, dsaEncoding: 'der' }, n.sign(n.loadKey(ecDer), 'sha256', digest)),
      );
      assert.ok(
        crypto.verify(
          'sha384',
          content,
          { key: pub, dsaEncoding: 'der' },
          n.signContent(n.loadKey(ecDer), 'sha384', content),
        ),
      );
    }
    const code = `
    import('${path.join(ROOT, 'src/keys/native-crypto.ts')}')
      .then((m) => process.stdout.write(JSON.stringify(m.nativeSignerLibrary('ec'))));`;
    const r = run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      env: { ...process.env, KMODSEAL_SYSTEM_LIBCRYPTO: '1' },
      cwd: ROOT,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.toString()), rsaLib);
  },
);

test('without the addon (KMODSEAL_NO_NATIVE_CRYPTO=1) node:crypto signs', () => {
  const code = `
    import('${path.join(ROOT, 'src/keys/native-crypto.ts')}').then((m) => {
      process.stdout.write(JSON.stringify({ available: m.nativeSignerAvailable(), lib: m.nativeSignerLibrary() ?? null }));
    });`;
  const r = run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...process.env, KMODSEAL_NO_NATIVE_CRYPTO: '1' },
    cwd: ROOT,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.toString()), { available: false, lib: null });
});

test(
  "RSA through the native signer's libcrypto: byte-identical to node:crypto and to sign-file (hashes, -k)",
  { skip: noAddon || noCorpus },
  async () => {
    for (const kind of ['rsa2048', 'rsa4096'] as const) {
      const k = keyPair(kind, `${kind}-cmp`);
      const native = createNodeSigner(k.pem, k.cert);
      const node = createNodeSigner(k.pem, k.cert, { native: false });
      assert.equal(native.backend, 'libcrypto');
      assert.equal(native.signatureLength, kind === 'rsa2048' ? 256 : 512);
      const plan: { hash: HashAlgorithm; skid: boolean }[] = [
        { hash: 'sha256', skid: false },
        { hash: 'sha512', skid: false },
        { hash: 'sha256', skid: true },
        { hash: 'sha1', skid: false },
      ];
      for (const [i, src] of sample(modules, kind === 'rsa2048' ? 12 : 4).entries()) {
        const { hash, skid } = plan[i % plan.length]!;
        const { file, data } = unsignedCopy(src, dir, `${kind}-${i}.ko`);
        const opts = { hash, keyIdForm: skid ? ('skid' as const) : ('issuer-serial' as const) };
        const ours = await signModuleBytes(data, native, opts);
        const viaNode = await signModuleBytes(data, node, opts);
        assert.ok(
          Buffer.from(ours).equals(Buffer.from(viaNode)),
          `${kind} ${hash} ${src}: native differs from node:crypto`,
        );
        const dest = `${file}.signed`;
        const r = run(SIGN_FILE, [...(skid ? ['-k'] : []), hash, k.keyPem, k.certDer, file, dest]);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(
          Buffer.from(ours).equals(fs.readFileSync(dest)),
          `${kind} ${hash}${skid ? ' -k' : ''} ${src}: differs from sign-file`,
        );
        // signing a precomputed digest (EVP_PKEY_sign) gives the same value as signing the content
        const digest = crypto.createHash(hash).update(data).digest();
        const sig = findModuleSignature(ours, src)!;
        assert.ok(Buffer.from(native.sign(hash, digest) as Uint8Array).equals(Buffer.from(sig.pkcs7!.signature)));
        // the parts the bulk path writes join to the same module
        const parts = await signModuleParts(data, native, opts);
        assert.ok(Buffer.concat([parts.content, parts.tail]).equals(Buffer.from(ours)));
      }
    }
  },
);

test(
  "ECDSA through the native signer's libcrypto verifies with openssl cms -verify and openssl dgst (P-256, P-384)",
  { skip: noAddon || noCorpus },
  async () => {
    for (const kind of ['p256', 'p384'] as const) {
      const k = keyPair(kind, `${kind}-ver`);
      const signer = createNodeSigner(k.pem, k.cert);
      assert.equal(signer.backend, 'libcrypto');
      assert.equal(signer.algorithm, 'ecdsa');
      for (const [i, src] of sample(modules, 3).entries()) {
        const hash: HashAlgorithm = (['sha256', 'sha384', 'sha512'] as const)[i]!;
        const { data } = unsignedCopy(src, dir, `${kind}-${i}.ko`);
        const signed = await signModuleBytes(data, signer, { hash });
        const sig = findModuleSignature(signed, src)!;
        const p7 = path.join(dir, `${kind}-${i}.p7s`);
        const content = path.join(dir, `${kind}-${i}.content`);
        const raw = path.join(dir, `${kind}-${i}.sig`);
        fs.writeFileSync(p7, sig.sigData);
        fs.writeFileSync(content, data);
        fs.writeFileSync(raw, sig.pkcs7!.signature);
        const cms = run('openssl', [
          'cms',
          '-verify',
          '-binary',
          '-inform',
          'DER',
          '-in',
          p7,
          '-content',
          content,
          '-certfile',
          k.certPem,
          '-CAfile',
          k.certPem,
          '-purpose',
          'any',
          '-out',
          '/dev/null',
        ]);
        assert.equal(cms.code, 0, `${kind} ${hash}: ${cms.stderr}`);
        const pub = path.join(dir, `${kind}.pub`);
        fs.writeFileSync(pub, crypto.createPublicKey(k.pem).export({ format: 'pem', type: 'spki' }));
        const dgst = run('openssl', ['dgst', `-${hash}`, '-verify', pub, '-signature', raw, content]);
        assert.equal(dgst.code, 0, `${kind} ${hash}: ${dgst.stderr}`);
        assert.match(dgst.stdout.toString(), /Verified OK/);
        // a changed byte fails
        fs.writeFileSync(
          content,
          Buffer.concat([
            Buffer.from(data.subarray(0, 100)),
            Buffer.from([data[100]! ^ 1]),
            Buffer.from(data.subarray(101)),
          ]),
        );
        assert.notEqual(run('openssl', ['dgst', `-${hash}`, '-verify', pub, '-signature', raw, content]).code, 0);
      }
      // same capabilities as without the addon: an in-memory ECDSA key signs content only
      assert.throws(() => signer.sign('sha256', new Uint8Array(32)), /signs content/);
    }
  },
);

test(
  'the addon: digest signing for ECDSA, typed errors with OpenSSL reasons, unsupported keys (each libcrypto)',
  { skip: noAddon },
  () => {
    for (const n of new Set([loadNativeCrypto('rsa')!, loadNativeCrypto('ec')!])) addonContract(n);
  },
);

function addonContract(n: NativeCrypto): void {
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const h = n.loadKey(ec.privateKey.export({ format: 'der', type: 'pkcs8' }));
  assert.equal(n.keyType(h), 'ec');
  const content = crypto.randomBytes(5000);
  const digest = crypto.createHash('sha384').update(content).digest();
  assert.ok(crypto.verify('sha384', content, { key: ec.publicKey, dsaEncoding: 'der' }, n.sign(h, 'sha384', digest)));
  assert.ok(
    crypto.verify('sha384', content, { key: ec.publicKey, dsaEncoding: 'der' }, n.signContent(h, 'sha384', content)),
  );
  assert.throws(
    () => n.loadKey(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])),
    (e: Error & { code?: string }) => e.code === 'E_FORMAT' && /asn1|decoder|unsupported/i.test(e.message),
  );
  const ed = crypto.generateKeyPairSync('ed25519');
  assert.throws(
    () => n.loadKey(ed.privateKey.export({ format: 'der', type: 'pkcs8' })),
    (e: Error & { code?: string }) => e.code === 'E_UNSUPPORTED',
  );
  assert.throws(
    () => n.sign(h, 'sha384', new Uint8Array(20)),
    (e: Error & { code?: string }) => e.code === 'E_USAGE',
  );
  assert.throws(
    () => n.sign(h, 'nosuchhash' as HashAlgorithm, digest),
    (e: Error & { code?: string }) => e.code === 'E_CRYPTO' && /unsupported/i.test(e.message),
  );
  assert.throws(
    () => n.sign({} as never, 'sha256', digest),
    (e: Error & { code?: string }) => e.code === 'E_USAGE',
  );
  // through the signer, addon failures are KmodsealErrors
  const k = keyPair('p256', 'err');
  const signer = createNodeSigner(k.pem, k.cert);
  assert.throws(
    () => signer.signContent!('nosuchhash' as HashAlgorithm, content),
    (e: unknown) => e instanceof KmodsealError && /cannot set up the signature: error:/.test(e.message),
  );
}

test('the addon is context-aware: worker threads load it and sign at the same time', { skip: noAddon }, async () => {
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const der = ec.privateKey.export({ format: 'der', type: 'pkcs8' });
  const data = crypto.randomBytes(10000);
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const n = require(workerData.addon);
    const h = n.loadKey(workerData.der);
    const sigs = [];
    for (let i = 0; i < 20; i++) sigs.push(n.signContent(h, 'sha256', workerData.data));
    parentPort.postMessage({ sigs, lib: n.version().library });`;
  const results = await Promise.all(
    [0, 1, 2].map(
      () =>
        new Promise<{ sigs: Uint8Array[]; lib: string }>((resolve, reject) => {
          const w = new Worker(code, { eval: true, workerData: { addon: ADDON, der, data } });
          w.once('message', (m) => {
            resolve(m as { sigs: Uint8Array[]; lib: string });
            void w.terminate();
          });
          w.once('error', reject);
        }),
    ),
  );
  for (const r of results) {
    assert.match(r.lib, /libcrypto\.so\.3$/);
    for (const s of r.sigs) assert.ok(crypto.verify('sha256', data, { key: ec.publicKey, dsaEncoding: 'der' }, s));
  }
});

test(
  'bulk signing on worker threads through the native signer equals sign-file (RSA-4096)',
  { skip: noAddon || noCorpus },
  async () => {
    const k = keyPair('rsa4096', 'bulk');
    const src = path.join(dir, 'bulk-src');
    const ours = path.join(dir, 'bulk-ours');
    fs.mkdirSync(src);
    const files = sample(modules, 24).map((m, i) => unsignedCopy(m, src, `${i}-${path.basename(m)}`).file);
    fs.chmodSync(files[0]!, 0o600);
    const spec = {
      id: crypto.randomUUID(),
      key: k.pem,
      certificate: k.cert,
      hash: 'sha256' as const,
      keyIdForm: 'issuer-serial' as const,
      chain: undefined,
      digests: true,
    };
    const results = await signMany(
      spec,
      files.map((f) => ({ src: f, dest: path.join(ours, path.basename(f)) })),
      { jobs: 2 },
    );
    assert.equal(results.filter((r) => r.error).length, 0, JSON.stringify(results.find((r) => r.error)));
    for (const f of files) {
      const r = run(SIGN_FILE, ['sha256', k.keyPem, k.certDer, f, `${f}.sf`]);
      assert.equal(r.code, 0, r.stderr);
      const mine = fs.readFileSync(path.join(ours, path.basename(f)));
      assert.ok(mine.equals(fs.readFileSync(`${f}.sf`)), `${f} differs from sign-file`);
      const res = results.find((x) => x.file === path.join(ours, path.basename(f)))!;
      assert.equal(res.sha256After, crypto.createHash('sha256').update(mine).digest('hex'));
      assert.equal(res.sha256Before, crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex'));
    }
    assert.equal(fs.statSync(path.join(ours, path.basename(files[0]!))).mode & 0o777, 0o600, 'mode kept');
    assert.deepEqual(
      fs.readdirSync(ours).filter((f) => f.endsWith('.tmp')),
      [],
      'no temp files left',
    );
  },
);
