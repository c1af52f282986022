/**
 * `kmodseal efi verify` with db and dbx as firmware holds them: EFI signature lists written by
 * efitools (cert-to-efi-sig-list, hash-to-efi-sig-list), .auth updates (sign-efi-sig-list),
 * efivarfs variable files and a copied efivars directory (--running --efivars). The verdicts are
 * EDK2's (DxeImageVerificationHandler, as Debian's OVMF 2022.11 behaved): dbx wins over db, an
 * entry forbidden by dbx refuses the image although another is allowed, an unsigned image runs
 * by its unpadded digest in db, TBS hashes in dbx revoke the signer and the db certificate, a CA
 * in dbx revokes its leaves, and ECDSA signers are refused although sbverify accepts them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers.js';
import { chain, peImages, run, selfSigned, sh, tmpDir, unsignedImage, type KeyPair } from './helpers.js';
import { parsePe } from '../../src/pe/pe.js';
import { guidBytes } from '../../src/pe/signature-list.js';

const X509_SHA256 = '3bd2a492-96c0-4079-b420-fcf98ef103ed';
const SHA256 = 'c1c41626-504c-4092-aca9-41f936934328';
const DB_GUID = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f';
const GLOBAL = '8be4df61-93ca-11d2-aa0d-00e098032b8c';

let dir = '';
let a: KeyPair;
let b: KeyPair;
let kek: KeyPair;
let ca: { root: KeyPair; intermediate: KeyPair; leaf: KeyPair };
let unsigned = '';
let aligned = '';
let signedA = '';
let signedLeaf = '';
let both = '';

interface Verdict {
  code: number;
  stderr: string;
  json: {
    accepted: boolean;
    verdict: string;
    reason: string | null;
    imageDigest: string | null;
    notes: string[];
    databases: { db: { entries: Record<string, number> }; dbx: { entries: Record<string, number> } | null } | null;
    signatures: {
      verdict: string;
      forbidden: boolean;
      trustedBy: string | null;
      match: string | null;
      subject: string | null;
    }[];
  };
}

async function verify(image: string, args: string[]): Promise<Verdict> {
  const r = await runCli(['efi', 'verify', '--json', ...args, image]);
  return {
    code: r.code,
    stderr: r.stderr,
    json: r.code <= 4 && r.stdout.length ? JSON.parse(r.stdout.toString()) : null,
  };
}

/** cert-to-efi-sig-list CERT (PEM) → ESL. */
function certEsl(kp: KeyPair, name: string): string {
  const out = path.join(dir, `${name}.esl`);
  sh('cert-to-efi-sig-list', [kp.cert, out]);
  return out;
}

/** hash-to-efi-sig-list IMAGE → ESL. */
function hashEsl(image: string, name: string): string {
  const out = path.join(dir, `${name}.esl`);
  assert.match(sh('hash-to-efi-sig-list', [image, out]), /HASH IS [0-9a-f]{64}/);
  return out;
}

/** An ESL of one entry, written field by field (for the types efitools has no tool for). */
function eslBytes(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(28);
  Buffer.from(guidBytes(type)).copy(head, 0);
  head.writeUInt32LE(28 + 16 + data.length, 16);
  head.writeUInt32LE(0, 20);
  head.writeUInt32LE(16 + data.length, 24);
  return Buffer.concat([head, Buffer.from(guidBytes('605dab50-e046-4300-abb6-3dd810dd8b23')), Buffer.from(data)]);
}

/** An EFI_CERT_X509_SHA256 list revoking `kp`'s certificate from `time` (zero: always); the TBS cut out by openssl. */
function tbsHashEsl(kp: KeyPair, name: string, time = Buffer.alloc(16)): string {
  const tbs = path.join(dir, `${name}.tbs`);
  sh('openssl', ['asn1parse', '-in', kp.cert, '-strparse', '4', '-noout', '-out', tbs]);
  const hash = crypto.createHash('sha256').update(fs.readFileSync(tbs)).digest();
  const out = path.join(dir, `${name}.esl`);
  fs.writeFileSync(out, eslBytes(X509_SHA256, Buffer.concat([hash, time])));
  return out;
}

