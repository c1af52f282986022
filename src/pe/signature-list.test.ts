/**
 * EFI signature lists, .auth files and efivarfs variable files over bytes built here: the layout
 * of ImageAuthentication.h field by field, and hostile input (truncated, sizes that do not fit,
 * zero SignatureSize, huge counts) refused with a FormatError at the offending offset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../bytes/errors.js';
import { ByteReader } from '../bytes/reader.js';
import { generateSigningKey } from '../keys/keygen.js';
import {
  EFI_CERT_SHA1_GUID,
  EFI_CERT_SHA256_GUID,
  EFI_CERT_X509_GUID,
  EFI_CERT_X509_SHA256_GUID,
  EFI_CERT_TYPE_PKCS7_GUID,
  MAX_SIGNATURES,
  efiTimeAt,
  formatEfiTime,
  guidAt,
  guidBytes,
  guidName,
  isTimeZero,
  parseAuthVariable,
  parseEfiVariableFile,
  parseSignatureDatabase,
  parseSignatureLists,
  signatureKind,
  signatureTypeGuid,
} from './signature-list.js';

const OWNER = '11111111-2222-3333-4455-66778899aabb';

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

/** One EFI_SIGNATURE_LIST, written field by field. */
function esl(
  type: string,
  datas: Uint8Array[],
  o: { sigSize?: number; listSize?: number; header?: number; owner?: string } = {},
): Uint8Array {
  const sigSize = o.sigSize ?? 16 + (datas[0]?.length ?? 0);
  const header = o.header ?? 0;
  const body = datas.flatMap((d) => [...guidBytes(o.owner ?? OWNER), ...d]);
  const listSize = o.listSize ?? 28 + header + body.length;
  return Uint8Array.from([
    ...guidBytes(type),
    ...u32(listSize),
    ...u32(header),
    ...u32(sigSize),
    ...new Array<number>(header).fill(0),
    ...body,
  ]);
}

function cat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

function bytes(n: number, fill: number): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

function throwsAt(f: () => unknown, code: string, offset: number, detail?: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof FormatError, String(e));
    assert.equal(e.code, code, e.message);
    assert.equal(e.offset, offset, e.message);
    if (detail) assert.match(e.detail, detail);
    return true;
  });
}

test('GUIDs: the mixed-endian byte order of ImageAuthentication.h, both ways, and names', () => {
  const b = guidBytes(EFI_CERT_X509_GUID);
  assert.deepEqual(
    Array.from(b),
    [0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a, 0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72],
  );
  assert.equal(guidAt(new ByteReader(b, { file: 'g', format: 'guid' }), 0), EFI_CERT_X509_GUID);
  assert.equal(guidName(EFI_CERT_SHA256_GUID), 'EFI_CERT_SHA256');
  assert.equal(guidName('77FA9ABD-0359-4D32-BD60-28F4E78F784B'), 'Microsoft');
  assert.equal(guidName(OWNER), undefined);
  assert.equal(signatureKind(EFI_CERT_X509_SHA256_GUID), 'x509-sha256');
  assert.equal(signatureTypeGuid('sha256'), EFI_CERT_SHA256_GUID);
  assert.throws(() => guidBytes('not-a-guid'), RangeError);
});

test('an ESL of two SHA-256 entries and a SHA-1 list after it', () => {
  const a = bytes(32, 0xaa);
  const c = bytes(32, 0xcc);
  const data = cat(esl(EFI_CERT_SHA256_GUID, [a, c]), esl(EFI_CERT_SHA1_GUID, [bytes(20, 1)]));
  const lists = parseSignatureLists(data, 'x.esl');
  assert.equal(lists.length, 2);
  assert.equal(lists[0]!.kind, 'sha256');
  assert.equal(lists[0]!.typeName, 'EFI_CERT_SHA256');
  assert.equal(lists[0]!.signatureSize, 48);
  assert.deepEqual(
    lists[0]!.signatures.map((s) => [s.offset, s.owner, Array.from(s.data)]),
    [
      [28, OWNER, Array.from(a)],
      [76, OWNER, Array.from(c)],
    ],
  );
  assert.equal(lists[1]!.offset, 124);
  assert.equal(lists[1]!.kind, 'sha1');
  assert.equal(lists[1]!.signatures[0]!.data.length, 20);
  // a header is skipped; an unknown type is kept, for what it is
  const withHeader = parseSignatureLists(esl(EFI_CERT_SHA256_GUID, [a], { header: 8 }), 'h.esl');
  assert.equal(withHeader[0]!.signatures[0]!.offset, 36);
  const unknown = parseSignatureLists(esl(OWNER, [bytes(5, 7)]), 'u.esl');
  assert.equal(unknown[0]!.kind, 'unknown');
  assert.equal(unknown[0]!.typeName, OWNER);
  assert.deepEqual(parseSignatureLists(new Uint8Array(0), 'empty.esl'), []);
});

