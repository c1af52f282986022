/** src/pe: PE32/PE32+ headers, sections, SBAT, the Authenticode hash ranges and certificate table, built by code. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { authenticodeRanges, findSbat, parsePe, probePe } from '../../src/pe/pe.js';
import { readPeSignatures } from '../../src/pe/authenticode.js';
import { signModuleContent } from '../../src/sign/cms.js';
import { latin1, patched, testKey, throwsAt } from './fixtures.js';

const LFANEW = 0x40;
const COFF = LFANEW + 4;
const OPT = COFF + 20;

/** A PE image: headers in the first 0x200 bytes, one 0x200-byte raw block per section, then `cert` as a WIN_CERTIFICATE. */
function pe(opts: { plus?: boolean; sections?: [string, string][]; cert?: Uint8Array } = {}): Uint8Array {
  const plus = opts.plus ?? true;
  const sections = opts.sections ?? [
    ['.text', 'code'],
    ['.sbat', 'sbat,1,SBAT Version\nlinux,1,The Linux Developers\n'],
  ];
  const optSize = plus ? 240 : 224;
  const certAt = 0x200 * (1 + sections.length);
  const entry = opts.cert ? 8 + opts.cert.length : 0;
  const b = new Uint8Array(certAt + ((entry + 7) & ~7));
  const v = new DataView(b.buffer);
  b.set(latin1('MZ'), 0);
  v.setUint32(0x3c, LFANEW, true);
  b.set(latin1('PE\0\0'), LFANEW);
  v.setUint16(COFF, plus ? 0x8664 : 0x14c, true);
  v.setUint16(COFF + 2, sections.length, true);
  v.setUint16(COFF + 16, optSize, true);
  v.setUint16(OPT, plus ? 0x20b : 0x10b, true);
  v.setUint32(OPT + 60, 0x200, true); // SizeOfHeaders
  v.setUint32(OPT + 64, 0x1234, true); // CheckSum
  v.setUint32(OPT + (plus ? 108 : 92), 16, true);
  const dirs = OPT + (plus ? 112 : 96);
  if (opts.cert) {
    v.setUint32(dirs + 32, certAt, true);
    v.setUint32(dirs + 36, (entry + 7) & ~7, true);
    v.setUint32(certAt, entry, true);
    v.setUint16(certAt + 4, 0x200, true);
    v.setUint16(certAt + 6, 2, true);
    b.set(opts.cert, certAt + 8);
  }
  sections.forEach(([name, text], i) => {
    const h = OPT + optSize + 40 * i;
    b.set(latin1(name), h);
    v.setUint32(h + 8, text.length, true);
    v.setUint32(h + 12, 0x1000 * (i + 1), true);
    v.setUint32(h + 16, 0x200, true);
    v.setUint32(h + 20, 0x200 * (i + 1), true);
    b.set(latin1(text), 0x200 * (i + 1));
  });
  return b;
}

describe('PE images', () => {
  for (const plus of [true, false]) {
    test(`${plus ? 'PE32+' : 'PE32'}: headers, sections, SBAT, hash ranges`, () => {
      const data = pe({ plus });
      assert.equal(probePe(data), true);
      const p = parsePe(data, 'vmlinuz.efi');
      assert.equal(p.pe32plus, plus);
      assert.equal(p.machine, plus ? 0x8664 : 0x14c);
      assert.equal(p.checksum, 0x1234);
      assert.equal(p.checksumOffset, OPT + 64);
      assert.equal(p.certDirOffset, OPT + (plus ? 112 : 96) + 32);
      assert.equal(p.certTable, undefined);
      assert.deepEqual(
        p.sections.map((s) => [s.name, s.pointerToRawData]),
        [
          ['.text', 0x200],
          ['.sbat', 0x400],
        ],
      );
      assert.equal(findSbat(data, p), 'sbat,1,SBAT Version\nlinux,1,The Linux Developers\n');
      // everything but the checksum and the certificate directory entry, in order
      const ranges = authenticodeRanges(data, p);
      assert.equal(
        ranges.reduce((n, r) => n + r.length, 0),
        data.length - 4 - 8,
      );
      assert.deepEqual(readPeSignatures(data, 'vmlinuz.efi').signatures, []);
    });
  }

  test('the certificate table: entries read, and a module-style PKCS#7 is no Authenticode signature', async () => {
    const p7 = await signModuleContent(latin1('x'), (await testKey('p256')).signer);
    const data = pe({ cert: p7 });
    const p = parsePe(data, 'k');
    assert.deepEqual(p.certTable, { offset: 0x600, size: (8 + p7.length + 7) & ~7 });
    assert.deepEqual(
      [p.certificates[0]!.type, p.certificates[0]!.revision, p.certificates[0]!.data.length],
      [2, 0x200, p7.length],
    );
    // the hash stops at the certificate table
    assert.equal(
      authenticodeRanges(data, p).reduce((n, r) => n + r.length, 0),
      0x600 - 12,
    );
    throwsAt(() => readPeSignatures(data, 'k'), 'E_ASN1', 0x608);
    throwsAt(() => readPeSignatures(pe({ cert: latin1('garbage!') }), 'k'), 'E_ASN1', 0x608);
  });

  const good = pe();
  const certd = pe({ cert: latin1('12345678') });
  const bad: [string, Uint8Array, string, number][] = [
    ['no MZ', patched(good, (_, b) => void (b[0] = 0)), 'E_MAGIC', 0],
    ['no PE signature', patched(good, (_, b) => void (b[LFANEW] = 0)), 'E_MAGIC', 0],
    ['optional header magic 0x107', patched(good, (v) => v.setUint16(OPT, 0x107, true)), 'E_FORMAT', OPT],
    ['97 sections', patched(good, (v) => v.setUint16(COFF + 2, 97, true)), 'E_LIMIT', COFF + 2],
    [
      'a section past the end',
      patched(good, (v) => v.setUint32(OPT + 240 + 40 + 16, 0x10000, true)),
      'E_RANGE',
      OPT + 240 + 40 + 16,
    ],
    [
      'the certificate table past the end',
      patched(certd, (v) => v.setUint32(OPT + 112 + 36, 0x1000, true)),
      'E_RANGE',
      OPT + 112 + 32,
    ],
    ['a WIN_CERTIFICATE longer than the table', patched(certd, (v) => v.setUint32(0x600, 100, true)), 'E_RANGE', 0x600],
    ['a WIN_CERTIFICATE shorter than its header', patched(certd, (v) => v.setUint32(0x600, 4, true)), 'E_RANGE', 0x600],
  ];
  for (const [name, data, code, offset] of bad) {
    test(`${name} → ${code} at ${offset}`, () => throwsAt(() => parsePe(data, 'k'), code, offset));
  }
});
