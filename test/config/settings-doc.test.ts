import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DOCS_COMMAND, regenerateConfigurationPage } from '../../src/config/settings-doc.js';
import { SETTINGS } from '../../src/config/settings.js';
import { TRACING_SETTINGS } from '../../src/config/tracing.js';

const PAGE = new URL('../../../docs/configuration.md', import.meta.url);
const ROWS = [...Object.values(SETTINGS), ...Object.values(TRACING_SETTINGS)];

describe('the settings tables', () => {
  it('docs/configuration.md is what the rows of src/config/ generate', () => {
    const page = readFileSync(PAGE, 'utf8');
    assert.ok(page === regenerateConfigurationPage(page), `docs/configuration.md differs from the rows of src/config/settings.ts and src/config/tracing.ts: run \`${DOCS_COMMAND}\``);
  });

  it('lists every row once, each under its name, with its default and doc', () => {
    const page = readFileSync(PAGE, 'utf8');
    for (const setting of ROWS) {
      const lines = page.split('\n').filter((line) => line.startsWith(`| \`${setting.name}\` |`));
      assert.equal(lines.length, 1, setting.name);
      assert.ok(lines[0]!.includes(` ${setting.shown} |`), setting.name);
    }
  });

  it('every row has a name of its family, a default shown and one line of doc', () => {
    assert.equal(new Set(ROWS.map((setting) => setting.name)).size, ROWS.length, 'no name twice');
    for (const setting of Object.values(SETTINGS)) assert.match(setting.name, /^ECAMO_[A-Z0-9_]+$/);
    for (const setting of Object.values(TRACING_SETTINGS)) assert.match(setting.name, /^OTEL_[A-Z0-9_]+$/);
    for (const setting of ROWS) {
      assert.notEqual(setting.shown, '', setting.name);
      assert.match(setting.doc, /^[^\n]+[.)]$/, `${setting.name}: one line, a sentence`);
    }
  });

  it('a page without the markers is refused rather than left without its table', () => {
    assert.throws(() => regenerateConfigurationPage('# Configuration\n'), /lacks the markers of the ECAMO_\* table/);
  });

  it('replaces what is between the markers, and only that', () => {
    const page = readFileSync(PAGE, 'utf8');
    const stale = page.replace('| `ECAMO_BIND` |', '| `ECAMO_BYND` |');
    assert.notEqual(stale, page);
    assert.equal(regenerateConfigurationPage(stale), page);
  });
});
