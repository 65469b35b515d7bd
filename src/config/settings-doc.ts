import type { Setting } from './setting.js';
import { SETTINGS } from './settings.js';
import { TRACING_SETTINGS } from './tracing.js';

/**
 * What the rows of config/settings.ts and config/tracing.ts say of
 * themselves, as the tables of docs/configuration.md and as
 * `ecamo serve --help`: neither is written by hand.
 */

interface Table {
  /** Names the marker comments around the table in docs/configuration.md. */
  readonly id: string;
  readonly rows: readonly Setting<unknown>[];
}

const TABLES: readonly Table[] = [
  { id: 'ECAMO_*', rows: Object.values(SETTINGS) },
  { id: 'OTEL_*', rows: Object.values(TRACING_SETTINGS) },
];

export const DOCS_COMMAND = 'npm run docs:config';

function beginMarker(table: Table): string {
  return `<!-- BEGIN ${table.id} settings: generated from src/config/ by \`${DOCS_COMMAND}\`, edit there -->`;
}

function endMarker(table: Table): string {
  return `<!-- END ${table.id} settings -->`;
}

function cell(markdown: string): string {
  return markdown.replaceAll('|', '\\|');
}

function withSee(setting: Setting<unknown>): string {
  return setting.see === undefined ? setting.doc : `${setting.doc} See [${setting.see.title}](${setting.see.href}).`;
}

/** A column "on SIGHUP" only for a table where some variable is re-read. */
function markdownTable(table: Table): string {
  const reload = table.rows.some((setting) => setting.reloadable);
  const lines = reload ? ['| variable | default | on SIGHUP | meaning |', '|---|---|---|---|'] : ['| variable | default | meaning |', '|---|---|---|'];
  for (const setting of table.rows) {
    const reloadCell = reload ? ` ${setting.reloadable ? 're-read' : ''} |` : '';
    lines.push(`| \`${setting.name}\` | ${cell(setting.shown)} |${reloadCell} ${cell(withSee(setting))} |`);
  }
  return lines.join('\n');
}

/**
 * `page` (docs/configuration.md) with each table between its markers
 * replaced by what the rows generate. Throws when a marker is missing, so
 * that the page cannot silently lose a table.
 */
export function regenerateConfigurationPage(page: string): string {
  let result = page;
  for (const table of TABLES) {
    const begin = result.indexOf(beginMarker(table));
    const end = result.indexOf(endMarker(table));
    if (begin === -1 || end < begin) throw new Error(`docs/configuration.md lacks the markers of the ${table.id} table: ${beginMarker(table)} ... ${endMarker(table)}`);
    result = `${result.slice(0, begin)}${beginMarker(table)}\n${markdownTable(table)}\n${result.slice(end)}`;
  }
  return result;
}

/** Markdown to terminal text: links become their text, code loses its backticks. */
function plain(markdown: string): string {
  return markdown.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replaceAll('`', '');
}

function wrap(text: string, indent: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines.join('\n');
}

/** `ecamo serve --help`: every setting with its default and doc, in the order of docs/configuration.md. */
export function serveHelp(): string {
  const parts = [
    'usage: ecamo serve',
    '',
    wrap(
      'Runs the proxy, configured by these environment variables, read once at start (an empty value counts as unset); ' +
        'a wrong one stops the start with one line naming it. "re-read on SIGHUP" marks those a running server reads again. ' +
        'Reference: docs/configuration.md.',
      '',
      100,
    ),
  ];
  for (const table of TABLES) {
    parts.push('');
    for (const setting of table.rows) {
      parts.push(`${setting.name}  (default: ${plain(setting.shown)}${setting.reloadable ? '; re-read on SIGHUP' : ''})`);
      const see = setting.see === undefined ? '' : ` See docs/${setting.see.href}.`;
      parts.push(wrap(plain(setting.doc) + see, '    ', 100));
    }
  }
  return `${parts.join('\n')}\n`;
}
