/**
 * `runWorkers` of the package entry `ecamo/server`, in an application's own
 * script (test/helpers/run-workers.ts): the processes `ecamo serve` runs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getOnNewConnection, listeningUrl, serviceKeysEnv, spawnServe } from '../helpers/serve-process.js';

const SCRIPT = new URL('../helpers/run-workers.js', import.meta.url).pathname;

test('ECAMO_WORKERS=2: the script becomes the primary of two serving workers, and SIGTERM stops them all with exit 0', { timeout: 30_000 }, async (t) => {
  const served = spawnServe({ ...(await serviceKeysEnv()), ECAMO_WORKERS: '2' }, { script: SCRIPT });
  t.after(() => served.kill());
  const listening = await served.waitFor((line) => line.msg === 'ecamo listening', 2);
  const workerPids = new Set(listening.map((line) => Number(line.pid)));
  assert.equal(workerPids.size, 2);
  assert.ok(!workerPids.has(served.child.pid!), 'the workers are processes of their own');
  assert.equal(await getOnNewConnection(`${listeningUrl(listening[0]!)}/healthz`), 200);

  process.kill(served.child.pid!, 'SIGTERM');
  const [code] = await served.exited;
  assert.equal(code, 0);
  assert.equal(served.lines.filter((line) => line.msg === 'stopping workers').length, 1);
  // Signal 0 to the process group: nobody is left.
  assert.throws(() => process.kill(-served.child.pid!, 0), { code: 'ESRCH' });
});
