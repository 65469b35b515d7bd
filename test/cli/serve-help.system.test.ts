import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SETTINGS } from '../../src/config/settings.js';
import { TRACING_SETTINGS } from '../../src/config/tracing.js';
import { runCli } from '../helpers/wire.js';

test('ecamo serve --help prints every setting with its default and doc, and exits 0 without configuration (only PATH in its environment)', async () => {
  for (const flag of ['--help', '-h']) {
    const { code, stdout, stderr } = await runCli(['serve', flag]);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
    assert.match(stdout, /^usage: ecamo serve\n/);
    const lines = stdout.split('\n');
    for (const setting of [...Object.values(SETTINGS), ...Object.values(TRACING_SETTINGS)]) {
      const at = lines.findIndex((line) => line.startsWith(`${setting.name}  (default: `));
      assert.notEqual(at, -1, `${setting.name} is listed`);
      assert.ok(lines[at]!.includes(`(default: ${setting.shown.replaceAll('`', '')}`), lines[at]);
      assert.equal(lines[at]!.includes('re-read on SIGHUP'), setting.reloadable, lines[at]);
      const firstWords = setting.doc.replaceAll('`', '').split(' ').slice(0, 3).join(' ');
      assert.ok(lines[at + 1]!.startsWith(`    ${firstWords}`), `${setting.name}: ${lines[at + 1]}`);
    }
  }
});

test('ecamo serve with an argument it does not know says so and exits 2', async () => {
  const { code, stdout, stderr } = await runCli(['serve', '--verbose']);
  assert.equal(code, 2);
  assert.equal(stdout, '');
  assert.match(stderr, /^ecamo: Unknown option '--verbose'/);
});
