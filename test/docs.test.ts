/**
 * The documentation as a newcomer meets it: the README is a front door that
 * links every page of docs/, every relative link and anchor resolves, and the
 * error table of docs/protocol.md §10 is the registry of src/errors.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, errorAnswer, type ErrorLog } from '../src/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = join(ROOT, 'docs');
const PAGES = [
  'README.md',
  'CHANGELOG.md',
  'SECURITY.md',
  ...readdirSync(DOCS).filter((name) => name.endsWith('.md')).map((name) => join('docs', name)),
  ...readdirSync(join(ROOT, 'packages')).map((name) => join('packages', name, 'README.md')),
];
const README_MAX_LINES = 300;
/** How §10's "logged" column spells each way src/errors.ts logs a refusal. */
const LOGGED: Readonly<Record<ErrorLog, string>> = {
  debug: '`debug`',
  warn: '`warn`',
  'throttled-error': '`debug`; `error` once per 10 s',
  stack: '`error`, with stack',
};

function read(page: string): string {
  return readFileSync(join(ROOT, page), 'utf8');
}

/** Markdown without its fenced code blocks, where `](` means nothing. */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```$/gm, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(page: string): Set<string> {
  const headings = [...prose(read(page)).matchAll(/^#{1,6} (.+)$/gm)].map((match) => slug(match[1] ?? ''));
  return new Set(headings);
}

describe('documentation', () => {
  it(`the README is a front door: at most ${README_MAX_LINES} lines, linking every page of docs/`, () => {
    const readme = read('README.md');
    assert.ok(readme.split('\n').length <= README_MAX_LINES, `README.md has ${readme.split('\n').length} lines`);
    const unlinked = PAGES.filter((page) => page.startsWith('docs/') && !readme.includes(`](${page})`));
    assert.deepEqual(unlinked, []);
  });

  it('every relative link resolves to a file, and every anchor to a heading there', () => {
    const broken: string[] = [];
    for (const page of PAGES) {
      for (const match of prose(read(page)).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1] ?? '';
        if (/^[a-z]+:/.test(target)) continue;
        const [path = '', anchor] = target.split('#');
        const file = path === '' ? page : relative(ROOT, join(ROOT, dirname(page), path));
        if (!existsSync(join(ROOT, file))) {
          broken.push(`${page}: ${target} (no file ${file})`);
        } else if (anchor !== undefined && file.endsWith('.md') && !anchorsOf(file).has(anchor)) {
          broken.push(`${page}: ${target} (no heading #${anchor} in ${file})`);
        }
      }
    }
    assert.deepEqual(broken, []);
  });

  it('docs/protocol.md §10 names every code of src/errors.ts with its statuses, quarantine and logging', () => {
    const section = /^## 10\. Error codes\n([\s\S]*?)^## /m.exec(read('docs/protocol.md'))?.[1];
    assert.ok(section !== undefined, 'docs/protocol.md has §10');
    const table = new Map<string, { status: string; quarantine: string; logged: string }>();
    for (const match of section.matchAll(/^\| `([a-z-]+)` \| ([^|]+) \| ([^|]*) \| ([^|]+) \|/gm)) {
      table.set(match[1] ?? '', { status: match[2] ?? '', quarantine: (match[3] ?? '').trim(), logged: (match[4] ?? '').trim() });
    }
    const sentences = section.split(/\.\s/);
    const wrong: string[] = [];
    for (const code of ERROR_CODES) {
      const answer = errorAnswer(code);
      const row = table.get(code);
      if (row === undefined) {
        // The codes of verify-proxy and the admin listener stand in the prose, their status in parentheses after them.
        const documented = new RegExp(`\`${code}\`[^(]*\\((\\d{3})[),;]`).exec(section)?.[1];
        if (documented === undefined) wrong.push(`${code}: not in §10`);
        else if (documented !== String(answer.status)) wrong.push(`${code}: §10 says ${documented}, src/errors.ts ${answer.status}`);
        if (answer.countsTowardQuarantine) wrong.push(`${code}: counts toward quarantine, so it needs a row of the table`);
        const warned = sentences.some((sentence) => sentence.includes(`\`${code}\``) && sentence.includes('`warn`'));
        if (warned !== (answer.log === 'warn')) wrong.push(`${code}: src/errors.ts logs it at ${answer.log}, §10 says ${warned ? '' : 'not '}warn`);
        continue;
      }
      const statuses = [answer.status, ...Object.values(answer.variants)].map(String);
      const missing = statuses.filter((status) => !new RegExp(`\\b${status}\\b`).test(row.status));
      if (missing.length > 0) wrong.push(`${code}: §10 says ${row.status.trim()}, src/errors.ts ${statuses.join(', ')}`);
      if (answer.relaysSourceStatus !== row.status.includes("the source's")) wrong.push(`${code}: §10 and src/errors.ts disagree on relaying the source's status`);
      if ((row.quarantine === 'counts') !== answer.countsTowardQuarantine) wrong.push(`${code}: §10 quarantine "${row.quarantine}", src/errors.ts ${answer.countsTowardQuarantine}`);
      if (row.logged !== LOGGED[answer.log]) wrong.push(`${code}: §10 logged "${row.logged}", src/errors.ts ${answer.log}`);
    }
    const unknown = [...table.keys()].filter((code) => !(ERROR_CODES as readonly string[]).includes(code));
    assert.deepEqual({ wrong, unknown }, { wrong: [], unknown: [] });
  });
});