async function sign(kp: KeyPair, input: string, output: string, extra: string[] = []): Promise<string> {
  const r = await runCli(['efi', 'sign', '--key', kp.key, '--cert', kp.cert, ...extra, '--output', output, input]);
  assert.equal(r.code, 0, r.stderr);
  return output;
}

before(async () => {
  dir = tmpDir('efi-db');
  a = selfSigned(dir, 'a', 2048);
  b = selfSigned(dir, 'b', 2048);
  kek = selfSigned(dir, 'kek', 2048);
  ca = chain(dir);
  // systemd's linuxx64.efi.stub is 83,297 bytes: not a multiple of 8, so its padded and unpadded digests differ
  const stub =
    peImages().find((f) => f.endsWith('/linuxx64.efi.stub') && fs.statSync(f).size % 8 !== 0) ??
    peImages().find((f) => fs.statSync(f).size % 8 !== 0)!;
  unsigned = unsignedImage(stub, dir, 'image.efi');
  // an unsigned image whose size is a multiple of 8 (what sbsign writes before its table)
  aligned = path.join(dir, 'aligned.efi');
  const data = fs.readFileSync(unsigned);
  fs.writeFileSync(aligned, Buffer.concat([data, Buffer.alloc((8 - (data.length % 8)) % 8)]));
  signedA = await sign(a, unsigned, path.join(dir, 'a.efi'));
  signedLeaf = await sign(ca.leaf, unsigned, path.join(dir, 'leaf.efi'), ['--addcert', ca.intermediate.cert]);
  both = await sign(b, signedA, path.join(dir, 'ab.efi'));
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('db from cert-to-efi-sig-list, sign-efi-sig-list .auth, efivarfs file, DER and PEM: accepted, as sbverify says', async () => {
  const esl = certEsl(a, 'a');
  const auth = path.join(dir, 'a.auth');
  sh('sign-efi-sig-list', ['-t', '2025-01-01 00:00:00', '-c', kek.cert, '-k', kek.key, 'db', esl, auth]);
  const efivar = path.join(dir, `db-${DB_GUID}`);
  fs.writeFileSync(efivar, Buffer.concat([Buffer.from([0x27, 0, 0, 0]), fs.readFileSync(esl)]));
  const der = path.join(dir, 'a.der');
  sh('openssl', ['x509', '-in', a.cert, '-outform', 'DER', '-out', der]);
  assert.equal(run('sbverify', ['--cert', a.cert, signedA]).code, 0);
  for (const db of [esl, auth, efivar, der, a.cert]) {
    const v = await verify(signedA, ['--db', db]);
    assert.equal(v.code, 0, `${db}: ${v.stderr} ${JSON.stringify(v.json)}`);
    assert.equal(v.json.verdict, 'accepted');
    assert.equal(v.json.signatures[0]!.trustedBy, 'CN=kmodseal efi a');
    assert.deepEqual(v.json.databases!.db.entries, { x509: 1 });
    assert.equal(v.json.databases!.dbx, null);
  }
  // b's list does not trust a's signature
  const vb = await verify(signedA, ['--db', certEsl(b, 'b')]);
  assert.equal(vb.code, 4);
  assert.equal(vb.json.reason, 'untrusted-signer');
});

test('dbx wins: the signer certificate in dbx refuses, as does the image digest (hash-to-efi-sig-list)', async () => {
  const db = certEsl(a, 'a');
  const v = await verify(signedA, ['--db', db, '--dbx', certEsl(a, 'a-dbx')]);
  assert.equal(v.code, 4);
  assert.equal(v.json.reason, 'signer-in-dbx');
  assert.equal(v.json.signatures[0]!.forbidden, true);
  // hash-to-efi-sig-list hashes a signed image as EDK2 does (sbsign padded it before signing)
  const h = hashEsl(signedA, 'a-hash');
  const vh = await verify(signedA, ['--db', db, '--dbx', h]);
  assert.equal(vh.code, 4);
  assert.equal(vh.json.reason, 'image-in-dbx');
  // a dbx that holds neither leaves the verdict alone
  const other = await verify(signedA, ['--db', db, '--dbx', certEsl(b, 'b-dbx')]);
  assert.equal(other.code, 0);
  // a signed dbx update (.auth) reads the same
  const auth = path.join(dir, 'dbx.auth');
  sh('sign-efi-sig-list', ['-t', '2025-01-01 00:00:00', '-c', kek.cert, '-k', kek.key, 'dbx', h, auth]);
  assert.equal((await verify(signedA, ['--db', db, '--dbx', auth])).json.reason, 'image-in-dbx');
});

test('two signatures: one forbidden by dbx refuses the image although the other is allowed (EDK2, not shim)', async () => {
  const db = certEsl(a, 'a');
  const ok = await verify(both, ['--db', db]);
  assert.equal(ok.code, 0);
  assert.deepEqual(
    ok.json.signatures.map((s) => s.verdict),
    ['accepted', 'untrusted-signer'],
  );
  const v = await verify(both, ['--db', db, '--dbx', certEsl(b, 'b-dbx')]);
  assert.equal(v.code, 4);
  assert.equal(v.json.reason, 'signer-in-dbx');
  assert.deepEqual(
    v.json.signatures.map((s) => [s.verdict, s.forbidden]),
    [
      ['accepted', false],
      ['signer-in-dbx', true],
    ],
  );
});

test('unsigned images: allowed by their digest in db as the file is, not padded to 8 bytes', async () => {
  // aligned: hash-to-efi-sig-list's digest is EDK2's
  const alignedEsl = hashEsl(aligned, 'aligned-hash');
  const v = await verify(aligned, ['--db', alignedEsl]);
  assert.equal(v.code, 0, JSON.stringify(v.json));
  assert.equal(v.json.verdict, 'allowed-by-digest');
  assert.equal(v.json.reason, null);
  const x = await verify(aligned, ['--db', alignedEsl, '--dbx', alignedEsl]);
  assert.equal(x.code, 4);
  assert.equal(x.json.reason, 'image-in-dbx');
  // unaligned: hash-to-efi-sig-list hashes the file padded, which EDK2 does not find
  const size = fs.statSync(unsigned).size;
  assert.notEqual(size % 8, 0, 'the test needs an image whose size is not a multiple of 8');
  const padded = await verify(unsigned, ['--db', hashEsl(unsigned, 'unaligned-hash')]);
  assert.equal(padded.code, 4);
  assert.equal(padded.json.reason, 'no-signature');
  assert.match(padded.json.notes[0]!, /zero-padded to 8 bytes/);
  // the digest of the file as it is, in a list written field by field
  const raw = path.join(dir, 'raw-hash.esl');
  fs.writeFileSync(raw, eslBytes(SHA256, Buffer.from(padded.json.imageDigest!, 'hex')));
  const ok = await verify(unsigned, ['--db', raw]);
  assert.equal(ok.code, 0);
  assert.equal(ok.json.verdict, 'allowed-by-digest');
});

test('a signed image whose digest is in db runs even when its signature is not trusted', async () => {
  const v = await verify(signedA, ['--db', certEsl(b, 'b'), '--db', hashEsl(signedA, 'a-hash')]);
  assert.equal(v.code, 0);
  assert.equal(v.json.verdict, 'allowed-by-digest');
  assert.equal(v.json.signatures[0]!.verdict, 'allowed-by-digest');
});

test('a chain: a CA in dbx revokes its leaves; TBS hashes revoke the signer and the db certificate, not an intermediate', async () => {
  const root = certEsl(ca.root, 'root');
  assert.equal(run('sbverify', ['--cert', ca.root.cert, signedLeaf]).code, 0);
  assert.equal((await verify(signedLeaf, ['--db', root])).code, 0);
  // the root CA in dbx: the signature verifies against it, so it is forbidden
  const v = await verify(signedLeaf, ['--db', root, '--dbx', certEsl(ca.root, 'root-dbx')]);
  assert.equal(v.json.reason, 'signer-in-dbx');
  assert.match(v.json.signatures[0]!.match!, /dbx certificate CN=kmodseal efi root/);
  // the leaf's TBS hash in dbx, revoked always (time zero) or from a date: refused (no dbt timestamp clears it)
  for (const time of [Buffer.alloc(16), Buffer.from([0xd0, 0x07, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])]) {
    const leafHash = tbsHashEsl(ca.leaf, 'leaf-tbs', time);
    const l = await verify(signedLeaf, ['--db', root, '--dbx', leafHash]);
    assert.equal(l.code, 4);
    assert.equal(l.json.reason, 'signer-in-dbx');
  }
  // the db certificate's own TBS hash in dbx: not allowed by it
  const r = await verify(signedLeaf, ['--db', root, '--dbx', tbsHashEsl(ca.root, 'root-tbs')]);
  assert.equal(r.code, 4);
  assert.equal(r.json.reason, 'db-certificate-in-dbx');
  // an intermediate's TBS hash is checked by neither IsForbiddenByDbx (signers only) nor IsAllowedByDb (db certificate)
  const i = await verify(signedLeaf, ['--db', root, '--dbx', tbsHashEsl(ca.intermediate, 'int-tbs')]);
  assert.equal(i.code, 0, JSON.stringify(i.json));
});

test('an ECDSA signer under an RSA CA in db: sbverify accepts, EDK2 (OVMF) refuses: unsupported-key', async () => {
  const key = path.join(dir, 'ec.key');
  const csr = path.join(dir, 'ec.csr');
  const cert = path.join(dir, 'ec.crt');
  sh(
    'openssl',
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
      '-subj',
      '/CN=kmodseal efi ec',
      '-keyout',
      key,
      '-out',
      csr,
    ]),
  );
  sh('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.root.cert,
    '-CAkey',
    ca.root.key,
    '-CAcreateserial',
    '-days',
    '30',
    '-out',
    cert,
  ]);
  const image = await sign({ key, cert }, unsigned, path.join(dir, 'ec.efi'));
  assert.equal(run('sbverify', ['--cert', ca.root.cert, image]).code, 0);
  const v = await verify(image, ['--db', certEsl(ca.root, 'root')]);
  assert.equal(v.code, 4);
  assert.equal(v.json.reason, 'unsupported-key');
  // the ECDSA certificate itself in db: EDK2 would not even enroll it
  const self = await verify(image, ['--db', cert]);
  assert.equal(self.code, 4);
  assert.equal(self.json.reason, 'unsupported-key');
  assert.match(
    self.json.notes.join('\n'),
    /db certificate CN=kmodseal efi ec: its key is ecdsa, not RSA, and EDK2 enrolls only RSA/,
  );
});

