// Bundles the CLI and its workers into dist/bundle/*.mjs: one file each, so start-up does not
// resolve and compile hundreds of small modules (about half of a short run's time otherwise).
// Native packages stay external. Run by `npm run build`.
import { build } from 'esbuild';
await build({
  entryPoints: { kmodseal: 'bin/kmodseal.ts', 'inspect-worker': 'src/node/inspect-worker.ts', 'sign-worker': 'src/node/sign-worker.ts', 'check-worker': 'src/node/check-worker.ts' },
  outdir: 'dist/bundle',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['lzma-native', 'zstd-napi', 'pkcs11js'],
  banner: { js: "import { createRequire as __kmodsealCreateRequire } from 'node:module'; const require = __kmodsealCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
