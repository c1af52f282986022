/** `detach`, `attach`, `diff`: reproducible sealed builds. */
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { detach } from '../../repro/detach.js';
import { attach, AttachRefusedError } from '../../repro/attach.js';
import { diff } from '../../repro/diff.js';
import { renderDiffText } from '../../repro/diff-text.js';
import { KmodsealError } from '../../bytes/errors.js';
import { attachSummary, detachSummary } from '../../report/counts.js';

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

export async function diffCommand(a: string, b: string, o: { json?: boolean }, io: Io): Promise<ExitCode> {
  const r = await diff(a, b);
  if (o.json) io.stdout(JSON.stringify(r, null, 2) + '\n');
  else {
    io.stdout(renderDiffText(r));
  }
  return r.equalModuloSignatures ? EXIT.OK : EXIT.CHECK_FAILED;
}