test('bytes after the certificate table: EDK2 hashes up to FileSize - table size, so the digest no longer matches', async () => {
  const junk = path.join(dir, 'junk.efi');
  fs.writeFileSync(junk, Buffer.concat([fs.readFileSync(signedA), Buffer.alloc(8, 0x5a)]));
  const v = await verify(junk, ['--db', certEsl(a, 'a')]);
  assert.equal(v.code, 4);
  assert.equal(v.json.reason, 'digest-mismatch');
});

test('--running: the db and dbx of a copied efivars directory; none there is exit 3', async () => {
  const efivars = path.join(dir, 'efivars');
  fs.mkdirSync(efivars);
  const attrs = Buffer.from([0x27, 0, 0, 0]);
  fs.writeFileSync(path.join(efivars, `db-${DB_GUID}`), Buffer.concat([attrs, fs.readFileSync(certEsl(a, 'a'))]));
  fs.writeFileSync(path.join(efivars, `SecureBoot-${GLOBAL}`), Buffer.from([6, 0, 0, 0, 1]));
  const v = await verify(signedA, ['--running', '--efivars', efivars]);
  assert.equal(v.code, 0, v.stderr);
  const text = await runCli(['efi', 'verify', '--running', '--efivars', efivars, signedA]);
  assert.match(text.stdout.toString(), /running machine: .*efivars \(SecureBoot on\)/);
  assert.match(text.stdout.toString(), /^db: 1 x509$/m);
  assert.match(text.stdout.toString(), /^dbx: none$/m);
  fs.writeFileSync(
    path.join(efivars, `dbx-${DB_GUID}`),
    Buffer.concat([attrs, fs.readFileSync(hashEsl(signedA, 'a-hash'))]),
  );
  const x = await verify(signedA, ['--running', '--efivars', efivars]);
  assert.equal(x.code, 4);
  assert.equal(x.json.reason, 'image-in-dbx');
  const missing = await runCli(['efi', 'verify', '--running', '--efivars', path.join(dir, 'nothing'), signedA]);
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /no efivarfs here/);
});