test('an X.509 list holds parsed certificates; a bad one is E_ASN1 at its first byte', async () => {
  const key = await generateSigningKey({ type: 'rsa2048', subject: 'CN=esl test' });
  const der = key.certificate;
  const lists = parseSignatureLists(
    cat(esl(EFI_CERT_SHA256_GUID, [bytes(32, 1)]), esl(EFI_CERT_X509_GUID, [der])),
    'c.esl',
  );
  assert.equal(lists[1]!.kind, 'x509');
  assert.deepEqual(Array.from(lists[1]!.signatures[0]!.data), Array.from(der));
  const broken = Uint8Array.from(der);
  broken[1] = 0x30; // a short-form length that cannot be the certificate's
  assert.throws(
    () =>
      parseSignatureLists(cat(esl(EFI_CERT_SHA256_GUID, [bytes(32, 1)]), esl(EFI_CERT_X509_GUID, [broken])), 'c.esl'),
    (e: unknown) => e instanceof FormatError && e.offset === 76 + 28 + 16,
  );
  // a DER certificate on its own is a one-entry X509 database
  const single = parseSignatureDatabase(der, 'c.der');
  assert.equal(single.kind, 'certificate');
  assert.equal(single.lists[0]!.kind, 'x509');
});

test('an X509_SHA256 entry: hash and EFI_TIME revocation time', () => {
  const t = [0xe8, 0x07, 3, 4, 5, 6, 7, 0, ...u32(0), 0, 0, 0, 0]; // 2024-03-04 05:06:07
  const entry = Uint8Array.from([...bytes(32, 9), ...t]);
  const lists = parseSignatureLists(esl(EFI_CERT_X509_SHA256_GUID, [entry]), 'r.esl');
  const d = lists[0]!.signatures[0]!.data;
  const time = efiTimeAt(new ByteReader(d, { file: 'r', format: 't' }), 32);
  assert.equal(formatEfiTime(time), '2024-03-04 05:06:07');
  assert.equal(isTimeZero(time), false);
  assert.equal(isTimeZero(efiTimeAt(new ByteReader(new Uint8Array(16), { file: 'z', format: 't' }), 0)), true);
});

test('an .auth file: EFI_TIME, WIN_CERTIFICATE_UEFI_GUID with the PKCS#7, then the lists at their file offsets', () => {
  const pkcs7 = bytes(50, 0x30);
  const time = [0xe9, 0x07, 1, 2, 3, 4, 5, 0, ...u32(0), 0, 0, 0, 0];
  const lists = esl(EFI_CERT_SHA256_GUID, [bytes(32, 5)]);
  const auth = cat(
    Uint8Array.from([
      ...time,
      ...u32(24 + pkcs7.length),
      0x00,
      0x02,
      0xf1,
      0x0e,
      ...guidBytes(EFI_CERT_TYPE_PKCS7_GUID),
    ]),
    pkcs7,
    lists,
  );
  for (const f of [parseAuthVariable(auth, 'db.auth'), parseSignatureDatabase(auth, 'db.auth')]) {
    assert.equal(f.kind, 'auth');
    assert.equal(formatEfiTime(f.timestamp!), '2025-01-02 03:04:05');
    assert.equal(f.authSignature!.length, 50);
    assert.equal(f.lists[0]!.offset, 90);
    assert.equal(f.lists[0]!.signatures[0]!.offset, 90 + 28);
  }
  // dwLength past the end of the file
  const long = Uint8Array.from(auth);
  long.set(u32(4096), 16);
  throwsAt(() => parseAuthVariable(long, 'db.auth'), 'E_RANGE', 16, /dwLength 4096/);
  throwsAt(() => parseAuthVariable(auth.subarray(0, 30), 'db.auth'), 'E_TRUNCATED', 0);
  const notAuth = Uint8Array.from(auth);
  notAuth[22] = 0x02;
  throwsAt(() => parseAuthVariable(notAuth, 'db.auth'), 'E_MAGIC', 16);
  // a truncated list after a good header: the offset is the file's
  throwsAt(() => parseAuthVariable(auth.subarray(0, auth.length - 10), 'db.auth'), 'E_RANGE', 90 + 16);
});

