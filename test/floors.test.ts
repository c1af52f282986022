/**
 * The floors of docs/design.md ("The floors"), held: every relative import in src/ and bin/
 * (static `from '...'`, `import '...'`, `export ... from '...'` and dynamic `import('...')`)
 * goes to the same folder or to a lower floor, never up and never sideways to another folder of
 * the same floor; the pure formats never import src/io/ (the ground floor for the host) nor
 * touch the host themselves, except the files named in LOADERS. Offending edges are printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Floor of each folder of src/ (or file: the most specific entry wins), lowest first. An import
 * must go to the same folder or to a strictly lower number.
 */
const FLOORS: Record<string, number> = {
  'src/bytes': 0,
  'src/kernel/series.ts': 0, // KernelSeries and release -> series: a leaf every floor names
  'src/io': 1, // the ground floor for the host
  'src/pki': 2,
  'src/elf': 2,
  'src/compress': 2,
  'src/modsig': 3, // over pki
  'src/btf': 3, // over elf
  'src/deb': 3, // over compress
  'src/initrd': 3, // initramfs images (cpio, compressed archives) over compress
  'src/pe': 4, // over modsig
  'src/modinfo': 4, // over elf, compress, modsig
  'src/kernel': 5, // kernel facts; kernel sources (LOADERS) over io
  'src/keys': 5,
  'src/check': 6,
  'src/sign': 7,
  'src/report': 8,
  'src/run': 9, // the one parallel runner and its jobs
  'src/repro': 10, // over sign, report and run
  'src/cli': 11,
  'src/index.ts': 11, // the library's entry
  bin: 12,
};

/** Folders of pure formats: they never import src/io/ nor use node:fs, worker threads or process.env. */
const PURE = [
  'src/bytes',
  'src/pki',
  'src/elf',
  'src/compress',
  'src/modsig',
  'src/btf',
  'src/deb',
  'src/initrd',
  'src/pe',
  'src/modinfo',
  'src/kernel',
];

/** The files of those folders that legitimately read the host, each named in docs/design.md. */
const LOADERS = new Set([
  'src/compress/index.ts', // the codec adapter: native addons through io/addon.ts, KMODSEAL_SYSTEM_LIBLZMA through io/env.ts
  'src/kernel/source.ts', // kernel sources: image, .deb, tree, running system
  'src/kernel/btf-source.ts', // a kernel's BTF and the facts its module BTF check needs
  'src/kernel/module-directory.ts', // /lib/modules/RELEASE and kmod's lookups in it
  'src/kernel/load.ts', // loadKernelImage(): the library's one-call image reader
]);

/**
 * Upward edges that remain, pinned: an edge here is tolerated, any other fails, and an entry
 * that no longer occurs fails too (remove it). Empty: there are none.
 */
const ALLOWED_UPWARD = new Set<string>([]);

const HOST_APIS = /from\s+['"]node:(?:fs|fs\/promises|worker_threads|child_process)['"]|process\.env\b/;

function walk(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) walk(rel, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(rel);
  }
  return out;
}

function floorKey(file: string): string | undefined {
  let best: string | undefined;
  for (const k of Object.keys(FLOORS)) {
    if ((file === k || file.startsWith(k + '/')) && (!best || k.length > best.length)) best = k;
  }
  return best;
}

/** The folder an edge is judged by: a file entry's own key, else the folder entry. */
function unit(file: string): string {
  return floorKey(file) ?? file;
}

const SPEC = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

/** Relative imports of a file, as repository paths of .ts files. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(SPEC)) {
    out.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]!)).replace(/\.js$/, '.ts'));
  }
  return out;
}

/** Every offence: upward or sideways imports, format folders importing io, host APIs in pure files. */
function floorViolations(
  files: readonly string[],
  read: (f: string) => string[] = importsOf,
  text: (f: string) => string = (f) => fs.readFileSync(path.join(ROOT, f), 'utf8'),
): { upward: string[]; other: string[] } {
  const upward: string[] = [];
  const other: string[] = [];
  for (const f of files) {
    const from = floorKey(f);
    if (from === undefined) {
      other.push(`${f}: no floor (add its folder to FLOORS in test/floors.test.ts and to docs/design.md)`);
      continue;
    }
    const pure = PURE.some((p) => f.startsWith(p + '/')) && !LOADERS.has(f);
    if (pure && HOST_APIS.test(text(f)))
      other.push(
        `${f}: a pure format touches the host (node:fs, worker threads or process.env); go through src/io or name it in LOADERS`,
      );
    for (const t of read(f)) {
      const to = floorKey(t);
      if (to === undefined) continue; // outside src/ and bin/ (none today)
      if (pure && to === 'src/io') other.push(`${f} -> ${t}: a pure format imports the host floor`);
      if (unit(f) === unit(t)) continue;
      if (FLOORS[to]! >= FLOORS[from]!)
        upward.push(`${f} -> ${t} (floor ${FLOORS[from]} ${from} -> floor ${FLOORS[to]} ${to})`);
    }
  }
  return { upward, other };
}

test('no import runs up a floor (or sideways between folders of one floor)', () => {
  const files = [...walk('src'), ...walk('bin')];
  const { upward, other } = floorViolations(files);
  const unexpected = upward.filter((e) => !ALLOWED_UPWARD.has(e.replace(/ \(floor .*$/, '')));
  const stale = [...ALLOWED_UPWARD].filter((a) => !upward.some((e) => e.startsWith(a + ' ')));
  const report = [
    ...unexpected.map((e) => `upward: ${e}`),
    ...other,
    ...stale.map((s) => `allow-listed edge no longer exists (remove it): ${s}`),
  ];
  if (report.length) console.log(report.join('\n'));
  assert.deepEqual(report, []);
});

test('every folder of src/ has a floor', () => {
  for (const e of fs.readdirSync(path.join(ROOT, 'src'), { withFileTypes: true })) {
    const rel = `src/${e.name}`;
    if (e.name.endsWith('.test.ts')) continue;
    assert.ok(floorKey(rel) !== undefined, `${rel} has no floor in test/floors.test.ts`);
  }
});

test('the checker catches an upward import, a sideways one and a format reading the host', () => {
  const plant: Record<string, string[]> = {
    'src/elf/elf.ts': ['src/bytes/reader.ts', 'src/check/check.ts'],
    'src/btf/btf.ts': ['src/deb/deb.ts'],
    'src/pe/pe.ts': ['src/io/files.ts'],
    'src/kernel/series.ts': ['src/kernel/image.ts'],
  };
  const { upward, other } = floorViolations(
    Object.keys(plant),
    (f) => plant[f]!,
    () => '',
  );
  assert.deepEqual(
    upward.map((e) => e.replace(/ \(floor .*$/, '')),
    [
      'src/elf/elf.ts -> src/check/check.ts',
      'src/btf/btf.ts -> src/deb/deb.ts',
      'src/kernel/series.ts -> src/kernel/image.ts',
    ],
  );
  assert.deepEqual(other, ['src/pe/pe.ts -> src/io/files.ts: a pure format imports the host floor']);
});
