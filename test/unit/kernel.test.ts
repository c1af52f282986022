/**
 * src/kernel: banner, build-id notes, the certificate list, export tables (PREL32 and absolute),
 * Module.symvers, System.map, .config and IKCONFIG, bzImage; through inspectKernelImage on
 * kernels built by code.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { inspectKernelImage, formatSymvers } from '../../src/index.js';
import { findBanner } from '../../src/kernel/banner.js';
import { gnuBuildIdFromNotes } from '../../src/kernel/notes.js';
import { parseModuleSymvers, readExports } from '../../src/kernel/ksymtab.js';
import { nextSymbolAddress, parseSystemMap } from '../../src/kernel/system-map.js';
import { findEmbeddedConfig, parseKernelConfig } from '../../src/kernel/config.js';
import { parseBzImageHeader, probeKernelImage } from '../../src/kernel/image.js';
import { Elf } from '../../src/elf/elf.js';
import { buildElf, type SectionSpec } from '../kernel/build-elf.js';
import { BtfBuilder } from '../btf/build.js';
import { latin1, patched, rejectsAt, testKey, throwsAt } from './fixtures.js';

const BANNER =
  'Linux version 6.12.0-unit (builder@host) (gcc (Debian 14.2.0) 14.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.12.0-1';
const CONFIG =
  'CONFIG_MODULE_SIG=y\n# CONFIG_MODULE_SIG_FORCE is not set\nCONFIG_MODVERSIONS=y\n' +
  'CONFIG_MODULE_COMPRESS_XZ=y\nCONFIG_LOCALVERSION="-unit \\"q\\""\n';

function note(type: number, name: string, desc: Uint8Array): Uint8Array {
  const n = latin1(`${name}\0`);
  const pad = (x: number): number => (x + 3) & ~3;
  const b = new Uint8Array(12 + pad(n.length) + pad(desc.length));
  const v = new DataView(b.buffer);
  v.setUint32(0, n.length, true);
  v.setUint32(4, desc.length, true);
  v.setUint32(8, type, true);
  b.set(n, 12);
  b.set(desc, 12 + pad(n.length));
  return b;
}

const STRINGS_ADDR = 0x9000n;
const KSYMTAB_ADDR = 0x8000n;
/** __ksymtab (PREL32: value, name, namespace offsets), __kcrctab and __ksymtab_strings for the given exports. */
function exportSections(
  exports: { name: string; ns?: string; crc: number }[],
  tab: string,
  crcs: string,
  at: bigint,
): SectionSpec[] {
  let strings = '';
  const off = (s: string): number => {
    const i = strings.indexOf(`${s}\0`);
    if (i >= 0 && (i === 0 || strings[i - 1] === '\0')) return i;
    strings += `${s}\0`;
    return strings.length - s.length - 1;
  };
  const table = new Uint8Array(12 * exports.length);
  const crcTable = new Uint8Array(4 * exports.length);
  const v = new DataView(table.buffer);
  exports.forEach((e, i) => {
    const place = at + BigInt(12 * i);
    v.setInt32(12 * i + 4, Number(STRINGS_ADDR + BigInt(off(e.name)) - (place + 4n)), true);
    if (e.ns) v.setInt32(12 * i + 8, Number(STRINGS_ADDR + BigInt(off(e.ns)) - (place + 8n)), true);
    new DataView(crcTable.buffer).setUint32(4 * i, e.crc, true);
  });
  return [
    { name: tab, data: table, addr: at },
    { name: crcs, data: crcTable },
    { name: '__ksymtab_strings', data: latin1(strings), addr: STRINGS_ADDR },
  ];
}

function oneIntBtf(): Uint8Array {
  const btf = new BtfBuilder();
  btf.int('int', 4, 32, 1);
  return btf.build();
}