test('bad database files: one line naming the file and the offset (exit 1)', async () => {
  const bad = path.join(dir, 'bad.esl');
  const esl = fs.readFileSync(certEsl(a, 'a'));
  esl.writeUInt32LE(10, 24); // SignatureSize below the owner GUID
  fs.writeFileSync(bad, esl);
  const r = await runCli(['efi', 'verify', '--db', bad, signedA]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /bad\.esl: 0x18: efi-signature-list: SignatureSize 10 is smaller than the owner GUID \(E_FORMAT\)/,
  );
  const text = path.join(dir, 'text.esl');
  fs.writeFileSync(text, 'this is not a signature list at all\n');
  const t = await runCli(['efi', 'verify', '--dbx', text, signedA]);
  assert.equal(t.code, 1);
  assert.match(t.stderr, /text\.esl: 0x0: .*neither an EFI signature list.*\(E_MAGIC\)/);
});

test('a tampered signed image: digest mismatch, and its table still lists the signer', async () => {
  const data = fs.readFileSync(signedA);
  const s = parsePe(data, signedA).sections.find((x) => x.sizeOfRawData > 0)!;
  data[s.pointerToRawData + 3]! ^= 0x10;
  const tampered = path.join(dir, 'tampered.efi');
  fs.writeFileSync(tampered, data);
  const v = await verify(tampered, ['--db', certEsl(a, 'a')]);
  assert.equal(v.code, 4);
  assert.equal(v.json.reason, 'digest-mismatch');
  assert.equal(v.json.signatures[0]!.subject, 'CN=kmodseal efi a');
  assert.notEqual(run('sbverify', ['--cert', a.cert, tampered]).code, 0);
});

