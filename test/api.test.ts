/**
 * The public API is deliberate: src/index.ts exports exactly the names listed here (so adding or
 * dropping one is a visible change to this file), and every export carries a TSDoc comment
 * (what TypeDoc turns into docs/api/). Fast: no build, no network, no kernel files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import * as api from '../src/index.js';
import { ROOT } from './helpers.js';

/** The runtime exports: functions and error classes. */
const RUNTIME = [
  'AttachRefusedError',
  'FormatError',
  'KmodsealError',
  'attach',
  'buildTarget',
  'checkModuleBtf',
  'checkModules',
  'compareModuleBase',
  'createNodeSigner',
  'createTrustedKeyring',
  'decompressModule',
  'detach',
  'diff',
  'dumpBtfJson',
  'dumpBtfRaw',
  'embedExtraCertificate',
  'formatSymvers',
  'generateSigningKey',
  'inspectKernelImage',
  'inspectModuleBytes',
  'inspectionToJson',
  'kernelElfValidity',
  'loadKernelSource',
  'loadRunningKernel',
  'openPkcs11Signer',
  'parseBtfFile',
  'renderModinfo',
  'signModuleFile',
  'verifyModuleSignature',
  'attachPeSignature',
  'buildUki',
  'detachPeSignature',
  'imageSbat',
  'initramfsModules',
  'judgeImageSbat',
  'parseSbat',
  'parseSbatLevel',
  'parseSignatureDatabase',
  'readInitramfs',
  'ukiSections',
  'verifyPeImage',
];

/** The type-only exports: the options and results of the functions above, and what they contain. */
const TYPES = [
  'KernelSourceUki',
  'EfiVerifyResult',
  'EfiSignatureCheck',
  'EfiSignatureVerdict',
  'EfiImageVerdict',
  'EfiSecurityDatabases',
  'SignatureDatabaseFile',
  'EfiSignatureList',
  'EfiSignatureData',
  'EfiTime',
  'SignatureKind',
  'PeSignatureOperation',
  'SbatParse',
  'SbatEntry',
  'SbatIssue',
  'SbatLevel',
  'SbatLevelEntry',
  'ImageSbat',
  'SbatVerdict',
  'SbatVerdictReason',
  'SbatCheck',
  'UkiParts',
  'BuiltUki',
  'UkiSection',
  'NamedBytes',
  'PeImage',
  'PeSection',
  'PeCertificate',
  'Initramfs',
  'InitramfsArchive',
  'InitramfsEntry',
  'InitramfsModule',
  'AttachOptions',
  'AttachProblem',
  'AttachProblemReason',
  'AttachResult',
  'AuthenticodeSignature',
  'AuthenticodeSigner',
  'BaseCompareResult',
  'BaseTypeMismatch',
  'Btf',
  'BtfCheckStage',
  'ByteRegion',
  'CertificateHash',
  'CertificateList',
  'CheckInput',
  'CheckOptions',
  'CheckTarget',
  'Compression',
  'DetachOptions',
  'DetachResult',
  'DiffEntry',
  'DiffOptions',
  'DiffResult',
  'DistilledBaseOutcome',
  'DistilledMapping',
  'ElfValidityFailure',
  'ElfValidityTarget',
  'EmbedLayout',
  'EntryType',
  'ErrorCode',
  'ExportInfo',
  'ExportedSymbol',
  'ExtraCertificateArea',
  'GeneratedKey',
  'HashAlgorithm',
  'IgnoredEntry',
  'InputKind',
  'InspectJson',
  'InspectOptions',
  'KernelCertificate',
  'KernelCertificateArea',
  'KernelCodec',
  'KernelConfig',
  'KernelDiff',
  'KernelErrno',
  'KernelImageKind',
  'KernelInspectOptions',
  'KernelInspection',
  'KernelPart',
  'KernelPolicy',
  'KernelSeries',
  'KernelSource',
  'KernelWarning',
  'KeyIdForm',
  'KeyType',
  'KeygenOptions',
  'KsymtabLayout',
  'LoadPolicy',
  'ModinfoEntry',
  'ModinfoTextOptions',
  'ModuleBtfCheckOptions',
  'ModuleBtfCheckResult',
  'ModuleInspection',
  'ModuleSignatureRaw',
  'ModuleRecord',
  'ModuleVerdict',
  'Outcome',
  'PeSignatures',
  'Pkcs11Signer',
  'Pkcs11SignerOptions',
  'Pkcs7Options',
  'PolicyOverrides',
  'Reason',
  'ReasonCode',
  'RecompressOptions',
  'RunningKernel',
  'SectionDifference',
  'SignatureSummary',
  'SignedModuleFile',
  'Signer',
  'SignerAlgorithm',
  'SystemMap',
  'SystemMapSymbol',
  'TrustedKeyring',
  'UnparsedCertificate',
  'VerifyOptions',
  'VerifyResult',
  'VerifyStatus',
];

