/** PKCS#11 signing against SoftHSM2 in a temporary token directory. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { corpusModules61, have, opensslKernelKey, run, sample, SIGN_FILE, tmpDir, unsignedCopy } from './helpers.js';
import { openPkcs11Signer, parsePkcs11Uri, DEFAULT_PKCS11_MODULE } from '../../src/keys/pkcs11-signer.js';
import { signModuleBytes } from '../../src/sign/cms.js';
import { verifyModuleSignature } from '../../src/sign/verify.js';
import { findModuleSignature } from '../../src/modsig/signature.js';

const modules = corpusModules61();
const skip =
  modules.length === 0 ||
  !fs.existsSync(DEFAULT_PKCS11_MODULE) ||
  !have('softhsm2-util') ||
  !have('pkcs11-tool') ||
  !fs.existsSync(SIGN_FILE)
    ? 'needs SoftHSM2, pkcs11-tool, sign-file and the amd64-6.1 corpus'
    : false;
let dir = '';
let env: NodeJS.ProcessEnv = {};
let rsa: ReturnType<typeof opensslKernelKey>;
let ec: ReturnType<typeof opensslKernelKey>;

function sh(cmd: string, args: string[]): string {
  const r = run(cmd, args, { env });
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.toString();
}

before(() => {
  if (skip) return;
  dir = tmpDir('softhsm');
  fs.mkdirSync(path.join(dir, 'tokens'));
  const conf = path.join(dir, 'softhsm2.conf');
  fs.writeFileSync(
    conf,
    `directories.tokendir = ${dir}/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
  );
  env = { ...process.env, SOFTHSM2_CONF: conf };
  process.env.SOFTHSM2_CONF = conf; // the module reads it at C_Initialize in this process
  sh('softhsm2-util', ['--init-token', '--free', '--label', 'kmodseal-token', '--so-pin', '5678', '--pin', '1234']);
  rsa = opensslKernelKey(dir, 'rsa', 'rsa2048', 'kmodseal hsm rsa');
  ec = opensslKernelKey(dir, 'ec', 'p384', 'kmodseal hsm p384');
  for (const [k, label, id] of [
    [rsa, 'longterm-rsa', '01'],
    [ec, 'longterm-p384', '02'],
  ] as const) {
    const p8 = path.join(dir, `${label}.p8.pem`);
    sh('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', k.keyPem, '-out', p8]);
    sh('softhsm2-util', ['--import', p8, '--token', 'kmodseal-token', '--label', label, '--id', id, '--pin', '1234']);
    sh('pkcs11-tool', [
      '--module',
      DEFAULT_PKCS11_MODULE,
      '--login',
      '--pin',
      '1234',
      '--write-object',
      k.certDer,
      '--type',
      'cert',
      '--id',
      id,
      '--label',
      label,
    ]);
  }
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('parsePkcs11Uri: path and query attributes, percent-encoding', () => {
  const u = parsePkcs11Uri(
    'pkcs11:token=my%20token;object=key;id=%01%a0;type=private?pin-source=file:/tmp/pin&module-path=/x/y.so',
  );
  assert.equal(u.token, 'my token');
  assert.equal(u.object, 'key');
  assert.deepEqual([...u.id!], [1, 0xa0]);
  assert.equal(u.type, 'private');
  assert.equal(u.pinSource, 'file:/tmp/pin');
  assert.equal(u.modulePath, '/x/y.so');
  assert.equal(parsePkcs11Uri('pkcs11:token=t;object=o;type=private;pin-value=1234').pinValue, '1234');
  assert.throws(() => parsePkcs11Uri('file:/x'), /not a PKCS#11 URI/);
  assert.throws(() => parsePkcs11Uri('pkcs11:token=a;token=b'), /given twice/);
});

test('SoftHSM RSA key: byte-identical to sign-file with the same key (20 modules)', { skip }, async () => {
  const signer = openPkcs11Signer('pkcs11:token=kmodseal-token;object=longterm-rsa;type=private;pin-value=1234');
  try {
    assert.equal(signer.algorithm, 'rsa');
    assert.ok(Buffer.from(signer.certificate).equals(fs.readFileSync(rsa.certDer)), 'certificate read from the token');
    for (const [i, src] of sample(modules, 20).entries()) {
      const { file, data } = unsignedCopy(src, dir, `hsm-${i}.ko`);
      const dest = `${file}.signed`;
      const r = run(SIGN_FILE, ['sha256', rsa.keyPem, rsa.certDer, file, dest]);
      assert.equal(r.code, 0, r.stderr);
      const ours = await signModuleBytes(data, signer);
      assert.ok(Buffer.from(ours).equals(fs.readFileSync(dest)), src);
    }
  } finally {
    signer.close();
  }
});

test(
  'SoftHSM EC P-384 key (by id, PIN from file, module-path in the URI): openssl cms -verify accepts',
  { skip },
  async () => {
    const pinFile = path.join(dir, 'pin');
    fs.writeFileSync(pinFile, '1234\n');
    const signer = openPkcs11Signer(
      `pkcs11:token=kmodseal-token;id=%02;type=private?pin-source=file:${pinFile}&module-path=${DEFAULT_PKCS11_MODULE}`,
    );
    try {
      assert.equal(signer.algorithm, 'ecdsa');
      for (const [i, src] of sample(modules, 5).entries()) {
        const { data } = unsignedCopy(src, dir, `hsm-ec-${i}.ko`);
        const signed = await signModuleBytes(data, signer, { hash: 'sha384' });
        const sig = findModuleSignature(signed, src)!;
        const p7 = path.join(dir, `ec-${i}.p7s`);
        const content = path.join(dir, `ec-${i}.content`);
        fs.writeFileSync(p7, sig.sigData);
        fs.writeFileSync(content, signed.subarray(0, sig.moduleLength));
        const r = run('openssl', [
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
          ec.certPem,
          '-CAfile',
          ec.certPem,
          '-purpose',
          'any',
          '-out',
          '/dev/null',
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(verifyModuleSignature(signed, [new Uint8Array(fs.readFileSync(ec.certDer))]).status, 'ok');
      }
    } finally {
      signer.close();
    }
  },
);

test('SoftHSM: wrong PIN and unknown objects are reported', { skip }, () => {
  assert.throws(
    () => openPkcs11Signer('pkcs11:token=kmodseal-token;object=longterm-rsa;pin-value=0000'),
    /login failed/,
  );
  assert.throws(() => openPkcs11Signer('pkcs11:token=kmodseal-token;object=nope;pin-value=1234'), /no private key/);
  assert.throws(() => openPkcs11Signer('pkcs11:token=other-token;pin-value=1234'), /no PKCS#11 token/);
});
