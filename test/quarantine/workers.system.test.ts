/**
 * `ecamo serve` with two workers and no Redis: one quarantine across both,
 * counted by the primary, though the kernel spreads the client's connections.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { generateKey } from '../../src/config/generate-key.js';
import { spawnChild } from '../helpers/children.js';
import { CLI } from '../helpers/wire.js';

const CLIENT = '127.0.0.20';

let child: ChildProcess;
let port: number;
const lines: Record<string, unknown>[] = [];

before(async () => {
  const [ecamoKey, serviceKey] = await Promise.all([generateKey('ecamo-1'), generateKey('svc-1')]);
  child = spawnChild(process.execPath, [CLI, 'serve'], {
    env: {
      PATH: process.env.PATH,
      ECAMO_BIND: '127.0.0.1:0',
      ECAMO_CANONICAL_HOST: 'ecamo.test',
      ECAMO_INSECURE: 'true',
      ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamoKey.kid]: ecamoKey.privateJwk }),
      ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`http://wiki.test ${serviceKey.kid}`]: serviceKey.publicJwk }),
      ECAMO_WORKERS: '2',
      ECAMO_QUARANTINE_FAILURES: '4',
      ECAMO_QUARANTINE_PERIOD: '600',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const line of complete) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  while (lines.filter((line) => line.msg === 'ecamo listening').length < 2) {
    if (child.exitCode !== null) throw new Error('serve exited');
    await once(child.stdout!, 'data');
  }
  port = Number(new URL(String(lines.find((line) => line.msg === 'ecamo listening')!.url)).port);
});

after(async () => {
  if (child.exitCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});

/** A new connection per request, so that the primary hands them to the workers in turn. */
function get(path: string): Promise<{ status: number; error: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, localAddress: CLIENT, agent: false, headers: { host: 'wiki.test' } }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0, error: res.headers['x-ecamo-error'] as string | undefined }));
    });
    req.once('error', reject);
    req.end();
  });
}

async function accessLines(count: number): Promise<Record<string, unknown>[]> {
  while (lines.filter((line) => line.msg === 'access').length < count) await once(child.stdout!, 'data');
  return lines.filter((line) => line.msg === 'access');
}

test('refusals at either worker add up, and then both workers answer 429', async () => {
  for (let i = 0; i < 4; i++) assert.equal((await get(`/.ecamo/v1/r/forged.token.${i}`)).status, 400);
  const refusals = await accessLines(4);
  assert.equal(new Set(refusals.map((line) => line.pid)).size, 2, 'the refusals were spread over both workers');

  for (let i = 0; i < 6; i++) assert.deepEqual(await get(`/.ecamo/v1/r/forged.token.${i}`), { status: 429, error: 'quarantined' });
  const quarantined = (await accessLines(10)).slice(4);
  assert.ok(quarantined.every((line) => line.error === 'quarantined' && line.client === CLIENT));
  assert.equal(new Set(quarantined.map((line) => line.pid)).size, 2, 'both workers answered 429');
});
