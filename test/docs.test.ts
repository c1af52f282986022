/**
 * The user documentation keeps up with the CLI: each command's page in docs/ documents every
 * option `kmodseal CMD --help` shows (the built bundle, as users run it); README.md stays at
 * most 10 KiB and carries no dated prose; every relative link in README.md and docs/*.md
 * points to a file that exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runBin, ROOT, BIN } from './helpers.js';

/** Each command (and subcommand) and the page that documents it. */
const PAGES: readonly (readonly [string[], string])[] = [
  [['inspect'], 'docs/inspect.md'],
  [['kernel'], 'docs/kernel.md'],
  [['keygen'], 'docs/keygen.md'],
  [['sign'], 'docs/sign.md'],
  [['verify'], 'docs/verify.md'],
  [['seal'], 'docs/seal.md'],
  [['detach'], 'docs/detach.md'],
  [['attach'], 'docs/attach.md'],
  [['diff'], 'docs/diff.md'],
  [['check'], 'docs/check.md'],
  [['btf', 'dump'], 'docs/btf.md'],
  [['btf', 'check'], 'docs/btf.md'],
  [['efi', 'sign'], 'docs/efi.md'],
  [['efi', 'verify'], 'docs/efi.md'],
  [['efi', 'detach'], 'docs/efi-attach.md'],
  [['efi', 'attach'], 'docs/efi-attach.md'],
  [['efi', 'sbat'], 'docs/efi-sbat.md'],
  [['uki', 'build'], 'docs/uki.md'],
  [['uki', 'inspect'], 'docs/uki.md'],
];

/** Every option (`-F`, `--field`, `--no-allow-btf-mismatch`, ...) in the Options section of a --help text. */
function helpOptions(help: string): string[] {
  const lines = help.split('\n');
  const start = lines.findIndex((l) => /^Options:\s*$/.test(l));
  assert.ok(start >= 0, `no "Options:" section in:\n${help}`);
  const options = new Set<string>();
  for (const line of lines.slice(start + 1)) {
    if (/^\S/.test(line)) break; // the next section (e.g. "Commands:")
    // an option line starts with two spaces and the flags: "  -F, --field <field>   description"
    const m = /^ {2}(-[^\s,<[]+(?:, -[^\s,<[]+)*)/.exec(line);
    if (!m) continue; // a wrapped description line
    for (const flag of m[1]!.split(', ')) options.add(flag);
  }
  return [...options];
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whether `page` documents `flag`: inside a code span (`--foo`, `-F, --field <field>`) or on a table row. */
function documents(page: string, flag: string): boolean {
  const bare = `(?<![\\w-])${escape(flag)}(?![\\w-])`;
  if (new RegExp('`[^`\\n]*' + bare + '[^`\\n]*`').test(page)) return true;
  return page.split('\n').some((l) => l.startsWith('|') && new RegExp(bare).test(l));
}

test('the option matcher reads commander help and finds options in code spans and table rows', () => {
  const help =
    'Usage: x\n\nOptions:\n  -F, --field <field>   print\n                        more\n' +
    '  --no-x   y\n  -h, --help   help\n\nCommands:\n  dump  d\n';
  assert.deepEqual(helpOptions(help), ['-F', '--field', '--no-x', '-h', '--help']);
  assert.ok(documents('| `-F, --field <field>` | x |', '--field'));
  assert.ok(documents('see `--[no-]x` and `--no-x`', '--no-x'));
  assert.ok(!documents('see `--fields`', '--field'));
  assert.ok(!documents('plain --field in prose', '--field'));
  assert.ok(!documents('`--no-allow-x`', '--allow-x'));
});

for (const [command, page] of PAGES) {
  test(`${page} documents every option of \`kmodseal ${command.join(' ')} --help\``, () => {
    assert.ok(fs.existsSync(BIN), `${BIN} is missing: run npm run build`);
    const r = runBin([...command, '--help']);
    assert.equal(r.code, 0, r.stderr);
    const options = helpOptions(r.stdout.toString());
    assert.ok(options.includes('--help'), 'every command has --help');
    const file = path.join(ROOT, page);
    assert.ok(fs.existsSync(file), `${page} does not exist`);
    const text = fs.readFileSync(file, 'utf8');
    const missing = options.filter((o) => !documents(text, o));
    assert.deepEqual(missing, [], `${page} does not document ${missing.join(', ')} of kmodseal ${command.join(' ')}`);
  });
}

test('README.md is at most 10 KiB', () => {
  const size = fs.statSync(path.join(ROOT, 'README.md')).size;
  assert.ok(size <= 10240, `README.md is ${size} bytes`);
});

test('README.md has no dated prose', () => {
  const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const dates = text.match(/\b(19|20)\d\d-[01]\d-[0-3]\d\b/g) ?? [];
  assert.deepEqual(dates, [], 'dates in README.md');
  assert.ok(
    !/\btonight\b|\bthis (morning|afternoon|evening)\b|\byesterday\b|\btoday\b/i.test(text),
    'dated prose in README.md',
  );
});

/** Markdown files whose links are checked: README.md and every docs/*.md (docs/api/ is generated elsewhere). */
function markdownFiles(): string[] {
  const docs = path.join(ROOT, 'docs');
  const pages = fs.existsSync(docs)
    ? fs
        .readdirSync(docs)
        .filter((f) => f.endsWith('.md'))
        .map((f) => path.join(docs, f))
    : [];
  return [path.join(ROOT, 'README.md'), ...pages.sort()];
}

/** Relative link targets of a markdown text (inline links and reference definitions), outside code. */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
  const targets = [
    ...[...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
    ...[...prose.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1]!),
  ];
  return targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#'));
}

/** GitHub's anchors for the headings of a markdown text. */
function anchors(markdown: string): Set<string> {
  const headings = markdown.replace(/^```[\s\S]*?^```/gm, '').match(/^#{1,6} .*$/gm) ?? [];
  return new Set(
    headings.map((h) =>
      h
        .replace(/^#+ /, '')
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-'),
    ),
  );
}

test('every relative link in README.md and docs/*.md points to an existing file (and heading)', () => {
  const broken: string[] = [];
  let links = 0;
  for (const file of markdownFiles()) {
    for (const link of relativeLinks(fs.readFileSync(file, 'utf8'))) {
      links++;
      const [rel, anchor] = link.split('#') as [string, string | undefined];
      const target = path.resolve(path.dirname(file), decodeURIComponent(rel));
      if (!fs.existsSync(target)) broken.push(`${path.relative(ROOT, file)}: ${link}`);
      else if (anchor && target.endsWith('.md') && !anchors(fs.readFileSync(target, 'utf8')).has(anchor))
        broken.push(`${path.relative(ROOT, file)}: ${link} (no such heading)`);
    }
  }
  assert.ok(links > 0, 'no links found: the link matcher is broken');
  assert.deepEqual(broken, []);
});