const INDEX = path.join(ROOT, 'src', 'index.ts');

/** Each `export { ... } from './x.js'` / `export type { ... } from './x.js'` of src/index.ts. */
function reExports(): { name: string; typeOnly: boolean; file: string }[] {
  const src = fs.readFileSync(INDEX, 'utf8');
  const out: { name: string; typeOnly: boolean; file: string }[] = [];
  for (const m of src.matchAll(/^export (type )?\{([^}]*)\} from '(\.[^']+)\.js';$/gm)) {
    const file = path.join(path.dirname(INDEX), `${m[3]!}.ts`);
    for (const name of m[2]!
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      assert.ok(
        !/\bas\b|^type /.test(name),
        `src/index.ts: write "${name}" as a plain name (renames and inline type modifiers are not parsed)`,
      );
      out.push({ name, typeOnly: m[1] !== undefined, file });
    }
  }
  // nothing else may be exported: no `export *`, no declarations in index.ts itself
  const other = src
    .replace(/^export (type )?\{[^}]*\} from '\.[^']+\.js';$/gm, '')
    .split('\n')
    .filter((l) => /^export\b/.test(l));
  assert.deepEqual(other, [], 'src/index.ts exports only by named re-export lines');
  return out;
}

test('the runtime exports of src/index.ts are exactly the listed ones', () => {
  assert.deepEqual(Object.keys(api).sort(), [...RUNTIME].sort());
  for (const name of RUNTIME)
    assert.equal(typeof (api as Record<string, unknown>)[name], 'function', `${name} is a function or class`);
});

test('the type-only exports of src/index.ts are exactly the listed ones', () => {
  const all = reExports();
  assert.deepEqual(
    all
      .filter((e) => !e.typeOnly)
      .map((e) => e.name)
      .sort(),
    [...RUNTIME].sort(),
  );
  assert.deepEqual(
    all
      .filter((e) => e.typeOnly)
      .map((e) => e.name)
      .sort(),
    [...TYPES].sort(),
  );
  assert.equal(new Set(all.map((e) => e.name)).size, all.length, 'no name is exported twice');
});

test('every export is declared with a TSDoc comment right before it', () => {
  const missing: string[] = [];
  const sources = new Map<string, string>();
  for (const { name, file } of reExports()) {
    if (!sources.has(file)) sources.set(file, fs.readFileSync(file, 'utf8'));
    const src = sources.get(file)!;
    const decl = new RegExp(
      `^export (?:declare )?(?:abstract )?(?:async )?(?:function|class|interface|type|const) ${name}\\b`,
      'm',
    ).exec(src);
    const where = `${path.relative(ROOT, file)}: ${name}`;
    if (!decl) {
      missing.push(`${where} (declaration not found)`);
      continue;
    }
    const before = src.slice(0, decl.index).trimEnd();
    const open = before.lastIndexOf('/**');
    if (
      !before.endsWith('*/') ||
      open < 0 ||
      before.slice(open).length <= '/** */'.length ||
      before.slice(open + 3, -2).includes('*/')
    ) {
      missing.push(where);
    }
  }
  assert.deepEqual(missing, [], 'exports without a /** ... */ comment');
});

test('the API reference is configured for TypeDoc, without sources or git links', () => {
  const cfg = JSON.parse(fs.readFileSync(path.join(ROOT, 'typedoc.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(cfg.entryPoints, ['src/index.ts']);
  assert.equal(cfg.out, 'docs/api');
  assert.equal(cfg.disableSources, true);
  assert.equal((cfg.validation as Record<string, unknown>).notDocumented, true);
});

test('docs/api is what npm run docs:api generates from the sources, with no warnings', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'kmodseal-api-'));
  try {
    const r = spawnSync(
      process.execPath,
      [path.join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--out', out, '--treatWarningsAsErrors'],
      { cwd: ROOT, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const list = (d: string): string[] => fs.readdirSync(d, { recursive: true, encoding: 'utf8' }).sort();
    assert.deepEqual(list(out), list(path.join(ROOT, 'docs/api')));
    for (const f of list(out)) {
      if (fs.statSync(path.join(out, f)).isFile())
        assert.ok(
          fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(ROOT, 'docs/api', f))),
          `docs/api/${f} is stale: npm run docs:api`,
        );
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
