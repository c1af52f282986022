/**
 * native/modinfo.c (kmodseal_modinfo), inspect's native renderer for plain .ko: whatever it
 * renders must be byte for byte what the TypeScript path renders (and modinfo prints), and
 * everything it is not sure of must be handed back. Held here three ways: the two paths over
 * whole real trees, mutated real modules (fast-check), and signatures outside its narrow PKCS#7
 * shape made by openssl cms and sign-file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { nativeModinfoAvailable, nativeModinfoTexts } from '../../src/run/modinfo-native.js';
import { runInspectTask } from '../../src/run/jobs/inspect.js';
import { findModuleSignature } from '../../src/modsig/signature.js';
import { firstDifference, have, kernelSet, modinfo, modulesBelow, runBin } from '../helpers.js';

const native = nativeModinfoAvailable();
const k61 = kernelSet('amd64-6.1');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-nmi-'));
const SIGN_FILE = '/usr/lib/linux-kbuild-6.1/scripts/sign-file';

const bin = (args: string[], env: NodeJS.ProcessEnv = {}): ReturnType<typeof runBin> => runBin(args, { env });

/** The TypeScript path's text for one file, or why it has none (an error or a warning). */
async function tsText(file: string): Promise<{ text?: string; problem?: string }> {
  const r = await runInspectTask({ path: file, display: file, mode: 'text' });
  if (r.error) return { problem: r.error.message };
  if (r.warning) return { text: r.text, problem: r.warning.message };
  return { text: r.text };
}

for (const set of ['amd64-6.1', 'armhf-6.1', 's390x-6.1']) {
  const k = kernelSet(set);
  test(
    `${set}: inspect prints the same with and without the native renderer, and all of it natively`,
    { skip: (!native && 'kmodseal_modinfo not built') || (!k && 'no corpus') },
    async () => {
      const files = modulesBelow(k!.modulesDir).filter((f) => f.endsWith('.ko'));
      assert.ok(files.length > 2000);
      const withNative = bin(['inspect', k!.modulesDir]);
      const without = bin(['inspect', k!.modulesDir], { KMODSEAL_NO_NATIVE: '1' });
      assert.equal(withNative.code, 0, withNative.stderr);
      assert.equal(without.code, 0, without.stderr);
      if (!withNative.stdout.equals(without.stdout)) assert.fail(firstDifference(withNative.stdout, without.stdout));
      // every real module is the common shape: none handed back
      const r = nativeModinfoTexts(files, files, 2)!;
      assert.equal([...r.lens].filter((l) => l < 0).length, 0);
      assert.equal(
        r.out.length,
        [...r.lens].reduce((a, b) => a + b, 0),
      );
    },
  );
}

