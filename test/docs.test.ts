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
import { ERROR_CODES, errorAnswer } from '../src/errors.js';

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

  it('docs/protocol.md §10 names every code of src/errors.ts with its status', () => {
    const section = /^## 10\. Error codes\n([\s\S]*?)^## /m.exec(read('docs/protocol.md'))?.[1];
    assert.ok(section !== undefined, 'docs/protocol.md has §10');
    const tableStatus = new Map<string, string>();
    for (const match of section.matchAll(/^\| `([a-z-]+)` \| ([^|]+) \|/gm)) tableStatus.set(match[1] ?? '', match[2] ?? '');
    const wrong: string[] = [];
    for (const code of ERROR_CODES) {
      const status = String(errorAnswer(code).status);
      // A code of the table has its status in its row; the others (verify-proxy's, the admin
      // listener's) stand in the prose with their status in parentheses after them.
      const documented = tableStatus.get(code) ?? new RegExp(`\`${code}\`[^(]*\\((\\d{3})[),]`).exec(section)?.[1];
      if (documented === undefined) wrong.push(`${code}: not in §10`);
      else if (!new RegExp(`\\b${status}\\b`).test(documented)) wrong.push(`${code}: §10 says ${documented.trim()}, src/errors.ts ${status}`);
    }
    const unknown = [...tableStatus.keys()].filter((code) => !(ERROR_CODES as readonly string[]).includes(code));
    assert.deepEqual({ wrong, unknown }, { wrong: [], unknown: [] });
  });
});
