/**
 * A test file whose tests fail and time out holding children, for
 * children.system.test.ts, which runs it as the runner runs a test file. It
 * appends what it started and how its own `after` hook stopped its child to
 * the file ECAMO_FIXTURE_RECORD names. With ECAMO_FIXTURE_UNTIL_SIGNALLED set,
 * its second test waits until the process is signalled instead of timing out.
 */
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { spawnServe } from './serve-process.js';
import { spawnListening, type Listening } from './wire.js';

const LINGER = fileURLToPath(new URL('./linger.js', import.meta.url));
const RECORD = process.env.ECAMO_FIXTURE_RECORD!;

function record(line: string): void {
  appendFileSync(RECORD, `${line}\n`);
}

let stoppedByItsFile: Listening;

before(async () => {
  stoppedByItsFile = await spawnListening([LINGER], {}, /"lingering"/);
});

after(async () => {
  await stoppedByItsFile.stop();
  record(`stopped by its file ${stoppedByItsFile.child.signalCode}`);
});

test('fails holding a child, which has one of its own', async () => {
  const held = await spawnListening([LINGER], {}, /"grandchild":(\d+)/);
  record(`held ${held.child.pid} ${held.match[1]}`);
  assert.fail('fails on purpose, with no finally to stop its child');
});

test('times out holding a child', { timeout: process.env.ECAMO_FIXTURE_UNTIL_SIGNALLED === undefined ? 1 : Infinity }, async () => {
  const held = spawnServe({}, { script: LINGER });
  record(`held ${held.child.pid}`);
  await new Promise<never>(() => undefined);
});
