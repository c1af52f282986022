/**
 * Secure Boot on real firmware: Debian's OVMF Secure Boot build under qemu, with a PK, KEK and
 * db generated for this run and enrolled through efivarfs from a first boot in setup mode. A
 * UKI built and signed by `kmodseal uki build` (the same bytes as `kmodseal efi sign` of the
 * unsigned UKI) boots with Secure Boot on and the kernel locked down, and
 * the modules kmodseal signed load while the others are refused; the same UKI unsigned, signed
 * by an unknown key, tampered after signing, or with its signer or its digest in dbx is refused.
 * For every image, `kmodseal efi verify` predicts the firmware's outcome, and `check --lockdown`
 * every module's. See docs/secure-boot-e2e.md.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TESTKERNEL, runCli } from '../helpers.js';
import type { ModuleVerdict } from '../../src/check/check.js';
import {
  CMDLINE,
  OVMF_VARS,
  boot,
  certList,
  digestList,
  efiByte,
  enrolment,
  espDisk,
  initramfs,
  listedDigest,
  requireTools,
  rsaKey,
  tail,
  type Boot,
  type Enrolment,
  type KeyPair,
} from './ovmf.js';

const K = TESTKERNEL;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-ovmf-e2e-'));
const mod = (n: string): string => path.join(K, 'modules', n);

/** What this run made: keys, signature lists, images, and (after the first test) the enrolled stores. */
interface World {
  pk: KeyPair;
  kek: KeyPair;
  db: KeyPair;
  unknown: KeyPair;
  /** The signed variable updates each store gets, in the order the guest writes them. */
  enrol: Record<Store, Enrolment[]>;
  /** The enrolled db and dbx updates (`.auth`), which `efi verify --db/--dbx` reads. */
  dbVar: string;
  dbxVar: Partial<Record<Store, string>>;
  dbxDigest: string;
  /** The modules the good UKI carries, in load order, and what the kernel must do with each. */
  modules: { file: string; expect: string }[];
  unsigned: string;
  /** `uki build --key --cert`: built and signed in one step. */
  signed: string;
  /** `efi sign` of the unsigned UKI. */
  efiSigned: string;
  unknownSigned: string;
  tampered: string;
  stores: Partial<Record<Store, string>>;
}
/** base: PK, KEK, db; dbxSigner: also dbx = the db certificate; dbxDigest: also dbx = the signed UKI's digest. */
type Store = 'base' | 'dbxSigner' | 'dbxDigest';
let w: World;

async function kmodseal(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runCli(argv);
  return { code: r.code, stdout: r.stdout.toString('latin1'), stderr: r.stderr };
}

