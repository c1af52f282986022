/**
 * SBAT against real things: the `.sbat` of every shim, MokManager, fallback, GRUB and systemd-boot
 * binary of scripts/fetch-efi.sh (Debian 12; amd64, i386, arm64) and of the machine's
 * systemd-boot, against the bytes `objcopy -O binary --only-section=.sbat` extracts; the built-in
 * levels against the `.sbatlevel` section of Debian's shim and against shim's own generator run
 * on its SbatLevel_Variable.txt; the parsers against shim's own C (csv.c, sbat.c of Debian's shim
 * 16.1 source, compiled here); and shim's verdicts on those real images under the published
 * revocations, through `kmodseal efi sbat`.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers.js';
import { EFI_CACHE, efiPackageImages, run, sh, tmpDir } from './helpers.js';
import { parsePe } from '../../src/pe/pe.js';
import {
  builtinSbatLevel,
  formatSbat,
  imageSbat,
  judgeImageSbat,
  parseSbat,
  parseSbatLevel,
  parseSbatLevelSection,
  PUBLISHED_SBAT_LEVELS,
  SHIM_SBAT_LEVELS,
  type SbatEntry,
} from '../../src/pe/sbat.js';

/** Debian's shim source (trixie's 16.1, the upstream of bookworm's 16.1-2~deb12u1), unpacked by scripts/debian-source.sh. */
const SHIM_SOURCE = path.join(path.dirname(EFI_CACHE), 'shim-source', 'shim-16.1');
const SYSTEMD_BOOT = '/usr/lib/systemd/boot/efi';