test(
  'mutated real modules: the native text equals the TypeScript text, or the module is handed back (fast-check)',
  { skip: (!native && 'kmodseal_modinfo not built') || (!k61 && 'no corpus') },
  async () => {
    const pool = modulesBelow(k61!.modulesDir)
      .filter((f) => f.endsWith('.ko') && fs.statSync(f).size < 60_000)
      .slice(0, 400);
    const bases = [
      ...pool.filter((_, i) => i % 40 === 0),
      ...['armhf-6.1', 's390x-6.1'].flatMap((s) => {
        const k = kernelSet(s);
        return k
          ? modulesBelow(k.modulesDir)
              .filter((f) => f.endsWith('.ko') && fs.statSync(f).size < 60_000)
              .slice(0, 3)
          : [];
      }),
    ].map((f) => fs.readFileSync(f));
    /** The regions a mutation aims at: ELF header, section headers, name table, .modinfo, trailer, PKCS#7. */
    const regions = (b: Buffer): [number, number][] => {
      const is64 = b[4] === 2,
        le = b[5] === 1;
      const u16 = (o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
      const w = (o: number): number =>
        is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : le ? b.readUInt32LE(o) : b.readUInt32BE(o);
      const shoff = w(is64 ? 40 : 32),
        shnum = u16(is64 ? 60 : 48);
      const out: [number, number][] = [
        [0, 64],
        [shoff, shnum * (is64 ? 64 : 40)],
        [b.length - 40, 40],
      ];
      const sig = findModuleSignature(b, 'x');
      if (sig)
        out.push(
          [sig.sigOffset, sig.sigData.length],
          [sig.sigOffset, 64],
          [sig.sigOffset + sig.sigData.length - 600, 600],
        );
      const text = b.toString('latin1');
      const mi = text.indexOf('license=');
      if (mi > 0) out.push([mi - 64, 512]);
      return out;
    };
    /** Field edits: a word of a section header, of the ELF header or of the signature trailer set to a value near a boundary. */
    const setField = (b: Buffer, what: number, index: number, pick: number, raw: number): void => {
      const is64 = b[4] === 2,
        le = b[5] === 1;
      const u16 = (o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
      const shoff = Number(
        is64 ? (le ? b.readBigUInt64LE(40) : b.readBigUInt64BE(40)) : le ? b.readUInt32LE(32) : b.readUInt32BE(32),
      );
      const shnum = u16(is64 ? 60 : 48);
      const put = (o: number, size: number, v: number): void => {
        if (o < 0 || o + size > b.length) return;
        if (size === 2) {
          if (le) b.writeUInt16LE(v & 0xffff, o);
          else b.writeUInt16BE(v & 0xffff, o);
        } else if (size === 4) {
          if (le) b.writeUInt32LE(v >>> 0, o);
          else b.writeUInt32BE(v >>> 0, o);
        } else if (le) b.writeBigUInt64LE(BigInt(v), o);
        else b.writeBigUInt64BE(BigInt(v), o);
      };
      const values = [0, 1, 8, b.length - 1, b.length, b.length + 1, shoff, 0xffffffff, 2 ** 53, raw];
      const v = values[pick % values.length]!;
      if (what === 0) {
        // a section header field: name, type, offset, size
        const h = shoff + (index % shnum) * (is64 ? 64 : 40);
        const fields: [number, number][] = is64
          ? [
              [0, 4],
              [4, 4],
              [24, 8],
              [32, 8],
            ]
          : [
              [0, 4],
              [4, 4],
              [16, 4],
              [20, 4],
            ];
        const [o, size] = fields[pick % 4]!;
        put(h + o, size, pick % 4 === 1 ? [0, 1, 8, 3][raw % 4]! : v);
      } else if (what === 1) {
        // an ELF header field: e_shoff, e_shentsize, e_shnum, e_shstrndx
        const fields: [number, number][] = is64
          ? [
              [40, 8],
              [58, 2],
              [60, 2],
              [62, 2],
            ]
          : [
              [32, 4],
              [46, 2],
              [48, 2],
              [50, 2],
            ];
        const [o, size] = fields[index % 4]!;
        put(o, size, index % 4 === 0 ? v : [0, 1, shnum - 1, shnum, 40, 64, raw][pick % 7]!);
      } else {
        // the trailer: algo, hash, id_type, signer_len, key_id_len, sig_len
        const t = b.length - 40;
        if (t < 0) return;
        if (index % 6 === 5) b.writeUInt32BE([0, 1, t, t + 1, raw, 0xffffffff][pick % 6]! >>> 0, t + 8);
        else b[t + (index % 6)] = [0, 1, 2, 3, 8, 9, raw & 255][pick % 7]!;
      }
    };
    let rendered = 0,
      handedBack = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            base: fc.nat({ max: bases.length - 1 }),
            region: fc.nat({ max: 7 }),
            edits: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 })), {
              minLength: 0,
              maxLength: 4,
            }),
            fields: fc.array(
              fc.tuple(fc.nat({ max: 2 }), fc.nat({ max: 200 }), fc.nat({ max: 100 }), fc.nat({ max: 200_000 })),
              { minLength: 0, maxLength: 2 },
            ),
            truncate: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { freq: 8 }),
          }),
          { minLength: 8, maxLength: 8 },
        ),
        async (cases) => {
          const files = cases.map((c, i) => {
            let b = Buffer.from(bases[c.base]!);
            const rs = regions(b);
            const [from, len] = rs[c.region % rs.length]!;
            for (const [at, v] of c.edits) {
              const o = Math.max(0, Math.min(b.length - 1, from + Math.floor(at * len)));
              b[o] = v;
            }
            for (const [what, index, pick, raw] of c.fields) {
              try {
                setField(b, what, index, pick, raw);
              } catch {
                /* an earlier edit made the header unreadable as such: leave it */
              }
            }
            if (c.truncate !== null) b = b.subarray(0, Math.floor(c.truncate * b.length));
            const f = path.join(tmp, `m${i}.ko`);
            fs.writeFileSync(f, b);
            return f;
          });
          const r = nativeModinfoTexts(files, files, 2)!;
          let at = 0;
          for (let i = 0; i < files.length; i++) {
            const len = r.lens[i]!;
            if (len < 0) {
              handedBack++;
              continue;
            }
            rendered++;
            const got = r.out.subarray(at, at + len).toString('latin1');
            at += len;
            const want = await tsText(files[i]!);
            assert.equal(
              want.problem,
              undefined,
              `native rendered ${files[i]} but the TypeScript path says: ${want.problem}`,
            );
            assert.equal(got, want.text);
          }
        },
      ),
      { numRuns: 200, seed: 0x6b6d6f64 },
    );
    // both outcomes happened: the property was exercised on each side
    console.log(`# ${rendered} rendered natively, ${handedBack} handed back`);
    assert.ok(rendered > 100, `${rendered} rendered`);
    assert.ok(handedBack > 100, `${handedBack} handed back`);
  },
);

