/**
 * `kmodseal uki build` against systemd's ukify (Debian trixie's systemd-ukify, fetched by
 * scripts/fetch-ukify.sh, run with the machine's python3 and python3-pefile): byte-identical
 * UKIs for the cached Debian kernel images (amd64 6.1 and 6.12, cloud, i386, arm64) around
 * Debian 12's systemd-stub of the kernel's architecture, with several initrds, a command line,
 * os-release, uname and SBAT; signed ones equal to ukify + sbsign under faketime (the kernel signed
 * first when it is unsigned) and accepted by sbverify; reproducible with SOURCE_DATE_EPOCH;
 * `uki inspect` agrees with objdump.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../kernel/helpers.js';
import { runCli } from '../helpers.js';
import {
  EFI_CACHE,
  kernelPeImages,
  run,
  sbsign,
  selfSigned,
  sh,
  tmpDir,
  unsignedImage,
  type KeyPair,
} from '../efi/helpers.js';
import { parsePe } from '../../src/pe/pe.js';
import { DEFAULT_PKCS11_MODULE } from '../../src/keys/pkcs11-signer.js';

const TIME = '2024-01-02 03:04:05';
const RFC3339 = '2024-01-02T03:04:05Z';
const EPOCH = String(Date.parse(RFC3339) / 1000);
/** One short row: with the stub's two rows it fits the 256 bytes Debian 12's stub leaves for `.sbat`. */
const SBAT = 'sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\nk,1,a,b,1,u\n';

let dir = '';
let ukify = '';
let key: KeyPair;
let initrds: string[] = [];
let osRelease = '';
let sbat = '';

/** Debian 12's systemd-stub for a PE machine type: the machine's own for x86-64, else the EFI cache's. */
function stubFor(machine: number): string | undefined {
  const arch = ({ 0x8664: 'x64', 0x14c: 'ia32', 0xaa64: 'aa64' } as Record<number, string>)[machine];
  if (!arch) return undefined;
  const debArch = { x64: 'amd64', ia32: 'i386', aa64: 'arm64' }[arch]!;
  for (const f of [
    `/usr/lib/systemd/boot/efi/linux${arch}.efi.stub`,
    path.join(EFI_CACHE, debArch, 'systemd-boot-efi/usr/lib/systemd/boot/efi', `linux${arch}.efi.stub`),
  ])
    if ((arch === 'x64' || !f.startsWith('/usr')) && fs.existsSync(f)) return f;
  return undefined;
}

/** The kernels with a stub of their architecture: [kernel, stub]. */
function kernels(): [string, string][] {
  return kernelPeImages().flatMap((k): [string, string][] => {
    const stub = stubFor(parsePe(fs.readFileSync(k), k).machine);
    return stub ? [[k, stub]] : [];
  });
}

function ukifyBuild(args: string[], time?: string): { code: number; stderr: string } {
  const cmd = ['/usr/bin/python3', ukify, 'build', ...args];
  const r = time
    ? run('faketime', ['-f', time, ...cmd], { env: { ...process.env, TZ: 'UTC' } })
    : run(cmd[0]!, cmd.slice(1));
  return { code: r.code, stderr: r.stderr };
}

async function kmodseal(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runCli(['uki', 'build', ...args]);
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr };
}

function same(a: string, b: string): void {
  const x = fs.readFileSync(a);
  const y = fs.readFileSync(b);
  if (x.equals(y)) return;
  let i = 0;
  while (i < x.length && x[i] === y[i]) i++;
  assert.fail(`${a} (${x.length} bytes) and ${b} (${y.length} bytes) differ from byte 0x${i.toString(16)}`);
}

before(() => {
  dir = tmpDir('uki-build');
  const r = run(path.join(ROOT, 'scripts/fetch-ukify.sh'), []);
  assert.equal(r.code, 0, `scripts/fetch-ukify.sh: ${r.stderr}`);
  ukify = r.stdout.toString().trim();
  key = selfSigned(dir, 'db', 2048);
  // sizes that are not multiples of 4, so that joining pads them
  initrds = [1001, 4096, 70003].map((n, i) => {
    const f = path.join(dir, `initrd${i}`);
    const b = Buffer.alloc(n);
    for (let j = 0; j < n; j++) b[j] = (j * 7 + i) & 0xff;
    fs.writeFileSync(f, b);
    return f;
  });
  osRelease = path.join(dir, 'os-release');
  fs.writeFileSync(osRelease, 'PRETTY_NAME="kmodseal test"\nNAME="kmodseal"\nID=kmodseal\nVERSION_ID=1\n');
  sbat = path.join(dir, 'sbat.csv');
  fs.writeFileSync(sbat, SBAT);
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the cache holds kernels and stubs of several architectures to build UKIs from', () => {
  const ks = kernels();
  assert.ok(ks.length >= 5, `only ${ks.length} kernel/stub pairs (run npm run fetch-kernels and scripts/fetch-efi.sh)`);
  const machines = new Set(ks.map(([k]) => parsePe(fs.readFileSync(k), k).machine));
  assert.ok(machines.has(0x8664) && machines.has(0xaa64) && machines.has(0x14c), [...machines].join(' '));
});

