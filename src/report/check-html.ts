/**
 * `check --report FILE.html`: one self-contained page (no network): the summary, filters by
 * outcome and by reason, and each module's findings with the kernel's log lines.
 * A pure function from the check result to a string.
 */
import { agree } from './counts.js';
import type { ModuleVerdict, Reason } from '../check/check.js';

export interface CheckReport {
  readonly kernel: {
    readonly source: string;
    readonly release: string | null;
    readonly vermagic: string | null;
    readonly trusted: readonly string[];
    readonly policy: object;
  };
  readonly modules: readonly ModuleVerdict[];
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const summaryOf = (m: ModuleVerdict, fatal: Reason | undefined, shown: readonly Reason[]): string =>
  fatal ? fatal.message : m.outcome === 'loads' ? 'loads cleanly' : shown.map((r) => r.message).join('; ');

const STYLE =
  'body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n' +
  'h1{font-size:1.3em} table{border-collapse:collapse;width:100%} ' +
  'td,th{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}\n' +
  '.rejected .o{color:#b00;font-weight:bold}.loads-tainted .o{color:#a60}.loads .o{color:#070}\n' +
  '.summary span{display:inline-block;margin-right:1.5em;font-size:1.1em} ' +
  'pre{margin:2px 0;background:#f4f4f4;padding:2px 4px;white-space:pre-wrap}\n' +
  'li.fatal{color:#900} .file{color:#666;font-size:.9em} .filters label{margin-right:1em} .hidden{display:none}\n';

/** The filters: outcome check boxes and a reason menu, in plain ES5 so any browser runs it. */
const SCRIPT =
  "function apply(){var on=[].slice.call(document.querySelectorAll('.of'))" +
  '.filter(function(c){return c.checked}).map(function(c){return c.value});\n' +
  "var code=document.getElementById('code').value,shown=0;\n" +
  "[].forEach.call(document.querySelectorAll('tr.m'),function(r){var ok=on.indexOf(r.dataset.outcome)>=0" +
  "&&(!code||r.dataset.codes.split(' ').indexOf(code)>=0);r.classList.toggle('hidden',!ok);if(ok)shown++;});\n" +
  "document.getElementById('n-shown').textContent=shown+' shown';}\n" +
  "[].forEach.call(document.querySelectorAll('.of'),function(c){c.addEventListener('change',apply)});" +
  "document.getElementById('code').addEventListener('change',apply);apply();\n";

export function renderCheckHtml(report: CheckReport): string {
  const count = (o: string): number => report.modules.filter((m) => m.outcome === o).length;
  const codes = [
    ...new Set(
      report.modules.flatMap((m) => m.reasons.filter((r) => r.fatal || m.outcome !== 'loads').map((r) => r.code)),
    ),
  ].sort();
  const rows = report.modules
    .map((m, i) => {
      const fatal = m.reasons.find((r) => r.fatal);
      const shown = m.reasons.filter((r) => r.code !== 'trusted' || m.outcome === 'loads');
      const codesOf = [...new Set(m.reasons.map((r) => r.code))].join(' ');
      return `<tr class="m ${m.outcome}" data-outcome="${m.outcome}" data-codes="${esc(codesOf)}" id="m${i}">
<td>${esc(m.name)}</td><td class="o">${m.outcome}</td><td>${esc(m.errno ?? '')}</td><td>${esc(m.taints)}</td>
<td><details><summary>${esc(summaryOf(m, fatal, shown))}</summary>
<div class="file">${esc(m.file)}</div><ul>${shown
        .map(
          (r) =>
            `<li class="${r.fatal ? 'fatal' : ''}"><b>${esc(r.check)}</b> <code>${esc(r.code)}</code>: ` +
            `${esc(r.message)}${r.log ? `<pre>${esc(r.log)}</pre>` : ''}</li>`,
        )
        .join('')}</ul>${m.signedBy ? `<div>signed by: ${esc(m.signedBy)}</div>` : ''}</details></td></tr>`;
    })
    .join('\n');
  const trusted = report.kernel.trusted.map((t) => `<code>${esc(t)}</code>`).join(', ') || '(none)';
  const policy = Object.entries(report.kernel.policy)
    .map(([k, v]) => `<code>${esc(k)}=${esc(String(v))}</code>`)
    .join(' ');
  const loads = count('loads');
  const tainted = count('loads-tainted');
  const summary =
    `<span id="n-loads">${loads} ${agree(loads, 'loads', 'load')}</span>` +
    `<span id="n-tainted">${tainted} ${agree(tainted, 'loads', 'load')} tainted</span>` +
    `<span id="n-rejected">${count('rejected')} rejected</span><span id="n-shown"></span>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kmodseal check: ${esc(report.kernel.release ?? '')}</title>
<style>
${STYLE}</style></head><body>
<h1>kmodseal check: ${esc(report.kernel.release ?? '(unknown release)')}</h1>
<p>kernel: <code>${esc(report.kernel.source)}</code><br>vermagic: <code>${esc(report.kernel.vermagic ?? '?')}</code><br>\
trusted keys: ${trusted}<br>policy: ${policy}</p>
<p class="summary">${summary}</p>
<div class="filters">
<label><input type="checkbox" class="of" value="rejected" checked> rejected</label>
<label><input type="checkbox" class="of" value="loads-tainted" checked> loads tainted</label>
<label><input type="checkbox" class="of" value="loads" checked> loads</label>
<label>reason <select id="code"><option value="">(any)</option>${codes.map((c) => `<option>${esc(c)}</option>`).join('')}</select></label>
</div>
<table><thead><tr><th>module</th><th>outcome</th><th>errno</th><th>taint</th><th>why</th></tr></thead><tbody>
${rows}
</tbody></table>
<script>
${SCRIPT}</script></body></html>
`;
}
