/**
 * src/modinfo (inspect of module bytes, .modinfo, modules.dep and friends) and the renderers of
 * src/report: modinfo text, inspect JSON, kernel text, check HTML, BTF mismatches, counted phrases.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { inspectModuleBytes, inspectionToJson, renderModinfo, type ModuleVerdict } from '../../src/index.js';
import { renderBuiltin } from '../../src/report/modinfo-text.js';
import {
  fnmatch,
  modnameFromPath,
  normalizeAlias,
  normalizeModname,
  parseBuiltinModinfo,
  parseModulesAlias,
  parseModulesBuiltin,
  parseModulesDep,
} from '../../src/modinfo/depmod.js';
import { renderKernel, type KernelJson } from '../../src/report/kernel.js';
import { renderCheckHtml } from '../../src/report/check-html.js';
import { elidePath, renderBaseMismatches } from '../../src/report/btf-mismatch.js';
import { agree, checkSummary, count, signSummary } from '../../src/report/counts.js';
import { moduleElf, patched, rejectsAt, signedModule } from './fixtures.js';

const MODINFO = [
  'version=1.0',
  'description=a unit test module',
  'author=kmodseal',
  'license=GPL',
  'parm=debug:enable debug output',
  'parmtype=debug:int',
  'parmtype=mode:charp',
  'alias=pci:v00008086d*',
  'depends=',
  'intree=Y',
  'name=unit',
  'vermagic=6.12.0 SMP preempt mod_unload modversions ',
];

describe('inspect and the modinfo text', () => {
  test('an unsigned module: the text modinfo prints, parms merged last in reverse order', async () => {
    const data = moduleElf({ modinfo: MODINFO });
    const info = await inspectModuleBytes(data, 'unit.ko');
    assert.equal(info.compression, 'none');
    assert.equal(info.signature, null);
    assert.equal(info.signatureError, null);
    assert.equal(
      renderModinfo('/m/unit.ko', info.modinfo),
      [
        'filename:       /m/unit.ko',
        'version:        1.0',
        'description:    a unit test module',
        'author:         kmodseal',
        'license:        GPL',
        'alias:          pci:v00008086d*',
        'depends:        ',
        'intree:         Y',
        'name:           unit',
        'vermagic:       6.12.0 SMP preempt mod_unload modversions ',
        'parm:           mode:charp',
        'parm:           debug:enable debug output (int)',
        '',
      ].join('\n'),
    );
    assert.equal(
      renderModinfo('f', info.modinfo, { field: 'parm' }),
      'mode: (charp)\ndebug:enable debug output (int)\n',
    );
    assert.equal(renderModinfo('f', info.modinfo, { field: 'license' }), 'GPL\n');
    assert.equal(renderModinfo('f', info.modinfo, { field: 'filename' }), 'f\n');
    assert.equal(
      renderModinfo('f', info.modinfo.slice(0, 2), { nul: true }),
      'filename:       f\0version=1.0\0description=a unit test module\0',
    );
    assert.equal(
      renderBuiltin('ext4', [{ key: 'license', value: 'GPL' }]),
      'name:           ext4\nfilename:       (builtin)\nlicense:        GPL\n',
    );
  });

  test('a long key keeps |15 - length| spaces, as printf with a negative width does', () => {
    assert.equal(
      renderModinfo('f', [{ key: 'a_key_of_twenty_chars', value: 'v' }], { field: undefined }).split('\n')[1],
      'a_key_of_twenty_chars:      v',
    );
  });

  test('a signed, gzip-compressed module: signature fields appended, JSON summary', async () => {
    const plain = await signedModule(moduleElf({ modinfo: ['license=GPL', 'name=unit'] }));
    const gz = zlib.gzipSync(plain);
    const info = await inspectModuleBytes(gz, 'unit.ko.gz');
    assert.equal(info.compression, 'gzip');
    assert.equal(info.fileSize, gz.length);
    assert.equal(info.size, plain.length);
    assert.deepEqual(
      info.modinfo.map((e) => e.key),
      ['license', 'name', 'sig_id', 'signer', 'sig_key', 'sig_hashalgo', 'signature'],
    );
    const j = inspectionToJson(info, 'unit.ko.gz');
    assert.equal(j.filename, 'unit.ko.gz');
    assert.equal(j.signature!.idType, 'PKCS#7');
    assert.equal(j.signature!.signer, 'unit p256 key');
    assert.equal(j.signature!.hashAlgorithm, 'sha256');
    assert.deepEqual(j.modinfo[0], ['license', 'GPL']);
    const text = renderModinfo('unit.ko.gz', info.modinfo);
    assert.match(text, /^sig_id: {9}PKCS#7$/m);
    assert.match(text, /^signer: {9}unit p256 key$/m);
    assert.match(text, /^signature: {6}([0-9A-F]{2}:){20}\n\t\t/m);
  });

  test('a broken signature is reported, the module still inspected', async () => {
    const plain = await signedModule(moduleElf());
    const bad = patched(plain, (v, b) => v.setUint32(b.length - 28 - 4, 0xffffff, false)); // sig_len
    const info = await inspectModuleBytes(bad, 'unit.ko');
    assert.equal(info.signatureError?.code, 'E_SIG');
    assert.equal(info.signatureError?.offset, bad.length - 28 - 4);
    assert.equal(info.modinfo.at(-1)?.key, 'vermagic');
  });

  test('bytes that are no module: E_MAGIC at 0; a truncated gzip module: E_COMPRESS', async () => {
    await rejectsAt(() => inspectModuleBytes(new Uint8Array(100), 'x.ko'), 'E_MAGIC', 0);
    const gz = zlib.gzipSync(moduleElf());
    await assert.rejects(
      () => inspectModuleBytes(gz.subarray(0, gz.length - 10), 'x.ko.gz'),
      (e: { code?: string }) => e.code === 'E_COMPRESS' || e.code === 'E_TRUNCATED',
    );
  });
});

describe('modules.dep, modules.alias, modules.builtin', () => {
  const names: [string, string][] = [
    ['snd-hda-intel', 'snd_hda_intel'],
    ['kernel/fs/ext4/ext4.ko.xz', 'ext4'],
    ['/lib/modules/x/a-b.ko', 'a_b'],
    ['kernel/drivers/x/nvme-core.ko.zst', 'nvme_core'],
  ];
  for (const [input, want] of names) {
    test(`module name of ${input} is ${want}`, () => {
      assert.equal(input.includes('/') ? modnameFromPath(input) : normalizeModname(input), want);
    });
  }

  const globs: [string, string, boolean][] = [
    ['pci:v00008086d*sv*', 'pci:v00008086d00001234sv0000', true],
    ['pci:v00008086d*', 'pci:v000010ECd00001234', false],
    ['usb:v?234*', 'usb:v1234p', true],
    ['dmi*[Ll]enovo*', 'dmi:bvnLENOVO:svnlenovo', true],
    ['a[!b]c', 'abc', false],
    ['a[!b]c', 'axc', true],
  ];
  for (const [pattern, s, want] of globs) {
    test(`fnmatch(${pattern}, ${s}) is ${want}`, () => assert.equal(fnmatch(pattern, s), want));
  }

  test('modules.dep: module → path (relative to the directory), dependencies ignored', () => {
    const dep = parseModulesDep(
      'kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz\nkernel/lib/crc16.ko.xz:\n\n',
      '/lib/modules/r',
    );
    assert.deepEqual(
      [...dep],
      [
        ['ext4', '/lib/modules/r/kernel/fs/ext4/ext4.ko.xz'],
        ['crc16', '/lib/modules/r/kernel/lib/crc16.ko.xz'],
      ],
    );
  });

  test('modules.alias, modules.builtin and modules.builtin.modinfo', () => {
    assert.deepEqual(parseModulesAlias('# comment\nalias pci:v*d* e1000e\nalias fs-ext4 ext4\n'), [
      { pattern: 'pci:v*d*', module: 'e1000e' },
      { pattern: 'fs-ext4', module: 'ext4' },
    ]);
    assert.deepEqual([...parseModulesBuiltin('kernel/fs/ext4/ext4.ko\nkernel/lib/zlib-inflate.ko\n')].sort(), [
      'ext4',
      'zlib_inflate',
    ]);
    const b = parseBuiltinModinfo('ext4.license=GPL\0ext4.alias=fs-ext4\0crc16.license=GPL\0');
    assert.deepEqual(b.get('ext4'), [
      { key: 'license', value: 'GPL' },
      { key: 'alias', value: 'fs-ext4' },
    ]);
    assert.equal(normalizeAlias('fs-ext4'), 'fs_ext4');
    assert.equal(normalizeAlias('pci:v-[a-b]-x'), 'pci:v_[a-b]_x');
  });
});

describe('kernel text', () => {
  const base: KernelJson = {
    source: 'vmlinuz-6.12.0',
    release: '6.12.0',
    banner: 'Linux version 6.12.0 (b@h) (gcc) #1 SMP',
    buildId: 'abcd',
    compression: 'zstd',
    image: {
      kind: 'bzImage',
      pe: true,
      payloadOffset: 0x4000,
      payloadLength: 100,
      fileSize: 200,
      kernelSize: 1000,
      elf: true,
    },
    certificates: [
      {
        subject: 'CN=k',
        issuer: 'CN=k',
        serial: '01',
        subjectKeyId: null,
        sha256: 'ff',
        der: '',
        offset: 0,
        kernelName: 'k: 00',
      },
    ],
    certificateList: {
      method: 'scan',
      offset: 0x100,
      listSize: 500,
      unparsed: 1,
      extra: { offset: 0x300, size: 1, used: 0 },
    },
    btf: { size: 2, types: 1 },
    config: {
      source: 'IKCONFIG',
      MODULE_SIG: true,
      MODULE_SIG_FORCE: false,
      MODVERSIONS: true,
      MODULE_ALLOW_BTF_MISMATCH: false,
      SECURITY_LOCKDOWN_LSM: true,
      MODULE_COMPRESS: 'xz',
      MODULE_DECOMPRESS: false,
    },
    exports: { count: 3, gpl: 1, withCrc: 3, layout: 'prel32' },
    secureBoot: { signatures: [], sbat: 'sbat,1\nlinux,1\n' },
  };

  test('every row, counted phrases at 1 and 2', () => {
    assert.equal(
      renderKernel(base),
      [
        'kernel:       vmlinuz-6.12.0',
        'release:      6.12.0',
        'banner:       Linux version 6.12.0 (b@h) (gcc) #1 SMP',
        'build id:     abcd',
        'image:        bzImage (PE/EFI), zstd payload at 0x4000: 100 -> 1000 bytes (ELF vmlinux)',
        'secure boot:  PE/EFI image, not signed',
        'sbat:         sbat,1',
        'sbat:         linux,1',
        'certificates: 1 in the system list at 0x100 (500 bytes, found by scanning), 1 unparsable',
        '  [0] k: 00',
        '      subject CN=k',
        '      issuer  CN=k',
        '      serial  01',
        '      skid    (none)',
        '      sha256  ff',
        'extra area:   1 byte reserved at 0x300, 0 used',
        'btf:          2 bytes, 1 type',
        'config:       IKCONFIG: MODULE_SIG=y MODULE_SIG_FORCE=n MODVERSIONS=y MODULE_ALLOW_BTF_MISMATCH=n ' +
          'SECURITY_LOCKDOWN_LSM=y MODULE_COMPRESS=xz MODULE_DECOMPRESS=n',
        'exports:      3 (1 GPL-only, 3 with CRC, prel32 ksymtab)',
        '',
      ].join('\n'),
    );
  });

  test('unreadable parts name their warning; a raw image has no exports', () => {
    const j: KernelJson = {
      ...base,
      buildId: null,
      compression: null,
      image: { ...base.image!, pe: false, elf: false },
      certificates: [],
      certificateList: null,
      btf: null,
      config: null,
      exports: null,
      secureBoot: null,
      warnings: [{ part: 'btf', offset: 0x40, code: 'E_RANGE', message: 'bad' }],
    };
    const lines = renderKernel(j).split('\n');
    assert.deepEqual(lines.slice(3), [
      'build id:     (none)',
      'image:        bzImage, 1000 bytes',
      'certificates: (no system certificate list found)',
      'btf:          (btf unreadable at 0x40: bad (E_RANGE))',
      'config:       (not found: pass --config FILE)',
      'exports:      (raw image: no section table to read exports from)',
      '',
    ]);
  });
});

describe('check HTML, BTF mismatches, counts', () => {
  const verdict = (
    name: string,
    outcome: ModuleVerdict['outcome'],
    code: ModuleVerdict['reasons'][number]['code'],
  ): ModuleVerdict => ({
    file: `/m/${name}.ko`,
    name,
    outcome,
    errno: outcome === 'rejected' ? 'EKEYREJECTED' : null,
    taints: outcome === 'loads-tainted' ? 'E' : '',
    reasons: [{ check: 'signature', code, message: `<${code}> & more`, fatal: outcome === 'rejected' }],
    signedBy: null,
  });

  test('the summary, one row per module, escaped text, reason codes in the filter', () => {
    const html = renderCheckHtml({
      kernel: { source: 'k<1>', release: '6.12.0', vermagic: null, trusted: [], policy: { sigEnforce: true } },
      modules: [
        verdict('a', 'loads', 'trusted'),
        verdict('b', 'rejected', 'untrusted-key'),
        verdict('c', 'loads-tainted', 'unsigned'),
      ],
    });
    assert.match(
      html,
      /<span id="n-loads">1 loads<\/span><span id="n-tainted">1 loads tainted<\/span><span id="n-rejected">1 rejected/,
    );
    assert.equal(html.match(/<tr class="m /g)?.length, 3);
    assert.match(html, /<code>k&#60;1&#62;<\/code>/);
    assert.match(html, /&#60;untrusted-key&#62; &#38; more/);
    assert.match(html, /<option>unsigned<\/option><option>untrusted-key<\/option><\/select>/);
    assert.match(html, /trusted keys: \(none\)<br>policy: <code>sigEnforce=true<\/code>/);
    assert.doesNotMatch(html, /<[a-z]+ [^>]*<script/);
  });

  test('BTF mismatch paths are elided in the middle; mismatches rendered one per line', () => {
    assert.equal(elidePath(['a']), 'a');
    const long = elidePath(Array.from({ length: 12 }, (_, i) => `s${i}`));
    assert.ok(long.startsWith('s0') && long.endsWith('s11') && long.includes('...'), long);
    assert.deepEqual(renderBaseMismatches([]), []);
  });

  const counted: [number, string][] = [
    [0, '0 modules'],
    [1, '1 module'],
    [2, '2 modules'],
  ];
  for (const [n, want] of counted) test(`count(${n}) is "${want}"`, () => assert.equal(count(n, 'module'), want));
  test('agree, and the sign and check summaries', () => {
    assert.equal(agree(1, 'differs', 'differ'), 'differs');
    assert.equal(agree(2, 'differs', 'differ'), 'differ');
    assert.match(signSummary('signed', 2, 1), /2/);
    assert.match(checkSummary(3, 1, 1, 1), /3 modules/);
  });
});
