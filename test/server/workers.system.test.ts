/**
 * `ecamo serve` as the operator runs it, a real process (and its workers):
 * start failures, worker crashes and SIGHUP.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { listeningUrl, serviceKeysEnv, spawnServe } from '../helpers/serve-process.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('ECAMO_WORKERS=2 with the port taken: the primary exits non-zero with the error, in one line, and no worker is left', { timeout: 30_000 }, async (t) => {
  const squatter = http.createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const { port } = squatter.address() as AddressInfo;
  const served = spawnServe({ ...(await serviceKeysEnv()), ECAMO_BIND: `127.0.0.1:${port}`, ECAMO_WORKERS: '2' });
  t.after(async () => {
    await served.kill();
    squatter.close();
  });
  const [code] = await served.exited;
  assert.notEqual(code, 0);
  const stderrLines = served.stderr().trimEnd().split('\n');
  assert.equal(stderrLines.length, 1, served.stderr());
  assert.match(stderrLines[0]!, /^ecamo: .*EADDRINUSE.*127\.0\.0\.1/);
  assert.equal(served.lines.filter((line) => line.msg === 'ecamo listening').length, 0);
  // A worker that stayed behind would keep the group alive: signal 0 to the group says whether anyone is left.
  assert.throws(() => process.kill(-served.child.pid!, 0), { code: 'ESRCH' });
});

test('a worker that crashes after listening is replaced, with a growing delay, and the crash is logged', { timeout: 30_000 }, async (t) => {
  const served = spawnServe({ ...(await serviceKeysEnv()), ECAMO_WORKERS: '2' });
  t.after(() => served.kill());
  const first = await served.waitFor((line) => line.msg === 'ecamo listening', 2);
  const url = listeningUrl(first[0]!);
  const workerPids = first.map((line) => Number(line.pid));

  process.kill(workerPids[0]!, 'SIGKILL');
  const [died] = await served.waitFor((line) => line.msg === 'worker died; starting another');
  assert.equal(died!.level, 50, 'logged at error level');
  assert.equal(died!.worker, workerPids[0]);
  assert.equal(died!.signal, 'SIGKILL');
  const replacement = (await served.waitFor((line) => line.msg === 'ecamo listening', 3))[2]!;
  assert.ok(!workerPids.includes(Number(replacement.pid)));

  // A second quick crash in a row waits longer before the next start.
  process.kill(Number(replacement.pid), 'SIGKILL');
  const deaths = await served.waitFor((line) => line.msg === 'worker died; starting another', 2);
  assert.ok(Number(deaths[1]!.restartInMs) > Number(deaths[0]!.restartInMs), JSON.stringify(deaths));
  await served.waitFor((line) => line.msg === 'ecamo listening', 4);

  const health = await request(`${url}/healthz`);
  assert.equal(await health.body.text(), 'ok');
  process.kill(served.child.pid!, 'SIGTERM');
  const [code] = await served.exited;
  assert.equal(code, 0);
});

for (const workers of ['1', '2']) {
  test(`SIGHUP is logged and serving goes on (ECAMO_WORKERS=${workers})`, { timeout: 30_000 }, async (t) => {
    const served = spawnServe({ ...(await serviceKeysEnv()), ECAMO_WORKERS: workers });
    t.after(() => served.kill());
    const listening = await served.waitFor((line) => line.msg === 'ecamo listening', Number(workers));
    const url = listeningUrl(listening[0]!);
    const pids = [served.child.pid!, ...listening.map((line) => Number(line.pid))];

    // As `systemctl reload` does: the main process only.
    process.kill(served.child.pid!, 'SIGHUP');
    // Every serving process says it heard it (with workers, the primary passes it on).
    const heard = await served.waitFor((line) => line.signal === 'SIGHUP', workers === '1' ? 1 : 3);
    assert.deepEqual(new Set(heard.map((line) => Number(line.pid))), new Set(pids));
    for (const pid of pids) assert.ok(alive(pid), `process ${pid} is still running`);
    const health = await request(`${url}/healthz`);
    assert.equal(await health.body.text(), 'ok');
    assert.equal(served.lines.filter((line) => line.msg === 'ecamo listening').length, Number(workers), 'no worker was replaced');

    process.kill(served.child.pid!, 'SIGTERM');
    const [code] = await served.exited;
    assert.equal(code, 0);
  });
}