test('an osslsigncode signature (padded dwLength): accepted with its certificate in db, as osslsigncode verify says', async () => {
  const out = path.join(dir, 'osslsigncode.efi');
  sh('osslsigncode', ['sign', '-certs', a.cert, '-key', a.key, '-in', aligned, '-out', out]);
  assert.equal(run('osslsigncode', ['verify', '-CAfile', a.cert, '-in', out]).code, 0);
  const v = await verify(out, ['--db', certEsl(a, 'a')]);
  assert.equal(v.code, 0, JSON.stringify(v.json));
  assert.equal(v.json.verdict, 'accepted');
});

/** `image` (unsigned, size a multiple of 8) with one certificate-table entry of `type` carrying `body`. */
function withEntry(image: string, name: string, type: number, body: Buffer): string {
  const data = fs.readFileSync(image);
  const pe = parsePe(data, image);
  const entry = Buffer.concat([Buffer.alloc(8), body]);
  entry.writeUInt32LE(entry.length, 0);
  entry.writeUInt16LE(0x0200, 4);
  entry.writeUInt16LE(type, 6);
  const padded = Buffer.concat([entry, Buffer.alloc((8 - (entry.length % 8)) % 8)]);
  const out = Buffer.concat([data, padded]);
  out.writeUInt32LE(data.length, pe.certDirOffset);
  out.writeUInt32LE(padded.length, pe.certDirOffset + 4);
  const file = path.join(dir, name);
  fs.writeFileSync(file, out);
  return file;
}