async function vmlinux(): Promise<Uint8Array> {
  const cert = (await testKey('p256')).certificate;
  // the certificate list: DER certificates back to back, then the 8-byte size word (scanned, no symbols)
  const list = new Uint8Array(cert.length + 8 + ((8 - (cert.length % 8)) % 8));
  list.set(cert, 0);
  new DataView(list.buffer).setBigUint64(list.length - 8, BigInt(cert.length), true);
  const ikconfig = Uint8Array.from(Buffer.concat([latin1('IKCFG_ST'), zlib.gzipSync(CONFIG), latin1('IKCFG_ED')]));
  return buildElf({
    class: 64,
    littleEndian: true,
    machine: 62,
    sections: [
      { name: '.rodata', data: Uint8Array.from(Buffer.concat([latin1(`Linux version %s\0${BANNER}\n\0`), ikconfig])) },
      { name: '.notes', data: note(3, 'GNU', Uint8Array.of(0xde, 0xad, 0xbe, 0xef)), type: 7 },
      { name: '.init.data', data: list },
      { name: '.BTF', data: oneIntBtf() },
      ...exportSections(
        [
          { name: 'printk', crc: 0x1234 },
          { name: 'ns_fn', ns: 'MY_NS', crc: 0xabcd },
        ],
        '__ksymtab',
        '__kcrctab',
        KSYMTAB_ADDR,
      ),
    ],
  });
}

/** An x86 bzImage around a payload: setup header, protocol 2.15, payload at (setup_sects + 1) * 512 + payload_offset. */
function bzImage(payload: Uint8Array, version = 0x20f): Uint8Array {
  const setupSects = 1;
  const payloadOffset = 0x40;
  const start = (setupSects + 1) * 512 + payloadOffset;
  const b = new Uint8Array(start + payload.length + 4);
  const v = new DataView(b.buffer);
  b[0x1f1] = setupSects;
  b.set(latin1('HdrS'), 0x202);
  v.setUint16(0x206, version, true);
  v.setUint32(0x248, payloadOffset, true);
  v.setUint32(0x24c, payload.length, true);
  b.set(payload, start);
  return b;
}

describe('a vmlinux built by code', () => {
  test('banner, build id, certificate, BTF, exports and config, no warnings', async () => {
    const data = await vmlinux();
    const k = await inspectKernelImage(data, { file: 'vmlinux' });
    assert.deepEqual(k.warnings, []);
    assert.equal(k.image.kind, 'vmlinux');
    assert.equal(k.banner, BANNER);
    assert.equal(k.release, '6.12.0-unit');
    assert.equal(k.buildId, 'deadbeef');
    assert.equal(k.certificates?.certificates.length, 1);
    assert.equal(k.certificates?.certificates[0]!.subject, 'CN=unit p256 key, O=kmodseal');
    assert.deepEqual(Buffer.from(k.btf!), Buffer.from(oneIntBtf()));
    assert.equal(k.ksymtabLayout, 'prel32');
    assert.deepEqual(k.exports, [
      { name: 'printk', crc: 0x1234, gpl: false, namespace: '' },
      { name: 'ns_fn', crc: 0xabcd, gpl: false, namespace: 'MY_NS' },
    ]);
    assert.equal(k.config?.policy.moduleSig, true);
    assert.equal(k.config?.policy.moduleCompress, 'xz');
    assert.equal(
      formatSymvers(k.exports!),
      '0x00001234\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n0x0000abcd\tns_fn\tvmlinux\tEXPORT_SYMBOL\tMY_NS\n',
    );
  });

  test('the same kernel in a gzip bzImage: unwrapped, same facts', async () => {
    const elf = await vmlinux();
    const image = bzImage(zlib.gzipSync(elf));
    assert.equal(probeKernelImage(image), 'bzimage');
    const k = await inspectKernelImage(image, { file: 'vmlinuz' });
    assert.deepEqual(
      [k.image.kind, k.image.compression, k.image.payloadOffset, k.image.kernelSize],
      ['bzimage', 'gzip', 0x440, elf.length],
    );
    assert.equal(k.release, '6.12.0-unit');
  });

  test('bzImage headers: no HdrS, protocol 2.07, cut short', () => {
    const good = bzImage(new Uint8Array(16));
    assert.equal(parseBzImageHeader(good, 'k').payload_offset, 0x40);
    throwsAt(
      () =>
        parseBzImageHeader(
          patched(good, (_, b) => void (b[0x202] = 0)),
          'k',
        ),
      'E_MAGIC',
      0x202,
    );
    throwsAt(() => parseBzImageHeader(bzImage(new Uint8Array(16), 0x207), 'k'), 'E_UNSUPPORTED', 0x206);
    throwsAt(() => parseBzImageHeader(good.subarray(0, 0x200), 'k'), 'E_TRUNCATED', 0);
  });

  test('a gzip payload cut short is refused; nothing recognisable is E_MAGIC', async () => {
    const gz = zlib.gzipSync(await vmlinux());
    await assert.rejects(
      () => inspectKernelImage(bzImage(gz.subarray(0, 100)), { file: 'vmlinuz' }),
      (e: { code?: string }) => e.code === 'E_TRUNCATED' || e.code === 'E_COMPRESS',
    );
    await rejectsAt(() => inspectKernelImage(new Uint8Array(4096), { file: 'junk' }), 'E_MAGIC', 0);
  });

  test('a malformed part is a warning at its offset, the rest is read', async () => {
    const data = await vmlinux();
    const elf = Elf.parse(data, 'vmlinux');
    const notes = elf.findSection('.notes')!;
    // n_descsz 64: the note's desc runs past the section
    const bad = patched(data, (v) => v.setUint32(notes.sh_offset + 4, 64, true));
    const k = await inspectKernelImage(bad, { file: 'vmlinux' });
    assert.equal(k.buildId, undefined);
    assert.equal(k.release, '6.12.0-unit');
    assert.deepEqual(
      k.warnings.map((w) => [w.part, w.code, w.offset]),
      [['build-id', 'E_TRUNCATED', notes.sh_offset + 16]],
    );
  });
});

