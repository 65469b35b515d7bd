/**
 * `npm run docs:config`: rewrites the settings tables of docs/configuration.md
 * from the rows of src/config/ (test/config/settings-doc.test.ts fails until
 * the page is what they generate).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { regenerateConfigurationPage } from '../src/config/settings-doc.js';

const PAGE = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));

const before = readFileSync(PAGE, 'utf8');
const after = regenerateConfigurationPage(before);
if (after === before) {
  process.stdout.write('docs/configuration.md is up to date\n');
} else {
  writeFileSync(PAGE, after);
  process.stdout.write('docs/configuration.md rewritten from src/config/settings.ts and src/config/tracing.ts\n');
}