test('a WIN_CERT_TYPE_EFI_GUID entry with EFI_CERT_TYPE_PKCS7_GUID is judged; another GUID is skipped', async () => {
  const signed = fs.readFileSync(signedA);
  const entry = parsePe(signed, signedA).certificates[0]!;
  const pkcs7 = Buffer.from(entry.data);
  const guid = withEntry(
    aligned,
    'guid.efi',
    0x0ef1,
    Buffer.concat([Buffer.from(guidBytes('4aafd29d-68df-49ee-8aa9-347d375665a7')), pkcs7]),
  );
  const v = await verify(guid, ['--db', certEsl(a, 'a')]);
  assert.equal(v.code, 0, JSON.stringify(v.json));
  assert.equal(v.json.signatures[0]!.verdict, 'accepted');
  const other = withEntry(aligned, 'other-guid.efi', 0x0ef1, Buffer.concat([Buffer.from(guidBytes(SHA256)), pkcs7]));
  const o = await verify(other, ['--db', certEsl(a, 'a')]);
  assert.equal(o.code, 4);
  assert.equal(o.json.reason, 'no-signature');
  assert.deepEqual(o.json.signatures, []);
  // the same PKCS#7 as a plain WIN_CERT_TYPE_PKCS_SIGNED_DATA entry is the signed image itself
  const plain = withEntry(aligned, 'plain.efi', 0x0002, pkcs7);
  assert.equal((await verify(plain, ['--db', certEsl(a, 'a')])).code, 0);
});

test('a certificate table its entries do not fill: refused (bad-certificate-table), the digest unchanged', async () => {
  const data = fs.readFileSync(signedA);
  const pe = parsePe(data, signedA);
  const out = Buffer.concat([data, Buffer.alloc(4)]);
  out.writeUInt32LE(pe.certTable!.size + 4, pe.certDirOffset + 4);
  const file = path.join(dir, 'short-table.efi');
  fs.writeFileSync(file, out);
  const v = await verify(file, ['--db', certEsl(a, 'a')]);
  assert.equal(v.code, 4);
  assert.equal(v.json.reason, 'bad-certificate-table');
  assert.equal(v.json.signatures[0]!.verdict, 'accepted');
});

test('an intermediate without basicConstraints (a v1 certificate) cannot issue: only the leaf itself in db accepts', async () => {
  const issue = (name: string, issuer: KeyPair): KeyPair => {
    const key = path.join(dir, `${name}.key`);
    const csr = path.join(dir, `${name}.csr`);
    const cert = path.join(dir, `${name}.crt`);
    sh(
      'openssl',
      ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=kmodseal efi ${name}`].concat([
        '-keyout',
        key,
        '-out',
        csr,
      ]),
    );
    sh(
      'openssl',
      ['x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, '-CAcreateserial'].concat([
        '-days',
        '30',
        '-out',
        cert,
      ]),
    );
    return { key, cert };
  };
  const weak = issue('weak-intermediate', ca.root);
  assert.doesNotMatch(sh('openssl', ['x509', '-in', weak.cert, '-noout', '-text']), /CA:TRUE/);
  const leaf = issue('weak-leaf', weak);
  const image = await sign(leaf, unsigned, path.join(dir, 'weak.efi'), ['--addcert', weak.cert]);
  for (const anchor of [ca.root, weak]) {
    assert.notEqual(run('sbverify', ['--cert', anchor.cert, image]).code, 0);
    const v = await verify(image, ['--db', certEsl(anchor, 'weak-anchor')]);
    assert.equal(v.code, 4);
    assert.equal(v.json.reason, 'untrusted-signer');
  }
  assert.equal((await verify(image, ['--db', certEsl(leaf, 'weak-leaf')])).code, 0);
});