let dir = '';
before(() => {
  dir = tmpDir('efi-sbat');
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function images(): string[] {
  const own = fs.existsSync(SYSTEMD_BOOT)
    ? fs
        .readdirSync(SYSTEMD_BOOT)
        .filter((f) => f.endsWith('.efi') || f.endsWith('.efi.stub'))
        .map((f) => path.join(SYSTEMD_BOOT, f))
    : [];
  return [...efiPackageImages(), ...own];
}

/** The section as GNU objcopy extracts it (the arm64 build of binutils for arm64 images). */
function objcopySection(file: string, section: string): Buffer {
  const machine = parsePe(fs.readFileSync(file), file).machine;
  const out = path.join(dir, 'section.bin');
  fs.rmSync(out, { force: true });
  sh(machine === 0xaa64 ? 'aarch64-linux-gnu-objcopy' : 'objcopy', [
    '-O',
    'binary',
    `--only-section=${section}`,
    file,
    out,
  ]);
  return fs.existsSync(out) ? fs.readFileSync(out) : Buffer.alloc(0);
}

const find = (re: RegExp): string => {
  const f = images().find((x) => re.test(x));
  assert.ok(f, `no image matches ${re}: run scripts/fetch-efi.sh`);
  return f;
};
const grub = (): string => find(/amd64\/grub-efi-amd64-signed\/.*\/grubx64\.efi\.signed$/);
const shim = (): string => find(/amd64\/shim-unsigned\/.*\/shimx64\.efi$/);

describe('.sbat of real images, against objcopy', () => {
  test('every image: the same bytes as objcopy, the same rows, canonical text that formats back to itself', () => {
    const all = images();
    assert.ok(all.length >= 25, `only ${all.length} images`);
    let present = 0;
    for (const file of all) {
      const data = new Uint8Array(fs.readFileSync(file));
      const img = imageSbat(data, file);
      const want = objcopySection(file, '.sbat');
      if (want.length === 0) {
        assert.equal(img.status, 'absent', `${file}: objcopy finds no .sbat`);
        continue;
      }
      assert.equal(img.status, 'present', file);
      if (img.status !== 'present') continue;
      present++;
      // objcopy takes min(VirtualSize, SizeOfRawData) bytes; shim reads SizeOfRawData
      const declared = data.subarray(img.offset, img.offset + Math.min(img.virtualSize, img.size));
      assert.deepEqual(Buffer.from(declared), want, `${file}: section bytes`);
      const text = want.toString('latin1').replace(/\0+$/, '');
      const rows = text
        .split('\n')
        .filter((l) => l)
        .map((l) => l.split(','));
      assert.deepEqual(
        img.sbat.entries.map((e) => [
          e.component,
          e.generation,
          e.vendorName,
          e.vendorPackage,
          e.vendorVersion,
          e.vendorUrl,
        ]),
        rows,
        file,
      );
      assert.deepEqual(img.sbat.issues, [], `${file}: ${JSON.stringify(img.sbat.issues)}`);
      assert.equal(formatSbat(img.sbat.entries), text, `${file}: format(parse(x)) = x`);
      assert.deepEqual(parseSbat(want).entries, img.sbat.entries, `${file}: objcopy's bytes parse the same`);
      assert.equal(img.sbat.entries[0]!.component, 'sbat');
    }
    assert.ok(present >= 20, `only ${present} images with .sbat`);
  });

  test('what the images say: shim,4 and grub,5 in Debian 12; arm64 systemd-boot 252 carries no .sbat', () => {
    const gen = (file: string): string[] => {
      const img = imageSbat(new Uint8Array(fs.readFileSync(file)), file);
      return img.status === 'present' ? img.sbat.entries.map((e) => `${e.component},${e.generation}`) : [img.status];
    };
    assert.deepEqual(gen(shim()), ['sbat,1', 'shim,4', 'shim.debian,1']);
    assert.deepEqual(gen(grub()), ['sbat,1', 'grub,5', 'grub.debian,5', 'grub.debian12,1']);
    assert.deepEqual(gen(find(/arm64\/systemd-boot-efi\/.*\/systemd-bootaa64\.efi$/)), ['absent']);
    assert.deepEqual(gen(find(/amd64\/systemd-boot-efi\/.*\/systemd-bootx64\.efi$/)), [
      'sbat,1',
      'systemd,1',
      'systemd.debian,1',
    ]);
  });
});

describe('built-in levels', () => {
  test("SHIM_SBAT_LEVELS equal the .sbatlevel section of Debian 12's shim binaries (objcopy)", () => {
    const shims = images().filter((f) => /\/shim(x64|aa64|ia32)\.efi(\.signed)?$/.test(f));
    assert.ok(shims.length >= 5, shims.join(' '));
    for (const file of shims) {
      const got = parseSbatLevelSection(objcopySection(file, '.sbatlevel'), file);
      assert.deepEqual(got, { automatic: SHIM_SBAT_LEVELS.automatic, latest: SHIM_SBAT_LEVELS.latest }, file);
    }
    const version = fs.readFileSync(path.join(EFI_CACHE, 'amd64', 'shim-unsigned', '.version'), 'utf8').trim();
    assert.equal(version, SHIM_SBAT_LEVELS.shimVersion);
  });

  test("PUBLISHED_SBAT_LEVELS equal what shim's generate_sbat_var_defs.c makes of SbatLevel_Variable.txt", () => {
    assert.ok(fs.existsSync(SHIM_SOURCE), `${SHIM_SOURCE} is missing: scripts/debian-source.sh shim`);
    const gen = path.join(dir, 'generate');
    sh('gcc', ['-o', gen, path.join(SHIM_SOURCE, 'generate_sbat_var_defs.c')]);
    const header = path.join(dir, 'generated_sbat_var_defs.h');
    fs.writeFileSync(header, sh(gen, [SHIM_SOURCE]));
    const print = path.join(dir, 'print.c');
    fs.writeFileSync(
      print,
      '#include <stdio.h>\n#include "sbat_var_defs.h"\n#include "generated_sbat_var_defs.h"\n' +
        'int main(void) { printf("%s", SBAT_VAR_AUTOMATIC); printf("@@%s", SBAT_VAR_LATEST); return 0; }\n',
    );
    const dates = [...new Set(PUBLISHED_SBAT_LEVELS.map((l) => l.datestamp))];
    for (const date of dates) {
      const exe = path.join(dir, `print-${date}`);
      sh('gcc', [
        `-DSBAT_AUTOMATIC_DATE=${date}`,
        '-I',
        path.join(SHIM_SOURCE, 'include'),
        '-I',
        dir,
        '-o',
        exe,
        print,
      ]);
      const [automatic, latest] = sh(exe, []).split('@@');
      assert.equal(builtinSbatLevel(date), automatic, `SBAT_AUTOMATIC_DATE=${date}`);
      assert.equal(latest, SHIM_SBAT_LEVELS.latest);
    }
    // every dated block of the file is in the table, in order
    const txt = fs.readFileSync(path.join(SHIM_SOURCE, 'SbatLevel_Variable.txt'), 'latin1');
    const blocks = [...txt.matchAll(/^sbat,1,(\d{10})\n((?:[^\n]+\n)*)/gm)].map((m) => m[0]);
    assert.deepEqual(
      blocks,
      PUBLISHED_SBAT_LEVELS.map((l) => l.text),
    );
  });
});

/** shim's parsers compiled from Debian's source, run on files. */
function shimParsers(): (mode: 'section' | 'level', inputs: Uint8Array[]) => string[] {
  assert.ok(fs.existsSync(SHIM_SOURCE), `${SHIM_SOURCE} is missing: scripts/debian-source.sh shim`);
  const src = (f: string): string => fs.readFileSync(path.join(SHIM_SOURCE, f), 'latin1');
  const cut = (text: string, name: string): string => {
    const m = new RegExp(`^EFI_STATUS\\n${name}\\(.*?^\\}\\n`, 'ms').exec(text);
    assert.ok(m, `${name} not found in sbat.c`);
    return m[0];
  };
  const build = path.join(dir, 'harness');
  fs.mkdirSync(build, { recursive: true });
  fs.writeFileSync(path.join(build, 'shim-str.h'), src('include/str.h'));
  fs.writeFileSync(path.join(build, 'shim-csv.c'), src('csv.c').replace('#include "shim.h"', ''));
  const sbat = src('sbat.c');
  fs.writeFileSync(path.join(build, 'shim-sbat.c'), cut(sbat, 'parse_sbat_section') + cut(sbat, 'parse_sbat_var_data'));
  const exe = path.join(build, 'harness');
  sh('gcc', ['-O1', '-w', '-I', build, '-o', exe, path.join(import.meta.dirname, 'sbat-shim-harness.c')]);
  return (mode, inputs) => {
    const files = inputs.map((b, i) => {
      const f = path.join(build, `in-${i}`);
      fs.writeFileSync(f, b);
      return f;
    });
    const r = run(exe, [mode, ...files]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.toString('latin1').split('--\n').slice(0, -1);
  };
}

const sectionResult = (b: Uint8Array): string => {
  const p = parseSbat(b);
  if (b.length === 0 || !p.valid) return 'ERROR\n';
  const row = (e: SbatEntry): string =>
    [e.component, e.generation, e.vendorName, e.vendorPackage, e.vendorVersion, e.vendorUrl].join('|') + '\n';
  return `OK ${p.entries.length}\n` + p.entries.map(row).join('');
};
const levelResult = (b: Uint8Array): string => {
  try {
    const l = parseSbatLevel(b, 'x');
    return (
      `OK ${l.entries.length}\n` +
      l.entries.map((e) => `${e.component}|${e.generation}|${e.datestamp ?? '-'}\n`).join('')
    );
  } catch {
    return 'ERROR\n';
  }
};

describe("the parsers against shim's own C", () => {
  test('real .sbat sections, the published levels, and 4000 generated inputs give the same rows or the same refusal', () => {
    const parse = shimParsers();
    let seed = 20260518;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const alphabet = Buffer.from(',,,,\n\r\0\xef\xbb\xbfab1 \t', 'latin1');
    const sections: Uint8Array[] = [];
    for (const f of images()) {
      const data = new Uint8Array(fs.readFileSync(f));
      const img = imageSbat(data, f);
      if (img.status === 'present') sections.push(data.subarray(img.offset, img.offset + img.size));
    }
    assert.ok(sections.length >= 20, `only ${sections.length} sections`);
    const base = Buffer.from(formatSbat(parseSbat(sections[0]!).entries), 'latin1');
    const generated: Uint8Array[] = [];
    for (let i = 0; i < 2000; i++) {
      if (i % 3 === 0) generated.push(Uint8Array.from({ length: 1 + rnd(80) }, () => alphabet[rnd(alphabet.length)]!));
      else if (i % 3 === 1) generated.push(base.map((x) => (rnd(15) === 0 ? alphabet[rnd(alphabet.length)]! : x)));
      else {
        let s = rnd(5) === 0 ? '\xef\xbb\xbf' : '';
        for (let k = 1 + rnd(5); k > 0; k--)
          s +=
            Array.from({ length: rnd(9) }, () => 'x'.repeat(rnd(3))).join(',') +
            ['\n', '\r', '\r\n', '\n\n', '\0', '\n\0', ''][rnd(7)];
        generated.push(Buffer.from(s, 'latin1'));
      }
    }
    const inputs = [...sections, ...generated];
    const shimSection = parse('section', inputs);
    inputs.forEach((b, i) =>
      assert.equal(sectionResult(b), shimSection[i], `section ${JSON.stringify(Buffer.from(b).toString('latin1'))}`),
    );
    const levels = [
      ...PUBLISHED_SBAT_LEVELS.map((l) => Buffer.from(l.text, 'latin1')),
      ...generated,
      ...generated.map((b) => Buffer.from(Buffer.from(b).toString('latin1').replace(/,/g, '\n,'), 'latin1')),
    ];
    const shimLevel = parse('level', levels);
    levels.forEach((b, i) =>
      assert.equal(levelResult(b), shimLevel[i], `level ${JSON.stringify(Buffer.from(b).toString('latin1'))}`),
    );
  });
});

describe("shim's verdict on real images", () => {
  const judge = (file: string, levelText: string): ReturnType<typeof judgeImageSbat> =>
    judgeImageSbat(imageSbat(new Uint8Array(fs.readFileSync(file)), file), parseSbatLevel(levelText, 'level'));

  test("Debian 12's shim, GRUB and systemd-boot pass every published revocation and shim's own levels", () => {
    for (const file of [shim(), grub(), find(/amd64\/systemd-boot-efi\/.*\/systemd-bootx64\.efi$/)])
      for (const l of [
        ...PUBLISHED_SBAT_LEVELS.map((x) => x.text),
        SHIM_SBAT_LEVELS.automatic,
        SHIM_SBAT_LEVELS.latest,
      ]) {
        const v = judge(file, l);
        assert.equal(v.allowed, true, `${file} under ${JSON.stringify(l)}: ${v.reason}`);
      }
  });

  test('a generation below the level is refused, naming the component; at or above is allowed', () => {
    const cases: [string, string, string | undefined][] = [
      [grub(), 'sbat,1,2099010100\ngrub,5\n', undefined],
      [grub(), 'sbat,1,2099010100\ngrub,6\n', 'grub'],
      [grub(), 'sbat,1,2099010100\ngrub,5\ngrub.debian,6\n', 'grub.debian'],
      [grub(), 'sbat,1,2099010100\ngrub.debian12,2\n', 'grub.debian12'],
      [grub(), 'sbat,2,2099010100\n', 'sbat'],
      [shim(), 'sbat,1,2099010100\nshim,5\n', 'shim'],
      [shim(), 'sbat,1,2099010100\nshim.debian,2\n', 'shim.debian'],
    ];
    for (const [file, l, component] of cases) {
      const v = judge(file, l);
      assert.equal(v.allowed, component === undefined, `${file} under ${JSON.stringify(l)}`);
      assert.equal(v.revoked?.entry.component, component);
    }
  });

  test("GRUB at generation 4 (Debian 12's GRUB with its grub row set to 4): allowed by 2024040900, refused by 2025021800", () => {
    const data = fs.readFileSync(grub());
    const img = imageSbat(new Uint8Array(data), grub());
    assert.equal(img.status, 'present');
    if (img.status !== 'present') return;
    const row = img.sbat.entries.find((e) => e.component === 'grub')!;
    const copy = Buffer.from(data);
    copy[img.offset + row.offset + 'grub,'.length] = 0x34; // '5' -> '4'
    const file = path.join(dir, 'grubx64-gen4.efi');
    fs.writeFileSync(file, copy);
    assert.equal(judge(file, builtinSbatLevel('2024040900')!).allowed, true);
    assert.equal(judge(file, builtinSbatLevel('2023091900')!).allowed, true);
    const v = judge(file, SHIM_SBAT_LEVELS.automatic);
    assert.deepEqual(
      [v.allowed, v.revoked?.entry.component, v.revoked?.generation, v.revoked?.minimum],
      [false, 'grub', 4, 5],
    );
  });

  test("a real GRUB at generation 4 (Debian 11's 2.06-3~deb11u6): the February 2025 revocation refuses it", async () => {
    const old = images().filter((f) => {
      if (!/grub[a-z0-9]*\.efi(\.signed)?$/.test(f)) return false;
      const img = imageSbat(new Uint8Array(fs.readFileSync(f)), f);
      return img.status === 'present' && img.sbat.entries.some((e) => e.component === 'grub' && e.generation === '4');
    });
    assert.ok(
      old.length > 0,
      "no GRUB with grub,4 in the cache: Debian 11's grub-efi-amd64-signed 1+2.06+3~deb11u6 (scripts/fetch-efi.sh)",
    );
    for (const file of old) {
      assert.equal(judge(file, builtinSbatLevel('2024040900')!).allowed, true, file);
      const v = judge(file, SHIM_SBAT_LEVELS.automatic);
      assert.deepEqual([v.allowed, v.revoked?.entry.component, v.revoked?.minimum], [false, 'grub', 5], file);
      const r = await runCli(['efi', 'sbat', '--level', 'shim:automatic', file]);
      assert.equal(r.code, 4, r.stderr);
    }
  });

  test('arm64 systemd-boot without .sbat: refused when shim loads it, allowed through the protocol or with no revocations', () => {
    const file = find(/arm64\/systemd-boot-efi\/.*\/systemd-bootaa64\.efi$/);
    const v = judge(file, SHIM_SBAT_LEVELS.automatic);
    assert.deepEqual([v.allowed, v.allowedViaProtocol, v.reason], [false, true, 'no-sbat']);
    assert.equal(judge(file, '\n').allowed, true);
  });
});

describe('kmodseal efi sbat', () => {
  test('entries and the verdict under a built-in level: exit 0, text and JSON', async () => {
    const r = await runCli(['efi', 'sbat', '--level', 'shim:latest', grub()]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.toString();
    assert.match(
      out,
      /, 4 entries\n {2}sbat,1,SBAT Version,sbat,1,https:\/\/github.com\/rhboot\/shim\/blob\/main\/SBAT.md\n/,
    );
    assert.match(out, /level: shim:latest \(sbat,1,2025051000; 4 entries\)/);
    assert.match(out, /: allowed: every component is at or above the level\n$/);
    const j = await runCli(['efi', 'sbat', '--json', '--level', 'shim:automatic', grub()]);
    assert.equal(j.code, 0, j.stderr);
    const json = JSON.parse(j.stdout.toString());
    const img = imageSbat(new Uint8Array(fs.readFileSync(grub())), grub());
    assert.equal(json.sbat.offset, img.status === 'present' ? img.offset : -1);
    assert.deepEqual(
      json.sbat.entries.map((e: { component: string }) => e.component),
      ['sbat', 'grub', 'grub.debian', 'grub.debian12'],
    );
    assert.equal(json.level.datestamp, '2025021800');
    assert.deepEqual([json.verdict.allowed, json.verdict.reason], [true, 'not-revoked']);
  });

  test('a level file revoking GRUB: exit 4 naming the component; an efivarfs copy; --running with --efivars', async () => {
    const level = path.join(dir, 'level.txt');
    fs.writeFileSync(level, 'sbat,1,2099010100\nshim,4\ngrub,6\n');
    const r = await runCli(['efi', 'sbat', '--level', level, grub()]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stdout.toString(), /: refused: grub generation 5 is below 6 \(level entry grub,6\)\n$/);
    // the machine's variable: attributes (BS|RT) + shim's own latest payload, read from its .sbatlevel
    const efivars = path.join(dir, 'efivars');
    fs.mkdirSync(efivars);
    const payload = parseSbatLevelSection(objcopySection(shim(), '.sbatlevel'), shim()).latest;
    const variable = Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.from(payload, 'latin1')]);
    fs.writeFileSync(path.join(efivars, 'SbatLevelRT-605dab50-e046-4300-abb6-3dd810dd8b23'), variable);
    const running = await runCli(['efi', 'sbat', '--json', '--running', '--efivars', efivars, shim()]);
    assert.equal(running.code, 0, running.stderr);
    const j = JSON.parse(running.stdout.toString());
    assert.deepEqual([j.level.attributes, j.level.datestamp, j.verdict.reason], [6, '2025051000', 'not-revoked']);
    const copy = path.join(dir, 'SbatLevelRT-copy');
    fs.writeFileSync(copy, variable);
    const fromCopy = await runCli(['efi', 'sbat', '--json', '--level', copy, grub()]);
    assert.equal(JSON.parse(fromCopy.stdout.toString()).level.attributes, 6);
  });

  test('no SbatLevelRT, no .sbat, a malformed .sbat, bad usage: exit 3, 4, 1, 2', async () => {
    const empty = path.join(dir, 'no-efivars');
    fs.mkdirSync(empty);
    const none = await runCli(['efi', 'sbat', '--running', '--efivars', empty, grub()]);
    assert.equal(none.code, 3);
    assert.match(none.stderr, /no SbatLevelRT variable/);
    const arm = find(/arm64\/systemd-boot-efi\/.*\/systemd-bootaa64\.efi$/);
    const noSbat = await runCli(['efi', 'sbat', '--level', 'shim:automatic', arm]);
    assert.equal(noSbat.code, 4);
    assert.match(noSbat.stdout.toString(), /no \.sbat section\n[^]*refused: the image has no usable \.sbat/);
    assert.equal((await runCli(['efi', 'sbat', arm])).code, 0, 'no level: just says there is none');
    // break GRUB's second row: its comma after the generation becomes a space
    const data = fs.readFileSync(grub());
    const img = imageSbat(new Uint8Array(data), grub());
    assert.equal(img.status, 'present');
    if (img.status !== 'present') return;
    const row = img.sbat.entries[1]!;
    const broken = Buffer.from(data);
    const at = img.offset + row.offset;
    for (let i = at; broken[i] !== 0x0a; i++) if (broken[i] === 0x2c) broken[i] = 0x20;
    const file = path.join(dir, 'grub-broken.efi');
    fs.writeFileSync(file, broken);
    const bad = await runCli(['efi', 'sbat', '--level', 'shim:automatic', file]);
    assert.equal(bad.code, 1);
    assert.equal(
      bad.stderr,
      `kmodseal: ERROR: ${file}: 0x${at.toString(16)}: sbat: a row without a comma (shim needs 6 comma-separated fields) (E_FORMAT)\n`,
    );
    assert.equal((await runCli(['efi', 'sbat', '--level', 'shim:nope', grub()])).code, 2);
    assert.equal((await runCli(['efi', 'sbat', '--level', 'shim:latest', '--running', grub()])).code, 2);
  });
});
