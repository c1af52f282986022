/** `detach`, `attach`, `diff`: reproducible sealed builds. */
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { detach } from '../../repro/detach.js';
import { attach, AttachRefusedError } from '../../repro/attach.js';
import { diff, type DiffEntry } from '../../repro/diff.js';
import { KmodsealError } from '../../bytes/errors.js';

export async function detachCommand(tree: string, o: { out?: string; keep?: boolean; json?: boolean }, io: Io): Promise<ExitCode> {
  if (!o.out) throw new KmodsealError('E_USAGE', 'detach needs --out BUNDLE (an absent or empty directory)');
  const r = await detach(tree, o.out, { keep: Boolean(o.keep) });
  if (o.json) io.stdout(JSON.stringify({ ...r, records: r.records.length }, null, 2) + '\n');
  else io.stdout(`detached ${r.signed} signatures into ${r.bundle}${o.keep ? ' (tree left signed)' : `; ${r.rewritten} modules left unsigned`}${r.unsigned.length ? `; ${r.unsigned.length} modules had no signature` : ''}\n`);
  return EXIT.OK;
}

export async function attachCommand(bundle: string, tree: string, o: { json?: boolean }, io: Io): Promise<ExitCode> {
  try {
    const r = await attach(bundle, tree);
    if (o.json) io.stdout(JSON.stringify(r, null, 2) + '\n');
    else io.stdout(`attached ${r.attached} signatures to ${r.tree}${r.unchanged ? ` (${r.unchanged} unchanged)` : ''}\n`);
    return EXIT.OK;
  } catch (e) {
    if (!(e instanceof AttachRefusedError)) throw e;
    if (o.json) io.stdout(JSON.stringify({ refused: true, problems: e.problems }, null, 2) + '\n');
    io.stderr(`kmodseal: ERROR: ${e.message}\n`);
    return EXIT.CHECK_FAILED;
  }
}

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
    case 'content':
      return `${d.path}: ${d.compared === 'module-content' ? 'module content' : 'bytes'} differ at 0x${d.firstDifference.toString(16)} (${d.sizeA} vs ${d.sizeB} bytes)${d.sections?.length ? `; sections: ${d.sections.map((s) => s.name).join(', ')}` : ''}`;
    case 'compression':
      return `${d.path}: compression ${d.a} vs ${d.b}: ${d.detail}`;
    case 'kernel': {
      const k = d.kernel.kernel;
      const where = k?.sections.length ? `sections ${[...new Set(k.sections.map((s) => s.name))].join(', ')}` : `${d.kernel.image.regionCount} regions of the image`;
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
    const sig = r.ignored.filter((x) => x.kind === 'signature').length;
    const certs = r.ignored.length - sig;
    io.stdout(
      r.identical
        ? `identical (${r.compared} entries)\n`
        : r.equalModuloSignatures
          ? `equal modulo signatures and embedded certificates (${r.compared} entries; ${sig} signatures${certs ? `, ${certs} certificate areas` : ''} differ)\n`
          : `${r.differences.length} ${r.differences.length === 1 ? 'difference' : 'differences'} besides signatures (${r.compared} entries compared; ${sig} more differ only in their signatures${certs ? `, ${certs} only in certificate areas` : ''})\n`,
    );
  }
  return r.equalModuloSignatures ? EXIT.OK : EXIT.CHECK_FAILED;
}