/** A PKCS#7 made by openssl cms, appended as sign-file appends it. */
function appendPkcs7(module: Buffer, p7: Buffer): Buffer {
  const trailer = Buffer.alloc(12);
  trailer[2] = 2; // PKEY_ID_PKCS7
  trailer.writeUInt32BE(p7.length, 8);
  return Buffer.concat([module, p7, trailer, Buffer.from('~Module signature appended~\n')]);
}

test(
  'signatures outside the narrow shape are handed back, and the output still equals modinfo',
  {
    skip:
      (!native && 'kmodseal_modinfo not built') ||
      (!k61 && 'no corpus') ||
      (!have('openssl') && 'openssl missing') ||
      (!have('modinfo') && 'modinfo missing'),
  },
  async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'sig-'));
    const src = modulesBelow(k61!.modulesDir).find((f) => f.endsWith('/dummy.ko'))!;
    const signed = fs.readFileSync(src);
    const plain = signed.subarray(0, findModuleSignature(signed, src)!.moduleLength);
    const body = path.join(dir, 'body');
    fs.writeFileSync(body, plain);
    const key = path.join(dir, 'key.pem'),
      cert = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-nodes',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-days',
        '3650',
        '-subj',
        '/O=kmodseal test/CN=Native shape test key/emailAddress=t@example.org',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'pipe' },
    );
    const cms = (...extra: string[]): Buffer =>
      execFileSync('openssl', [
        'cms',
        '-sign',
        '-binary',
        '-outform',
        'DER',
        '-in',
        body,
        '-signer',
        cert,
        '-inkey',
        key,
        ...extra,
      ]);
    const cases: { name: string; data: Buffer; native: boolean }[] = [
      {
        name: 'sha256-noattr-nocerts',
        data: appendPkcs7(plain, cms('-noattr', '-nocerts', '-md', 'sha256')),
        native: true,
      },
      { name: 'sha384', data: appendPkcs7(plain, cms('-noattr', '-nocerts', '-md', 'sha384')), native: true },
      { name: 'sha512', data: appendPkcs7(plain, cms('-noattr', '-nocerts', '-md', 'sha512')), native: true },
      { name: 'sha1', data: appendPkcs7(plain, cms('-noattr', '-nocerts', '-md', 'sha1')), native: true },
      { name: 'with-certificate', data: appendPkcs7(plain, cms('-noattr', '-md', 'sha256')), native: false },
      { name: 'signed-attributes', data: appendPkcs7(plain, cms('-nocerts', '-md', 'sha256')), native: false },
      {
        name: 'subject-key-id',
        data: appendPkcs7(plain, cms('-noattr', '-nocerts', '-keyid', '-md', 'sha256')),
        native: false,
      },
      { name: 'unsigned', data: Buffer.from(plain), native: true },
      { name: 'debian', data: signed, native: true },
    ];
    if (fs.existsSync(SIGN_FILE)) {
      const f = path.join(dir, 'signfile.ko');
      fs.writeFileSync(f, plain);
      execFileSync(SIGN_FILE, ['sha512', key, cert, f]);
      cases.push({ name: 'sign-file-sha512', data: fs.readFileSync(f), native: true });
    }
    const files = cases.map((c) => {
      const f = path.join(dir, `${c.name}.ko`);
      fs.writeFileSync(f, c.data);
      return f;
    });
    const r = nativeModinfoTexts(files, files, 2)!;
    cases.forEach((c, i) => assert.equal(r.lens[i]! >= 0, c.native, `${c.name}: ${r.lens[i]}`));
    const ours = bin(['inspect', ...files]);
    const theirs = modinfo([], files);
    // modinfo shows no signer for the subject-key-id signature and kmodseal says why on stderr
    assert.match(ours.stderr, /subject-key-id\.ko/);
    if (!ours.stdout.equals(theirs)) assert.fail(firstDifference(ours.stdout, theirs));
    const without = bin(['inspect', ...files], { KMODSEAL_NO_NATIVE: '1' });
    assert.ok(without.stdout.equals(ours.stdout));
    assert.equal(without.stderr, ours.stderr);
    assert.equal(without.code, ours.code);
  },
);