async function signModule(name: string, src: string, keyName: string): Promise<string> {
  const dir = path.join(tmp, `mod-${name}`);
  const keys = path.join(K, 'keys');
  const r = await kmodseal([
    'sign',
    '--key',
    path.join(keys, `${keyName}.key`),
    '--cert',
    path.join(keys, `${keyName}.crt`),
    '--out',
    dir,
    src,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return path.join(dir, path.basename(src));
}

/** One signing time for every signature of the run: the same inputs give the same bytes. */
const SIGNING_TIME = '@1767225600';

async function efiSign(image: string, signer: KeyPair, out: string): Promise<string> {
  const r = await kmodseal([
    'efi',
    'sign',
    '--key',
    signer.key,
    '--cert',
    signer.cert,
    '--signing-time',
    SIGNING_TIME,
    '--output',
    out,
    image,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return out;
}

/**
 * `kmodseal uki build`: the kit's EFI-stub bzImage, this initramfs and CMDLINE around the
 * machine's systemd-stub, signed in the same step when a signer is given. `--sbat` names an empty
 * file: the merged SBAT is then the stub's own rows (bookworm's systemd-stub 252 leaves no room in
 * its .sbat for ukify's default "uki,1" row).
 */
async function ukiBuild(name: string, initrd: string, signer?: KeyPair): Promise<string> {
  const out = path.join(tmp, `${name}.efi`);
  const osRelease = path.join(tmp, 'os-release');
  fs.writeFileSync(osRelease, 'ID=kmodseal-e2e\nNAME="kmodseal e2e"\n');
  const sbat = path.join(tmp, 'empty.sbat');
  fs.writeFileSync(sbat, '');
  const sign = signer ? ['--key', signer.key, '--cert', signer.cert, '--signing-time', SIGNING_TIME] : [];
  const r = await kmodseal([
    'uki',
    'build',
    '--linux',
    path.join(K, 'bzImage'),
    '--initrd',
    initrd,
    '--cmdline',
    CMDLINE,
    '--os-release',
    osRelease,
    '--sbat',
    sbat,
    ...sign,
    '--out',
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return out;
}

/**
 * `efi verify --json`: with the db certificate (`--cert`), or, for a store with a dbx, with the
 * very `.auth` files the guest enrolled (`--db`, `--dbx`). Accepted, and why not.
 */
async function efiVerify(
  image: string,
  store: Store = 'base',
): Promise<{ accepted: boolean; reason: string | null; imageDigest: string }> {
  const dbx = w.dbxVar[store];
  const trust = dbx ? ['--db', w.dbVar, '--dbx', dbx] : ['--cert', w.db.cert];
  const r = await kmodseal(['efi', 'verify', '--json', ...trust, image]);
  assert.ok(r.code === 0 || r.code === 4, `efi verify exit ${r.code}: ${r.stderr}`);
  const v = JSON.parse(r.stdout) as { accepted: boolean; reason: string | null; imageDigest: string };
  assert.equal(r.code === 0, v.accepted, 'exit code 0 exactly when accepted');
  return v;
}

/** A fresh copy of a store: the firmware writes to it (boot options), each boot starts from the enrolled state. */
function copyOf(store: string | undefined, name: string): string {
  if (!store) throw new Error('no enrolled variable store: the enrolment test failed');
  const out = path.join(tmp, `${name}.vars.fd`);
  fs.copyFileSync(store, out);
  return out;
}

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

before(async () => {
  requireTools(K);
  const pk = rsaKey(tmp, 'PK', 'kmodseal e2e PK');
  const kek = rsaKey(tmp, 'KEK', 'kmodseal e2e KEK');
  const db = rsaKey(tmp, 'db', 'kmodseal e2e db');
  const unknown = rsaKey(tmp, 'unknown', 'kmodseal e2e unknown signer');

  // the modules: signed by kmodseal with a key the kernel has compiled in, unsigned, and signed
  // by a key it does not know; the kernel is not told module.sig_enforce=1: lockdown enforces
  const modules = [
    { file: await signModule('hello', mod('kms_hello.ko'), 'direct'), expect: 'OK' },
    { file: mod('kms_export.ko'), expect: 'EPERM' },
    { file: await signModule('dummy-untrusted', mod('in-tree/dummy.ko'), 'untrusted'), expect: 'EPERM' },
    { file: await signModule('export', mod('kms_export.ko'), 'direct'), expect: 'OK' },
    { file: await signModule('user', mod('kms_user.ko'), 'direct'), expect: 'OK' },
  ];
  const initrd = initramfs(tmp, 'modules', { modules: modules.map((m) => m.file) });
  const unsigned = await ukiBuild('uki', initrd);
  // built and signed by kmodseal in one step
  const signed = await ukiBuild('uki.signed', initrd, db);
  // signed afterwards: efi sign of the unsigned UKI (uki build --key differs: it signs .linux too, as ukify)
  const efiSigned = await efiSign(unsigned, db, path.join(tmp, 'uki.efi-signed.efi'));
  const unknownSigned = await efiSign(unsigned, unknown, path.join(tmp, 'uki.unknown.efi'));
  // tampered after signing: the kernel command line in .cmdline changed by one character
  const bytes = fs.readFileSync(signed);
  const at = bytes.indexOf(Buffer.from(CMDLINE));
  assert.ok(at > 0 && bytes.indexOf(Buffer.from(CMDLINE), at + 1) < 0, 'the command line occurs once in the UKI');
  bytes[at + CMDLINE.length - 1] = '2'.charCodeAt(0);
  const tampered = path.join(tmp, 'uki.tampered.efi');
  fs.writeFileSync(tampered, bytes);

  // the signed variable updates: db and dbx signed by KEK, KEK and PK by PK
  const dbxDigest = digestList(signed, path.join(tmp, 'dbx-digest.esl'));
  const dbE = enrolment(tmp, 'db', certList(db.cert, path.join(tmp, 'db.esl')), kek);
  const dbxSignerE = enrolment(tmp, 'dbx', certList(db.cert, path.join(tmp, 'dbx-signer.esl')), kek);
  const dbxDigestE = enrolment(tmp, 'dbx', dbxDigest, kek);
  const keks = [
    enrolment(tmp, 'KEK', certList(kek.cert, path.join(tmp, 'KEK.esl')), pk),
    enrolment(tmp, 'PK', certList(pk.cert, path.join(tmp, 'PK.esl')), pk),
  ];
  w = {
    pk,
    kek,
    db,
    unknown,
    enrol: { base: [dbE, ...keks], dbxSigner: [dbE, dbxSignerE, ...keks], dbxDigest: [dbE, dbxDigestE, ...keks] },
    dbVar: dbE.auth,
    dbxVar: { dbxSigner: dbxSignerE.auth, dbxDigest: dbxDigestE.auth },
    dbxDigest,
    modules,
    unsigned,
    signed,
    efiSigned,
    unknownSigned,
    tampered,
    stores: {},
  };
});

test('enrolment: a first boot in setup mode writes db (dbx), KEK and PK through efivarfs; the firmware leaves setup mode', async () => {
  for (const [name, enrol] of Object.entries(w.enrol) as [Store, Enrolment[]][]) {
    // the enrolling UKI is unsigned: in setup mode the firmware runs anything
    const uki = await ukiBuild(`enrol-${name}`, initramfs(tmp, `enrol-${name}`, { enrol }));
    const vars = path.join(tmp, `${name}.enrolled.fd`);
    fs.copyFileSync(OVMF_VARS, vars);
    const b = await boot(vars, espDisk(uki, path.join(tmp, `enrol-${name}.img`)));
    assert.equal(b.outcome, 'booted', tail(b));
    assert.equal(efiByte(b.facts.get('SetupMode')), 1, `${name}: setup mode before\n${tail(b)}`);
    assert.equal(efiByte(b.facts.get('SecureBoot')), 0, `${name}: Secure Boot off before`);
    for (const e of enrol) assert.equal(b.facts.get(`wrote ${e.name}`), 'ok', `${name}: write ${e.name}\n${tail(b)}`);
    assert.equal(efiByte(b.facts.get('SetupModeAfter')), 0, `${name}: user mode once PK is written`);
    w.stores[name] = vars;
  }
});

test('a UKI signed by kmodseal (uki build --key; efi sign) boots locked down under Secure Boot; signed modules load', async (t) => {
  for (const [how, image] of [
    ['uki build --key', w.signed],
    ['efi sign', w.efiSigned],
  ] as const)
    await bootsLockedDown(t, how, image);
});

async function bootsLockedDown(t: TestContext, how: string, image: string): Promise<void> {
  const slug = how.replace(/\W+/g, '-');
  const b = await boot(copyOf(w.stores.base, slug), espDisk(image, path.join(tmp, `${slug}.img`)));
  const verdict = await efiVerify(image);
  assert.equal(b.outcome, 'booted', `${how}: ${tail(b)}`);
  assert.equal(verdict.accepted, true, 'efi verify predicts the boot');
  assert.equal(efiByte(b.facts.get('SecureBoot')), 1, 'SecureBoot = 1 inside');
  assert.equal(efiByte(b.facts.get('SetupMode')), 0, 'SetupMode = 0 inside');
  assert.match(b.facts.get('lockdown') ?? '', /\[integrity\]/, '/sys/kernel/security/lockdown');
  const locked = /[^\n]*Kernel is locked down from EFI Secure Boot[^\r\n]*/.exec(b.console);
  assert.ok(locked, 'the kernel says it is locked down by Secure Boot');
  const real = b.modules.map((m) => m.result);
  assert.deepEqual(
    real,
    w.modules.map((m) => m.expect),
    b.modules.map((m, i) => `${i + 1}: ${m.result} ${m.log.join(' | ')}`).join('\n'),
  );
  const c = await kmodseal([
    'check',
    '--json',
    '--lockdown',
    '--kernel',
    path.join(K, 'bzImage'),
    ...w.modules.map((m) => m.file),
  ]);
  assert.ok(c.code === 0 || c.code === 4, `check exit ${c.code}: ${c.stderr}`);
  const predicted = (JSON.parse(c.stdout) as { modules: ModuleVerdict[] }).modules;
  assert.deepEqual(
    predicted.map((m) => (m.outcome === 'rejected' ? m.errno : 'OK')),
    real,
    'check --lockdown predicts every module',
  );
  t.diagnostic(
    `${how}: booted in ${b.seconds.toFixed(1)} s; efi verify accepted; SecureBoot=1 SetupMode=0; ` +
      `lockdown: ${b.facts.get('lockdown')}; ${locked[0].trim()}; modules: ${real.join(' ')}`,
  );
}

test('refused: unsigned, unknown signer, tampered after signing, signer in dbx, digest in dbx; efi verify predicts each', async (t) => {
  const cases: { name: string; image: string; store: Store; reason: string }[] = [
    { name: 'unsigned', image: w.unsigned, store: 'base', reason: 'no-signature' },
    { name: 'unknown signer', image: w.unknownSigned, store: 'base', reason: 'untrusted-signer' },
    { name: 'tampered after signing', image: w.tampered, store: 'base', reason: 'digest-mismatch' },
    { name: 'signer in dbx', image: w.signed, store: 'dbxSigner', reason: 'signer-in-dbx' },
    { name: 'digest in dbx', image: w.signed, store: 'dbxDigest', reason: 'image-in-dbx' },
  ];
  const rows: string[] = [];
  for (const c of cases) {
    const slug = c.name.replace(/\W+/g, '-');
    const b: Boot = await boot(copyOf(w.stores[c.store], slug), espDisk(c.image, path.join(tmp, `${slug}.img`)));
    const v = await efiVerify(c.image, c.store);
    rows.push(
      `${c.name}: firmware ${b.outcome} (${b.seconds.toFixed(1)} s), efi verify ${v.accepted ? 'accepted' : `rejected: ${v.reason}`}`,
    );
    assert.equal(b.outcome, 'refused', `${c.name}: ${tail(b)}`);
    assert.ok(!/Linux version/.test(b.console), `${c.name}: no kernel started`);
    assert.equal(v.accepted, false, `${c.name}: efi verify predicts the refusal`);
    assert.equal(v.reason, c.reason, `${c.name}: and says why`);
  }
  // the listed digest is the one efi verify computes (hash-to-efi-sig-list is an independent oracle)
  assert.equal(listedDigest(w.dbxDigest), (await efiVerify(w.signed)).imageDigest);
  for (const row of rows) t.diagnostic(row);
});