describe('export tables', () => {
  test('absolute pointers on a 32-bit kernel (armhf): value, name, namespace words', () => {
    const strings = latin1('sym_a\0GPL_NS\0sym_b\0');
    const tab = new Uint8Array(24);
    const v = new DataView(tab.buffer);
    v.setUint32(4, Number(STRINGS_ADDR), true);
    v.setUint32(16, Number(STRINGS_ADDR) + 13, true);
    v.setUint32(20, Number(STRINGS_ADDR) + 6, true);
    const elf = Elf.parse(
      buildElf({
        class: 32,
        littleEndian: true,
        machine: 40,
        sections: [
          { name: '__ksymtab', data: tab.subarray(0, 12), addr: KSYMTAB_ADDR },
          { name: '__ksymtab_gpl', data: tab.subarray(12), addr: KSYMTAB_ADDR + 12n },
          { name: '__ksymtab_strings', data: strings, addr: STRINGS_ADDR },
        ],
      }),
      'vmlinux',
    );
    assert.deepEqual(readExports(elf), [
      { name: 'sym_a', crc: undefined, gpl: false, namespace: '' },
      { name: 'sym_b', crc: undefined, gpl: true, namespace: 'GPL_NS' },
    ]);
  });

  const build = (edit: (s: SectionSpec[]) => void): Elf => {
    const s = exportSections([{ name: 'a', crc: 1 }], '__ksymtab', '__kcrctab', KSYMTAB_ADDR);
    edit(s);
    return Elf.parse(buildElf({ class: 64, littleEndian: true, machine: 62, sections: s }), 'vmlinux');
  };
  const cases: [string, (s: SectionSpec[]) => void, (e: Elf) => number][] = [
    [
      'table size not a multiple of 12',
      (s) => (s[0]!.data = new Uint8Array(13)),
      (e) => e.findSection('__ksymtab')!.headerOffset,
    ],
    [
      'a CRC table of another length',
      (s) => (s[1]!.data = new Uint8Array(8)),
      (e) => e.findSection('__kcrctab')!.headerOffset,
    ],
    ['no __ksymtab_strings', (s) => void s.pop(), (e) => e.findSection('__ksymtab')!.headerOffset],
    [
      'a name outside __ksymtab_strings',
      (s) => new DataView(s[0]!.data.buffer).setInt32(4, 0x100000, true),
      (e) => e.findSection('__ksymtab')!.sh_offset + 4,
    ],
  ];
  for (const [name, edit, at] of cases) {
    test(`${name} → E_FORMAT`, () => {
      const e = build(edit);
      throwsAt(() => readExports(e), 'E_FORMAT', at(e));
    });
  }

  test('Module.symvers round trip', () => {
    const text = '0x00000001\ta\tvmlinux\tEXPORT_SYMBOL\t\n0xdeadbeef\tb\tvmlinux\tEXPORT_SYMBOL_GPL\tNS\n';
    const syms = parseModuleSymvers(text);
    assert.deepEqual(syms, [
      { name: 'a', crc: 1, gpl: false, namespace: '' },
      { name: 'b', crc: 0xdeadbeef, gpl: true, namespace: 'NS' },
    ]);
    assert.equal(formatSymvers(syms), text);
  });
});

