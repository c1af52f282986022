// npm run bench (part 3): signing a whole package. kmodseal sign (all cores) against the kernel's
// sign-file run per module two at a time (as kbuild's modules_sign does with make -j2), in the
// same run, for RSA-4096 and ECDSA P-384 over the 6.1 tree (.ko) and for .ko.xz modules of 6.12;
// and the machine's limit: `openssl speed` signatures/s on all cores plus SHA-256 time, and the
// same limit for the libcrypto the native signer runs on when that is a newer one.
// This VM's cores are shared with other guests: a run can lose half its CPU for seconds or
// minutes at a time. Every measurement therefore waits for both cores to be free (settle(),
// below), and every figure is the best of BENCH_REPEAT (default 3) runs interleaved with the
// others: the fastest time of each tool and the highest `openssl speed` rate (the limit), so
// each side is measured at its least disturbed. kmodseal is timed with the native signer
// (system libcrypto, when built) and with node:crypto (KMODSEAL_NO_NATIVE_CRYPTO=1); with
// --against, the other build is timed the same ways in the same rounds, alternating.
// BENCH_QUICK=1: one round, every 8th module of 6.1, 50 .ko.xz, a 5 s settle limit.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { walk, root, sets, quick, alternate, figure, againstText, emit } from './lib.mjs';

