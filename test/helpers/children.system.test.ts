/**
 * test/helpers/children.ts: the children a test file started through the
 * helpers end with it, whether its tests fail, time out, or the runner ends it
 * with SIGTERM, and its own `after` hooks still stop theirs first.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { spawnChild } from './children.js';
import { until } from './poll.js';

const FIXTURE = fileURLToPath(new URL('./children-fixture.js', import.meta.url));

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ecamo-children-'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

function recorded(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((line) => line !== '');
  } catch {
    return [];
  }
}

/** The pids of the `held` lines: children the fixture's tests started and never stopped. */
function heldPids(lines: readonly string[]): number[] {
  return lines.filter((line) => line.startsWith('held ')).flatMap((line) => line.split(' ').slice(1).map(Number));
}

async function gone(pid: number): Promise<void> {
  await until(() => {
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ESRCH';
    }
  });
}

function startFixture(args: readonly string[], env: Record<string, string>) {
  const child = spawnChild(process.execPath, [...args, FIXTURE], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, exited, output: () => output };
}

test('a test that fails and one that times out leave no child behind; the file\'s after hook stops its own child first', async () => {
  const record = join(dir, 'failed-and-timed-out');
  const fixture = startFixture(['--test', '--test-reporter=tap'], { ECAMO_FIXTURE_RECORD: record });
  const [code] = await fixture.exited;
  assert.equal(code, 1, fixture.output());
  assert.match(fixture.output(), /not ok \d+ - fails holding a child/);
  assert.match(fixture.output(), /not ok \d+ - times out holding a child[\s\S]*testTimeoutFailure/);
  const lines = recorded(record);
  // The file's own after hook ran before the children were killed: its child ended by its SIGTERM.
  assert.ok(lines.includes('stopped by its file SIGTERM'), lines.join('\n'));
  const pids = heldPids(lines);
  assert.equal(pids.length, 3, lines.join('\n'));
  for (const pid of pids) await gone(pid);
});

test('a test file ended by SIGTERM while a test waits takes its children with it', async () => {
  const record = join(dir, 'signalled');
  const fixture = startFixture([], { ECAMO_FIXTURE_RECORD: record, ECAMO_FIXTURE_UNTIL_SIGNALLED: '1' });
  await until(() => heldPids(recorded(record)).length === 3 || fixture.child.exitCode !== null);
  fixture.child.kill('SIGTERM');
  const [, signal] = await fixture.exited;
  // Ended as SIGTERM ends a process, not by an exit of its own.
  assert.equal(signal, 'SIGTERM', fixture.output());
  for (const pid of heldPids(recorded(record))) await gone(pid);
});