test('an efivarfs file: attributes, then the lists; attributes alone are an empty variable', () => {
  const data = cat(Uint8Array.from(u32(0x27)), esl(EFI_CERT_SHA256_GUID, [bytes(32, 3)]));
  for (const f of [parseEfiVariableFile(data, 'db-x'), parseSignatureDatabase(data, 'db-x')]) {
    assert.equal(f.kind, 'efivar');
    assert.equal(f.attributes, 0x27);
    assert.equal(f.lists[0]!.offset, 4);
    assert.equal(f.lists[0]!.signatures[0]!.offset, 32);
  }
  assert.deepEqual(parseSignatureDatabase(Uint8Array.from(u32(7)), 'v').lists, []);
  throwsAt(() => parseEfiVariableFile(new Uint8Array(2), 'v'), 'E_TRUNCATED', 0);
});

test('hostile lists: each refused at the offending field, none allocates by a size field', () => {
  const a = bytes(32, 1);
  const good = esl(EFI_CERT_SHA256_GUID, [a]);
  // truncated header (after a good list)
  throwsAt(() => parseSignatureLists(cat(good, good.subarray(0, 20)), 'x'), 'E_TRUNCATED', 76);
  // SignatureListSize smaller than its header, and larger than the file (4 GiB - 1)
  throwsAt(() => parseSignatureLists(esl(EFI_CERT_SHA256_GUID, [a], { listSize: 27 }), 'x'), 'E_FORMAT', 16);
  throwsAt(() => parseSignatureLists(esl(EFI_CERT_SHA256_GUID, [a], { listSize: 0xffffffff }), 'x'), 'E_RANGE', 16);
  // SignatureSize 0 (a division by zero in a naive reader) and smaller than the owner GUID
  throwsAt(() => parseSignatureLists(esl(OWNER, [a], { sigSize: 0 }), 'x'), 'E_FORMAT', 24, /SignatureSize 0/);
  throwsAt(() => parseSignatureLists(esl(OWNER, [a], { sigSize: 15 }), 'x'), 'E_FORMAT', 24);
  // entries that do not divide the list, and a known type with the wrong size
  throwsAt(() => parseSignatureLists(esl(OWNER, [a], { sigSize: 40 }), 'x'), 'E_FORMAT', 24, /multiple/);
  throwsAt(
    () => parseSignatureLists(esl(EFI_CERT_SHA256_GUID, [bytes(24, 1)]), 'x'),
    'E_FORMAT',
    24,
    /EDK2 enrolls only 48/,
  );
  // SignatureHeaderSize past the list
  throwsAt(
    () =>
      parseSignatureLists(
        esl(EFI_CERT_SHA256_GUID, [a], { header: 0, listSize: 76 }).map((b, i) => (i === 20 ? 0xff : b)),
        'x',
      ),
    'E_RANGE',
    20,
  );
  // more entries than any real database holds
  const many = esl(
    EFI_CERT_SHA1_GUID,
    Array.from({ length: MAX_SIGNATURES + 1 }, () => bytes(20, 2)),
  );
  throwsAt(() => parseSignatureLists(many, 'x'), 'E_LIMIT', 0);
  // not a database at all
  throwsAt(() => parseSignatureDatabase(new TextEncoder().encode('hello, world, this is text'), 'x'), 'E_MAGIC', 0);
  throwsAt(() => parseSignatureDatabase(Uint8Array.from([0x30, 0x03, 1, 2, 3]), 'x'), 'E_MAGIC', 0);
});