const SIGN_FILE = '/usr/lib/linux-kbuild-6.1/scripts/sign-file';
const XZ_SAMPLE = Number(process.env.BENCH_XZ_MODULES ?? (quick ? 50 : 400));
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? (quick ? 1 : 3)));
// Both tools read and write the trees on tmpfs when there is one (BENCH_DIR overrides): on this
// VM's ext4 (mounted with discard) creating 4,000 files costs 1-4 s of system time, varying from
// run to run with earlier deletions, which would swamp the signing being measured.
const benchDir = process.env.BENCH_DIR ?? (fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
const tmp = fs.mkdtempSync(path.join(benchDir, 'kmodseal-bench-sign-'));
const cores = os.availableParallelism();

// Before each measurement: wait (at most BENCH_SETTLE seconds, default 30) until every core is
// this VM's, i.e. SHA-256 on all cores at once runs at >= 90% of cores x the one-core rate just measured.
// A measurement taken anyway after the wait is counted and reported.
const SETTLE_MS = Number(process.env.BENCH_SETTLE ?? (quick ? 5 : 30)) * 1000;
// and at most BENCH_SETTLE_BUDGET seconds in all (default 240, quick 30): on a machine that stays
// busy (other engineers' test runs), waiting longer only makes the run longer, not the figures better.
let settleBudget = Number(process.env.BENCH_SETTLE_BUDGET ?? (quick ? 30 : 240)) * 1000;
let unsettled = 0;
// SHA-256 blocks hashed in 0.4 s, by one process alone or by one per core at once (summed)
const PROBE =
  `const c=require('crypto'),b=Buffer.alloc(16384);let n=0;const ` +
  `t=Date.now();while(Date.now()-t<400){c.createHash('sha256').update(b).digest();n++}console.log(n)`;
function shaRate(multi) {
  const cmd = Array.from({ length: multi ? cores : 1 }, () => `node -e "${PROBE}" &`).join(' ') + ' wait';
  return execFileSync('sh', ['-c', cmd])
    .toString()
    .trim()
    .split('\n')
    .map(Number)
    .reduce((a, b) => a + b, 0);
}
function settle() {
  if (cores < 2 || SETTLE_MS <= 0) return;
  const start = Date.now();
  const deadline = start + Math.min(SETTLE_MS, Math.max(0, settleBudget));
  try {
    for (;;) {
      const one = shaRate(false),
        all = shaRate(true);
      if (all >= 0.9 * cores * one) return;
      if (Date.now() > deadline) return void unsettled++;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
    }
  } finally {
    settleBudget -= Date.now() - start;
  }
}

function time(cmd, args, opts = {}) {
  settle();
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 28, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}
function speed(alg) {
  settle();
  const out = execFileSync('openssl', ['speed', '-multi', String(cores), '-seconds', '2', alg], {
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  const line = out.split('\n').find((l) => /^\s*(rsa\s+4096|\d+ bits ecdsa|\s*384 bits ecdsa)/.test(l) && /\d/.test(l));
  const nums = (line ?? '')
    .trim()
    .split(/\s+/)
    .map(Number)
    .filter((n) => Number.isFinite(n));
  // rsa: "rsa 4096 bits  sign verify sign/s verify/s"; ecdsa: "384 bits ecdsa (nistp384) sign verify sign/s verify/s"
  return nums.length >= 2 ? nums[nums.length - 2] : NaN;
}

// unsigned copies: what modules_sign starts from
const src61 = path.join(sets['amd64-6.1'][4], 'lib/modules');
const unsigned = path.join(tmp, 'unsigned');
fs.cpSync(src61, unsigned, { recursive: true });
// quick mode: every 8th module only (the rest deleted before anything is timed)
const kos = walk(unsigned)
  .sort()
  .filter((f, i) => !quick || i % 8 === 0 || void fs.rmSync(f));
for (const f of kos) {
  const d = fs.readFileSync(f);
  const t = d.length - 28 - 12;
  const len = d.readUInt32BE(t + 8);
  fs.writeFileSync(f, d.subarray(0, t - len));
}
const bytes = kos.reduce((n, f) => n + fs.statSync(f).size, 0);
const shaMBs = (() => {
  const out = execFileSync('openssl', ['speed', '-seconds', '2', '-bytes', '16384', 'sha256'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  const m = /sha256\s+([\d.]+)k/.exec(out);
  return m ? (Number(m[1]) * 1000) / 1e6 : NaN;
})();
const hashSeconds = bytes / 1e6 / shaMBs / cores;

// Signatures/s of the libcrypto kmodseal's native signer runs on (which may be newer than the
// system's: scripts/build-openssl.sh), measured like `openssl speed -multi`: one thread per core
// signing a digest for 2 s, summed.
// The addon createNodeSigner uses for a key type: EC keys on the newer libcrypto when it is built.
const addonFor = (type) => {
  const dir = path.join(root, 'native/build/Release');
  const newer = path.join(dir, 'kmodseal_crypto_new.node');
  return type === 'p384' && fs.existsSync(newer) ? newer : path.join(dir, 'kmodseal_crypto.node');
};
function nativeSpeed(keyPem, type) {
  settle();
  const addon = addonFor(type);
  if (!fs.existsSync(addon)) return NaN;
  const code = `
    const { Worker } = require('node:worker_threads');
    const src = \`const { parentPort, workerData } = require('node:worker_threads');
      const n = require(workerData.addon); const crypto = require('node:crypto');
      const h = n.loadKey(crypto.createPrivateKey(workerData.pem).export({ format: 'der', type: 'pkcs8' }));
      const d = crypto.randomBytes(32); let k = 0; const t = Date.now();
      while (Date.now() - t < 2000) { n.sign(h, 'sha256', d); k++; }
      parentPort.postMessage(k / ((Date.now() - t) / 1000));\`;
    Promise.all(Array.from({ length: ${cores} }, () => new Promise((res, rej) => {
      const workerData = { addon: ${JSON.stringify(addon)}, pem: ${JSON.stringify(fs.readFileSync(keyPem, 'utf8'))} };
      const w = new Worker(src, { eval: true, workerData });
      w.once('message', (m) => { res(m); w.terminate(); }); w.once('error', rej);
    }))).then((r) => console.log(r.reduce((a, b) => a + b, 0)));`;
  return Number(execFileSync('node', ['-e', code]).toString().trim());
}

const libOf = (type) => {
  const r = spawnSync(
    'node',
    [
      '-e',
      `try { const v = require(${JSON.stringify(addonFor(type))}).version(); console.log(v.version + ' (' + v.library + ` +
        `')'); } catch { console.log('not built'); }`,
    ],
    { encoding: 'utf8' },
  );
  return r.stdout.trim();
};
const nativeLib = libOf('rsa4096');
const nativeLibEc = libOf('p384');
console.log(
  `signing ${kos.length} modules (${(bytes / 2 ** 20).toFixed(0)} MiB) of ${sets['amd64-6.1'][2]}; ${cores} cores; trees in ` +
    `${benchDir}; best of ${REPEAT}`,
);
console.log(`native signer: RSA ${nativeLib}; EC ${nativeLibEc}; node's bundled OpenSSL ${process.versions.openssl}`);
console.log(
  'key        kmodseal  (node:crypto)  sign-file(x2)  ratio          limit (openssl speed + sha256)  kmodseal/limit',
);
const rows = [];
const notes = [];
for (const [type, req, speedAlg] of [
  ['rsa4096', ['-newkey', 'rsa:4096'], 'rsa4096'],
  ['p384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1'], 'ecdsap384'],
]) {
  const key = path.join(tmp, `${type}.pem`),
    crt = path.join(tmp, `${type}.crt`),
    der = path.join(tmp, `${type}.der`);
  execFileSync(
    'openssl',
    [
      'req',
      '-new',
      '-nodes',
      '-x509',
      ...req,
      '-sha256',
      '-days',
      '365',
      '-subj',
      `/CN=bench ${type}`,
      '-keyout',
      key,
      '-out',
      crt,
    ],
    { stdio: 'ignore' },
  );
  execFileSync('openssl', ['x509', '-in', crt, '-outform', 'DER', '-out', der]);
  const outDir = path.join(tmp, `ours-${type}`);
  const kmodseal = (kbin, env) => {
    fs.rmSync(outDir, { recursive: true, force: true });
    return time('node', [kbin, 'sign', '--key', key, '--cert', crt, '--out', outDir, unsigned], {
      env: { ...process.env, ...env },
    });
  };
  const theirsDir = path.join(tmp, `theirs-${type}`);
  const list = path.join(tmp, `list-${type}`);
  const signFile = () => {
    fs.rmSync(theirsDir, { recursive: true, force: true });
    fs.cpSync(unsigned, theirsDir, { recursive: true });
    fs.writeFileSync(list, walk(theirsDir).join('\n') + '\n');
    return time('sh', ['-c', `xargs -a ${list} -P 2 -n 1 ${SIGN_FILE} sha256 ${key} ${der}`]);
  };
  const runs = { ours: [], oursOld: [], node: [], nodeOld: [], theirs: [], speed: [], lib: [] };
  const NODE = { KMODSEAL_NO_NATIVE_CRYPTO: '1' };
  for (let i = 0; i < REPEAT; i++) {
    runs.speed.push(speed(speedAlg));
    runs.lib.push(nativeSpeed(key, type));
    alternate(i, (b) => runs[b.side === 'new' ? 'ours' : 'oursOld'].push(kmodseal(b.bin, {})));
    alternate(i, (b) => runs[b.side === 'new' ? 'node' : 'nodeOld'].push(kmodseal(b.bin, NODE)));
    runs.theirs.push(signFile());
  }
  runs.speed.push(speed(speedAlg));
  const perSec = Math.max(...runs.speed.filter(Number.isFinite));
  const limit = kos.length / perSec + hashSeconds;
  const libPerSec = Math.max(...runs.lib.filter(Number.isFinite));
  const libLimit = kos.length / libPerSec + hashSeconds;
  const keyName = type === 'rsa4096' ? 'RSA-4096' : 'ECDSA P-384';
  const extra = (f) => ({ limit, perSec, ofLimit: f.kmodseal / limit, libPerSec, libLimit });
  const native = figure({
    id: type,
    label: `${keyName}, native signer`,
    ours: runs.ours,
    old: runs.oursOld,
    anchor: runs.theirs,
    stat: 'best',
    target: { max: 1.25, of: 'limit', text: 'kmodseal / limit ≤ 1.25x' },
  });
  Object.assign(native, extra(native));
  const node = figure({
    id: `${type}-node`,
    label: `${keyName}, node:crypto`,
    ours: runs.node,
    old: runs.nodeOld,
    anchor: runs.theirs,
    stat: 'best',
  });
  Object.assign(node, extra(node));
  rows.push(native, node);
  console.log(
    `${type.padEnd(9)} ${native.kmodseal.toFixed(2).padStart(7)}s ${('(' + node.kmodseal.toFixed(2) + 's)').padStart(11)}  ` +
      `${native.anchor.toFixed(2).padStart(10)}s   ${(native.anchor / native.kmodseal).toFixed(1).padStart(4)}x faster   ` +
      `${limit.toFixed(2).padStart(6)}s (${perSec.toFixed(0)} sig/s)          ` +
      `${native.ofLimit.toFixed(2)}x (node:crypto ${node.ofLimit.toFixed(2)}x)`,
  );
  if (native.against) console.log(`         ${againstText(native)}\n         ${againstText(node)} (node:crypto)`);
  if (Number.isFinite(libPerSec)) {
    const note =
      `${keyName}: the native signer's own libcrypto (${type === 'p384' ? nativeLibEc : nativeLib}) signs ` +
      `${libPerSec.toFixed(0)} times a second on all cores: a limit of ${libLimit.toFixed(2)} s, of which kmodseal takes ` +
      `${(native.kmodseal / libLimit).toFixed(2)}x`;
    notes.push(note);
    console.log(`          ${note}`);
  }
  console.log(
    `          all runs: kmodseal ${runs.ours.map((t) => t.toFixed(2)).join(' ')}; node:crypto ` +
      `${runs.node.map((t) => t.toFixed(2)).join(' ')}; sign-file ${runs.theirs.map((t) => t.toFixed(2)).join(' ')}; ` +
      `openssl speed ${runs.speed.map((r) => r.toFixed(0)).join(' ')} sig/s; ` +
      `native signer ${runs.lib.map((r) => r.toFixed(0)).join(' ')} sig/s`,
  );
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.rmSync(theirsDir, { recursive: true, force: true });
}

// .ko.xz: decompress, sign, recompress with the kernel's xz settings; sign-file cannot, so kbuild's
// order (sign the .ko, then xz --check=crc32 --lzma2=dict=1MiB) two at a time is the anchor
const xzAll = walk(path.join(sets['amd64-6.12'][4], 'lib/modules')).filter((f) => f.endsWith('.ko.xz'));
const xzMods = xzAll.filter((_, i) => i % Math.max(1, Math.floor(xzAll.length / XZ_SAMPLE)) === 0).slice(0, XZ_SAMPLE);
const xzDir = path.join(tmp, 'xz');
fs.mkdirSync(xzDir);
xzMods.forEach((f, i) => fs.copyFileSync(f, path.join(xzDir, `${i}-${path.basename(f)}`)));
const key = path.join(tmp, 'p384.pem'),
  crt = path.join(tmp, 'p384.crt'),
  der = path.join(tmp, 'p384.der');
const oursXz = (kbin) => {
  fs.rmSync(path.join(tmp, 'ours-xz'), { recursive: true, force: true });
  return time('node', [kbin, 'sign', '--key', key, '--cert', crt, '--out', path.join(tmp, 'ours-xz'), xzDir]);
};
const theirsXz = path.join(tmp, 'theirs-xz');
const script =
  `f="$1"; xz -dc "$f" > "$f.ko" && t=$(($(stat -c %s "$f.ko") - 40)) && ${SIGN_FILE} sha256 ${key} ${der} ` +
  `"$f.ko" && xz --check=crc32 --lzma2=dict=1MiB -c "$f.ko" > "$f" && rm "$f.ko"`;
const theirsXzT = () => {
  fs.rmSync(theirsXz, { recursive: true, force: true });
  fs.cpSync(xzDir, theirsXz, { recursive: true });
  fs.writeFileSync(path.join(tmp, 'list-xz'), walk(theirsXz).join('\n') + '\n');
  return time('sh', [
    '-c',
    `xargs -a ${path.join(tmp, 'list-xz')} -P 2 -n 1 sh -c '${script.replace(/'/g, `'\\''`)}' _`,
  ]);
};
const xz = { ours: [], old: [], theirs: [] };
for (let i = 0; i < REPEAT; i++) {
  alternate(i, (b) => xz[b.side === 'new' ? 'ours' : 'old'].push(oursXz(b.bin)));
  xz.theirs.push(theirsXzT());
}
const xzF = figure({
  id: 'p384-xz',
  label: `ECDSA P-384, ${xzMods.length} \`.ko.xz\` of 6.12`,
  ours: xz.ours,
  old: xz.old,
  anchor: xz.theirs,
  stat: 'best',
});
rows.push(xzF);
console.log(
  `p384 .ko.xz (${xzMods.length} of ${xzAll.length} 6.12 modules): kmodseal ${xzF.kmodseal.toFixed(2)}s, xz -d + sign-file + xz ` +
    `(x2) ${xzF.anchor.toFixed(2)}s: ${(xzF.anchor / xzF.kmodseal).toFixed(1)}x faster (recompression dominates)` +
    againstText(xzF),
);
if (unsettled) {
  const note =
    `${unsettled} measurement(s) were taken while something else held a core (after waiting up to ${SETTLE_MS / 1000} s ` +
    `each, ${process.env.BENCH_SETTLE_BUDGET ?? (quick ? 30 : 240)} s in all)`;
  notes.push(note);
  console.log(note);
}
fs.rmSync(tmp, { recursive: true, force: true });
emit('sign', {
  title: '`sign` vs `sign-file`',
  anchor: 'sign-file, two at a time',
  stat: `best of ${REPEAT}`,
  modules: kos.length,
  mib: bytes / 2 ** 20,
  pkg: sets['amd64-6.1'][2],
  benchDir,
  nativeLib,
  nativeLibEc,
  nodeOpenssl: process.versions.openssl,
  unsettled,
  notes,
  rows,
});