test(
  'a bad module among good ones: same output, errors and exit code with and without the native renderer',
  { skip: (!native && 'kmodseal_modinfo not built') || (!k61 && 'no corpus') },
  () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'mix-'));
    const mods = modulesBelow(k61!.modulesDir)
      .filter((f) => f.endsWith('.ko'))
      .slice(0, 5);
    const files = mods.map((m, i) => {
      const f = path.join(dir, `${i}-${path.basename(m)}`);
      const b = fs.readFileSync(m);
      fs.writeFileSync(
        f,
        i === 2
          ? b.subarray(0, 100)
          : i === 3
            ? Buffer.concat([b.subarray(0, b.length - 50), Buffer.alloc(22), b.subarray(b.length - 28)])
            : b,
      );
      return f;
    });
    files.splice(1, 0, path.join(dir, 'missing.ko'));
    const a = bin(['inspect', ...files]);
    const b = bin(['inspect', ...files], { KMODSEAL_NO_NATIVE: '1' });
    assert.notEqual(a.code, 0);
    assert.equal(a.code, b.code);
    assert.equal(a.stderr, b.stderr);
    assert.ok(a.stdout.equals(b.stdout));
    assert.match(a.stderr, /missing\.ko/);
    assert.match(a.stderr, /2-/);
  },
);

test(
  'a non-ASCII path prints as its UTF-8 bytes, as modinfo prints it, on both paths',
  {
    skip: (!native && 'kmodseal_modinfo not built') || (!k61 && 'no corpus') || (!have('modinfo') && 'modinfo missing'),
  },
  () => {
    const dir = path.join(fs.mkdtempSync(path.join(tmp, 'utf8-')), 'modulés-ü');
    fs.mkdirSync(dir);
    const src = modulesBelow(k61!.modulesDir).find((f) => f.endsWith('/dummy.ko'))!;
    // in bytewise order, the order `inspect DIR` walks
    const files = ['plain.ko', 'é.ko', 'ünsigned-€.ko'].map((n) => path.join(dir, n));
    fs.copyFileSync(src, files[0]!);
    fs.copyFileSync(src, files[1]!);
    const b = fs.readFileSync(src);
    fs.writeFileSync(files[2]!, b.subarray(0, findModuleSignature(b, src)!.moduleLength));
    const theirs = modinfo([], files);
    for (const env of [{}, { KMODSEAL_NO_NATIVE: '1' }]) {
      for (const args of [files, [dir]]) {
        const ours = bin(['inspect', ...args], env);
        assert.equal(ours.code, 0, ours.stderr);
        if (!ours.stdout.equals(theirs)) assert.fail(`${JSON.stringify(env)}: ${firstDifference(ours.stdout, theirs)}`);
      }
      const f = bin(['inspect', '-F', 'filename', files[1]!], env);
      assert.ok(f.stdout.equals(modinfo(['-F', 'filename'], [files[1]!])));
    }
  },
);