describe('text formats and scans', () => {
  test('System.map: symbols in order, first of each name, the next address', () => {
    const map = parseSystemMap(
      'ffffffff81000000 T _text\nffffffff82000000 D system_extra_cert\nbad line\n' +
        'ffffffff82001000 D next\nffffffff82000000 d system_extra_cert\n',
    );
    assert.equal(map.symbols.length, 4);
    assert.equal(map.byName.get('system_extra_cert')!.type, 'D');
    assert.equal(nextSymbolAddress(map, 'system_extra_cert'), 0xffffffff82001000n);
    assert.equal(nextSymbolAddress(map, 'next'), undefined);
    assert.equal(nextSymbolAddress(map, 'missing'), undefined);
  });

  test('.config: values unquoted and unescaped, "is not set" absent, the policy', () => {
    const c = parseKernelConfig(CONFIG);
    assert.equal(c.values.get('CONFIG_LOCALVERSION'), '-unit "q"');
    assert.equal(c.values.has('CONFIG_MODULE_SIG_FORCE'), false);
    assert.deepEqual(c.policy, {
      moduleSig: true,
      moduleSigForce: false,
      modversions: true,
      moduleAllowBtfMismatch: false,
      securityLockdownLsm: false,
      moduleCompress: 'xz',
      moduleDecompress: false,
    });
  });

  test('IKCONFIG: the marker as a code constant is skipped; no end marker is E_FORMAT at the start marker', async () => {
    const gz = zlib.gzipSync(CONFIG);
    const data = Uint8Array.from(
      Buffer.concat([latin1('xxIKCFG_ST\0IKCFG_ED'), latin1('..IKCFG_ST'), gz, latin1('IKCFG_ED')]),
    );
    assert.equal((await findEmbeddedConfig(data, 'k'))?.values.get('CONFIG_MODVERSIONS'), 'y');
    assert.equal(await findEmbeddedConfig(latin1('no config here'), 'k'), undefined);
    const open = Uint8Array.from(Buffer.concat([latin1('....IKCFG_ST'), gz]));
    await rejectsAt(() => findEmbeddedConfig(open, 'k'), 'E_FORMAT', 4);
  });

  const banners: [string, string, string | undefined][] = [
    ['the real banner', `${BANNER}\n\0`, '6.12.0-unit'],
    ['a format string is skipped', 'Linux version %s (%s)\n\0', undefined],
    ['no newline before the NUL', `${BANNER}\0`, undefined],
    ['the placeholder loses to the real one', `Linux version 6.12.0 (a@b) (gcc) # SMP\n\0${BANNER}\n\0`, '6.12.0-unit'],
    ['only the placeholder', 'Linux version 6.1.0 (a@b) (gcc) # SMP\n\0', '6.1.0'],
  ];
  for (const [name, text, release] of banners) {
    test(`banner: ${name}`, () => assert.equal(findBanner(latin1(`\0\0${text}`))?.release, release));
  }

  test('/sys/kernel/notes: the GNU build id among other notes; a note past the end gives none', () => {
    const blob = Uint8Array.from(
      Buffer.concat([note(1, 'Xen', Uint8Array.of(1)), note(3, 'GNU', Uint8Array.of(0x01, 0x02, 0xff))]),
    );
    assert.equal(gnuBuildIdFromNotes(blob), '0102ff');
    assert.equal(gnuBuildIdFromNotes(blob.subarray(0, blob.length - 4)), undefined);
    assert.equal(gnuBuildIdFromNotes(new Uint8Array(0)), undefined);
  });
});
