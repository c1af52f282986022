/** `detach`, `attach`, `diff`: reproducible sealed builds. */
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { detach } from '../../repro/detach.js';
import { attach, AttachRefusedError } from '../../repro/attach.js';
import { diff, type DiffEntry } from '../../repro/diff.js';
import { KmodsealError } from '../../bytes/errors.js';
import { agree, attachSummary, count, detachSummary, diffSummary } from '../../report/counts.js';

export async function detachCommand(
  tree: string,
  o: { out?: string; keep?: boolean; json?: boolean },
  io: Io,
): Promise<ExitCode> {
  if (!o.out) throw new KmodsealError('E_USAGE', 'detach needs --out BUNDLE (an absent or empty directory)');
  const r = await detach(tree, o.out, { keep: Boolean(o.keep) });
  if (o.json) io.stdout(JSON.stringify({ ...r, records: r.records.length }, null, 2) + '\n');
  else io.stdout(`${detachSummary({ ...r, unsigned: r.unsigned.length }, Boolean(o.keep))}\n`);
  return EXIT.OK;
}

export async function attachCommand(bundle: string, tree: string, o: { json?: boolean }, io: Io): Promise<ExitCode> {
  try {
    const r = await attach(bundle, tree);
    if (o.json) io.stdout(JSON.stringify(r, null, 2) + '\n');
    else io.stdout(`${attachSummary(r)}\n`);
    return EXIT.OK;
  } catch (e) {
    if (!(e instanceof AttachRefusedError)) throw e;
    if (o.json) io.stdout(JSON.stringify({ refused: true, problems: e.problems }, null, 2) + '\n');
    io.stderr(`kmodseal: ERROR: ${e.message}\n`);
    return EXIT.CHECK_FAILED;
  }
}

const sections = (names: readonly string[], sep = ' '): string =>
  `${agree(names.length, 'section', 'sections')}${sep}${names.join(', ')}`;

function describe(d: DiffEntry): string {
  switch (d.kind) {
    case 'only-in-a':
    case 'only-in-b':
      return `${d.path}: only in ${d.kind === 'only-in-a' ? 'A' : 'B'} (${d.type})`;
    case 'type':
      return `${d.path}: ${d.a} in A, ${d.b} in B`;
    case 'mode':
      return `${d.path}: mode ${d.a} != ${d.b}`;
    case 'link-target':
      return `${d.path}: link to ${d.a} != ${d.b}`;
    case 'content': {
      const what = d.compared === 'module-content' ? 'module content differs' : 'bytes differ';
      const where = d.sections?.length
        ? `; ${sections(
            d.sections.map((s) => s.name),
            ': ',
          )}`
        : '';
      return `${d.path}: ${what} at 0x${d.firstDifference.toString(16)} (${d.sizeA} vs ${d.sizeB} bytes)${where}`;
    }
    case 'compression':
      return `${d.path}: compression ${d.a} vs ${d.b}: ${d.detail}`;
    case 'kernel': {
      const k = d.kernel.kernel;
      const where = k?.sections.length
        ? sections([...new Set(k.sections.map((s) => s.name))])
        : `${count(d.kernel.image.regionCount, 'region')} of the image`;
      return `${d.path}: kernel differs beyond certificates, build id and Secure Boot signature: ${where}`;
    }
    case 'error':
      return `${d.path}: ${d.detail}`;
  }
}

export async function diffCommand(a: string, b: string, o: { json?: boolean }, io: Io): Promise<ExitCode> {
  const r = await diff(a, b);
  if (o.json) io.stdout(JSON.stringify(r, null, 2) + '\n');
  else {
    for (const d of r.differences) io.stdout(describe(d) + '\n');
    const signatures = r.ignored.filter((x) => x.kind === 'signature').length;
    io.stdout(
      `${diffSummary({ ...r, differences: r.differences.length, signatures, certificates: r.ignored.length - signatures })}\n`,
    );
  }
  return r.equalModuloSignatures ? EXIT.OK : EXIT.CHECK_FAILED;
}