test('unsigned UKIs equal ukify byte for byte: every kernel, three initrds, cmdline, os-release, sbat', async () => {
  for (const [i, [kernel, stub]] of kernels().entries()) {
    const u = path.join(dir, `u${i}.efi`);
    const k = path.join(dir, `k${i}.efi`);
    const common = ['--linux', kernel, '--stub', stub, ...initrds.flatMap((f) => ['--initrd', f])];
    const r = ukifyBuild([
      ...common,
      '--cmdline',
      ' quiet  root=/dev/vda1 ',
      '--os-release',
      `@${osRelease}`,
      '--sbat',
      `@${sbat}`,
      '--output',
      u,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const m = await kmodseal([
      ...common,
      '--cmdline',
      ' quiet  root=/dev/vda1 ',
      '--os-release',
      osRelease,
      '--sbat',
      sbat,
      '--out',
      k,
    ]);
    assert.equal(m.code, 0, m.stderr);
    same(k, u);
    // uname was read from the image as ukify reads it (x86 boot header; "Linux version" in an arm64 Image)
    assert.match(r.stderr, /Found uname version: (\S+)/);
    assert.ok(m.stdout.includes(`uname: ${/Found uname version: (\S+)/.exec(r.stderr)![1]}`), m.stdout);
  }
});

test('unsigned UKIs equal ukify with one initrd, --uname, a command line from a file, no os-release', async () => {
  const [kernel, stub] = kernels()[0]!;
  const cmdline = path.join(dir, 'cmdline');
  fs.writeFileSync(cmdline, 'console=ttyS0   lockdown=integrity\n');
  const common = [
    '--linux',
    kernel,
    '--stub',
    stub,
    '--initrd',
    initrds[2]!,
    '--uname',
    '6.1.0-test',
    '--cmdline',
    `@${cmdline}`,
  ];
  const u = path.join(dir, 'u1.efi');
  const k = path.join(dir, 'k1.efi');
  const r = ukifyBuild([...common, '--os-release=', '--sbat', `@${sbat}`, '--output', u]);
  assert.equal(r.code, 0, r.stderr);
  const m = await kmodseal([...common, '--no-os-release', '--sbat', sbat, '--out', k]);
  assert.equal(m.code, 0, m.stderr);
  same(k, u);
  // no os-release option on either side: both take the machine's /etc/os-release
  const u2 = path.join(dir, 'u1-osrel.efi');
  const k2 = path.join(dir, 'k1-osrel.efi');
  assert.equal(ukifyBuild([...common, '--sbat', `@${sbat}`, '--output', u2]).code, 0);
  assert.equal((await kmodseal([...common, '--sbat', sbat, '--out', k2])).code, 0);
  same(k2, u2);
  assert.ok(fs.statSync(k2).size > fs.statSync(k).size);
  const names = sh('objdump', ['-h', k])
    .match(/^\s+\d+ (\S+)/gm)!
    .map((l) => l.trim().split(/\s+/)[1]);
  assert.deepEqual(names.slice(-4), ['.cmdline', '.uname', '.linux', '.initrd']);
});

test("ukify's default SBAT overflows Debian 12's stub into .sdmagic; kmodseal refuses with the room it has", async () => {
  const [kernel] = kernels()[0]!;
  const stub = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';
  const u = path.join(dir, 'u-default.efi');
  const r = ukifyBuild(['--linux', kernel, '--stub', stub, '--os-release=', '--output', u]);
  assert.equal(r.code, 0, r.stderr);
  // objdump: .sbat's VMA + size runs past .sdmagic's VMA
  const h = sh('objdump', ['-h', u]);
  const row = (n: string): [number, number] => {
    const m = new RegExp(`\\s${n.replace('.', '\\.')}\\s+([0-9a-f]+)\\s+([0-9a-f]+)`).exec(h)!;
    return [parseInt(m[1]!, 16), parseInt(m[2]!, 16)];
  };
  const [sbatSize, sbatVma] = row('.sbat');
  const [, magicVma] = row('.sdmagic');
  assert.ok(sbatVma + sbatSize > magicVma, `ukify's .sbat (0x${sbatVma.toString(16)}+${sbatSize}) fits after all`);
  const m = await kmodseal([
    '--linux',
    kernel,
    '--stub',
    stub,
    '--no-os-release',
    '--out',
    path.join(dir, 'k-default.efi'),
  ]);
  assert.equal(m.code, 1);
  assert.match(
    m.stderr,
    /not enough space in the existing section \.sbat for \d+ bytes: it has room for 256 .*VA 0x19100.*\(E_LIMIT\)/,
  );
  assert.ok(!fs.existsSync(path.join(dir, 'k-default.efi')));
});

test('signed UKIs equal ukify + sbsign under faketime; a Debian-signed kernel is kept, an unsigned one signed first', async () => {
  const [kernel, stub] = kernels()[0]!;
  const unsigned = unsignedImage(kernel, dir, 'vmlinuz-unsigned');
  for (const [name, linux, extra] of [
    ['debian-signed', kernel, []],
    ['unsigned', unsigned, ['--sign-kernel']],
  ] as const) {
    const u = path.join(dir, `us-${name}.efi`);
    const k = path.join(dir, `ks-${name}.efi`);
    const common = [
      '--linux',
      linux,
      '--stub',
      stub,
      '--initrd',
      initrds[0]!,
      '--initrd',
      initrds[1]!,
      '--cmdline',
      'quiet',
    ];
    // sbsign 0.9.4 says "No signature table present" on stderr, which ukify never reads: --sign-kernel is explicit
    const r = ukifyBuild(
      [
        ...common,
        ...extra,
        '--os-release',
        `@${osRelease}`,
        '--sbat',
        `@${sbat}`,
        '--secureboot-private-key',
        key.key,
        '--secureboot-certificate',
        key.cert,
        '--output',
        u,
      ],
      TIME,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.stderr.match(/\+ sbsign /g) ?? []).length, name === 'unsigned' ? 2 : 1, r.stderr);
    const m = await kmodseal([
      ...common,
      '--os-release',
      osRelease,
      '--sbat',
      sbat,
      '--key',
      key.key,
      '--cert',
      key.cert,
      '--signing-time',
      RFC3339,
      '--out',
      k,
    ]);
    assert.equal(m.code, 0, m.stderr);
    same(k, u);
    assert.match(sh('sbverify', ['--cert', key.cert, k]), /Signature verification OK/);
    // the embedded kernel: Debian's signature kept, or ours
    const inner = path.join(dir, `inner-${name}`);
    sh('objcopy', ['-O', 'binary', '--only-section=.linux', k, inner]);
    if (name === 'unsigned') assert.match(sh('sbverify', ['--cert', key.cert, inner]), /Signature verification OK/);
    else assert.ok(fs.readFileSync(inner).equals(fs.readFileSync(kernel)));
  }
});

test('same inputs give the same bytes: SOURCE_DATE_EPOCH is the signing time', async () => {
  const [kernel, stub] = kernels()[0]!;
  const args = [
    '--linux',
    kernel,
    '--stub',
    stub,
    '--initrd',
    initrds[0]!,
    '--cmdline',
    'quiet',
    '--no-os-release',
    '--sbat',
    sbat,
    '--key',
    key.key,
    '--cert',
    key.cert,
  ];
  const outs = [1, 2].map((i) => path.join(dir, `repro${i}.efi`));
  const saved = process.env.SOURCE_DATE_EPOCH;
  process.env.SOURCE_DATE_EPOCH = EPOCH;
  try {
    for (const o of outs) assert.equal((await kmodseal([...args, '--out', o])).code, 0);
  } finally {
    if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
    else process.env.SOURCE_DATE_EPOCH = saved;
  }
  same(outs[0]!, outs[1]!);
  const viaOption = path.join(dir, 'repro-option.efi');
  assert.equal((await kmodseal([...args, '--signing-time', `@${EPOCH}`, '--out', viaOption])).code, 0);
  same(outs[0]!, viaOption);
  // and it is what sbsign writes at that time for ukify's unsigned UKI
  const u = path.join(dir, 'repro-ukify.efi');
  const common = [
    '--linux',
    kernel,
    '--stub',
    stub,
    '--initrd',
    initrds[0]!,
    '--cmdline',
    'quiet',
    '--os-release=',
    '--sbat',
    `@${sbat}`,
  ];
  assert.equal(ukifyBuild([...common, '--output', u]).code, 0);
  sbsign(['--key', key.key, '--cert', key.cert, '--output', `${u}.signed`, u], TIME);
  same(viaOption, `${u}.signed`);
});

test('uki inspect lists the sections objdump lists, with their digests and texts', async () => {
  const [kernel, stub] = kernels()[0]!;
  const k = path.join(dir, 'inspect.efi');
  assert.equal(
    (
      await kmodseal([
        '--linux',
        kernel,
        '--stub',
        stub,
        '--initrd',
        initrds[0]!,
        '--cmdline',
        'quiet splash',
        '--os-release',
        osRelease,
        '--sbat',
        sbat,
        '--out',
        k,
      ])
    ).code,
    0,
  );
  const r = await runCli(['uki', 'inspect', '--json', k]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout.toString()) as {
    cmdline: string;
    uname: string;
    kernelRelease: string;
    osrel: string;
    sections: { name: string; offset: number; size: number; virtualAddress: number; sha256: string }[];
  };
  assert.equal(j.cmdline, 'quiet splash');
  assert.equal(j.uname, j.kernelRelease);
  assert.equal(j.osrel, fs.readFileSync(osRelease, 'utf8'));
  assert.deepEqual(
    j.sections.slice(0, 6).map((s) => s.name),
    ['.linux', '.osrel', '.cmdline', '.initrd', '.uname', '.sbat'],
  );
  const h = sh('objdump', ['-h', k]);
  for (const s of j.sections) {
    const m = new RegExp(
      `\\s${s.name.replace('.', '\\.')}\\s+([0-9a-f]+)\\s+([0-9a-f]+)\\s+[0-9a-f]+\\s+([0-9a-f]+)`,
    ).exec(h);
    assert.ok(m, `${s.name} not in objdump -h`);
    assert.equal(parseInt(m[1]!, 16), s.size, s.name);
    assert.equal(parseInt(m[2]!, 16), s.virtualAddress, s.name);
    assert.equal(parseInt(m[3]!, 16), s.offset, s.name);
    const bytes = path.join(dir, `sec${s.name}`);
    sh('objcopy', ['-O', 'binary', `--only-section=${s.name}`, k, bytes]);
    assert.equal(sh('sha256sum', [bytes]).split(' ')[0], s.sha256, s.name);
  }
});

test('NX_COMPAT as ukify sets it: a stub that has it keeps it only when the kernel has it too', async () => {
  const [kernel, stub] = kernels()[0]!;
  const nxStub = path.join(dir, 'nx.stub');
  const noNxKernel = path.join(dir, 'vmlinuz-no-nx');
  const setDll = (src: string, dst: string, f: (v: number) => number): void => {
    const d = fs.readFileSync(src);
    const at = d.readUInt32LE(0x3c) + 24 + 70;
    d.writeUInt16LE(f(d.readUInt16LE(at)), at);
    fs.writeFileSync(dst, d);
  };
  setDll(stub, nxStub, (v) => v | 0x100);
  setDll(unsignedImage(kernel, dir, 'vmlinuz-nx-src'), noNxKernel, (v) => v & ~0x100);
  for (const [name, linux, nx] of [
    ['kernel with NX', kernel, 0x100],
    ['kernel without NX', noNxKernel, 0],
  ] as const) {
    const u = path.join(dir, `nx-u-${nx}.efi`);
    const k = path.join(dir, `nx-k-${nx}.efi`);
    const common = ['--linux', linux, '--stub', nxStub, '--cmdline', 'quiet'];
    assert.equal(ukifyBuild([...common, '--os-release=', '--sbat', `@${sbat}`, '--output', u]).code, 0);
    assert.equal((await kmodseal([...common, '--no-os-release', '--sbat', sbat, '--out', k])).code, 0);
    same(k, u);
    const d = fs.readFileSync(k);
    assert.equal(d.readUInt16LE(d.readUInt32LE(0x3c) + 24 + 70) & 0x100, nx, name);
  }
});

test('bad stubs: signed (refused, as ukify refuses it), truncated, not PE: exit 1 with the file and offset', async () => {
  const [kernel, stub] = kernels()[0]!;
  const signedStub = path.join(dir, 'signed.stub');
  sbsign(['--key', key.key, '--cert', key.cert, '--output', signedStub, stub], TIME);
  const r = ukifyBuild(['--linux', kernel, '--stub', signedStub, '--os-release=', '--output', path.join(dir, 'x.efi')]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Stub image is signed, refusing/);
  const cases: [string, Uint8Array, RegExp][] = [
    [signedStub, fs.readFileSync(signedStub), /: 0x[0-9a-f]+: pe: the image is signed .*\(E_FORMAT\)/],
    [
      path.join(dir, 'short.stub'),
      fs.readFileSync(stub).subarray(0, 0x300),
      /: 0x[0-9a-f]+: pe: .*\((E_TRUNCATED|E_RANGE)\)/,
    ],
    [
      path.join(dir, 'text.stub'),
      Buffer.from('not a PE image at all, just text\n'.repeat(4)),
      /: 0x0: pe: not a PE image .*\(E_MAGIC\)/,
    ],
  ];
  for (const [file, data, message] of cases) {
    if (file !== signedStub) fs.writeFileSync(file, data);
    const out = path.join(dir, 'bad.efi');
    const m = await kmodseal(['--linux', kernel, '--stub', file, '--no-os-release', '--sbat', sbat, '--out', out]);
    assert.equal(m.code, 1, m.stderr);
    assert.ok(m.stderr.startsWith(`kmodseal: ERROR: ${file}: `), m.stderr);
    assert.match(m.stderr, message);
    assert.ok(!fs.existsSync(out));
  }
});

test('uki build signs with a SoftHSM2 key (pkcs11: URI) as ukify + sbsign do with the same key; --json says what it made', async () => {
  assert.ok(fs.existsSync(DEFAULT_PKCS11_MODULE), `${DEFAULT_PKCS11_MODULE} is missing (scripts/setup.sh --tests)`);
  const [kernel, stub] = kernels()[0]!;
  const hsm = path.join(dir, 'hsm');
  fs.mkdirSync(path.join(hsm, 'tokens'), { recursive: true });
  const conf = path.join(hsm, 'softhsm2.conf');
  fs.writeFileSync(
    conf,
    `directories.tokendir = ${hsm}/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
  );
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  const previous = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = conf;
  try {
    sh('softhsm2-util', ['--init-token', '--free', '--label', 'uki-token', '--so-pin', '5678', '--pin', '1234'], env);
    const p8 = path.join(hsm, 'key.p8');
    sh('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', key.key, '-out', p8]);
    sh(
      'softhsm2-util',
      ['--import', p8, '--token', 'uki-token', '--label', 'uki-rsa', '--id', '01', '--pin', '1234'],
      env,
    );
    const common = ['--linux', kernel, '--stub', stub, '--initrd', initrds[1]!, '--cmdline', 'ro quiet'];
    const u = path.join(dir, 'hsm-ukify.efi');
    const k = path.join(dir, 'hsm-kmodseal.efi');
    const r = ukifyBuild(
      [
        ...common,
        '--os-release=',
        '--sbat',
        `@${sbat}`,
        '--secureboot-private-key',
        key.key,
        '--secureboot-certificate',
        key.cert,
        '--output',
        u,
      ],
      TIME,
    );
    assert.equal(r.code, 0, r.stderr);
    const m = await kmodseal([
      ...common,
      '--no-os-release',
      '--sbat',
      sbat,
      '--key',
      'pkcs11:token=uki-token;object=uki-rsa;pin-value=1234',
      '--cert',
      key.cert,
      '--signing-time',
      RFC3339,
      '--json',
      '--out',
      k,
    ]);
    assert.equal(m.code, 0, m.stderr);
    same(k, u);
    const j = JSON.parse(m.stdout) as {
      signed: boolean;
      kernelSigned: boolean;
      size: number;
      sbat: string;
      sections: { name: string }[];
    };
    assert.equal(j.signed, true);
    assert.equal(j.kernelSigned, false, "Debian's kernel is signed already");
    assert.equal(j.size, fs.statSync(k).size);
    const sbatBytes = path.join(dir, 'hsm.sbat');
    sh('objcopy', ['-O', 'binary', '--only-section=.sbat', k, sbatBytes]);
    assert.equal(j.sbat + '\0', fs.readFileSync(sbatBytes, 'utf8'));
    assert.deepEqual(
      j.sections.slice(0, 4).map((s) => s.name),
      ['.linux', '.cmdline', '.initrd', '.uname'],
    );
  } finally {
    if (previous === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = previous;
  }
});
