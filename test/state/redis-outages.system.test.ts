/**
 * Redis outages as ecamo lives through them, against a real redis-server:
 * one that stops answering (SIGSTOP) opens the circuit, so that requests stop
 * waiting on it, until a probe finds it answering (SIGCONT); one that dies is
 * logged at once, every time, and so is its recovery.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cacheKey } from '../../src/cache/cache.js';
import { redisKey } from '../../src/cache/redis-tier.js';
import { createLogger } from '../../src/log.js';
import type { SharedRedis } from '../../src/state/redis.js';
import { proxied } from '../cache/fixture.js';
import { SERVICE_ORIGIN, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { PNG } from '../helpers/images.js';
import { forge, getFrom } from '../helpers/peers.js';
import { until } from '../helpers/poll.js';
import { redisOf, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { unlessInstalled } from '../helpers/programs.js';

const PROXY = '127.0.0.2';

/** `ecamo_redis_available` as a scrape reads it. */
async function availableGauge(ecamo: Ecamo): Promise<number | undefined> {
  const gauge = ecamo.server.app.metrics.registry.getSingleMetric('ecamo_redis_available');
  return (await gauge?.get())?.values[0]?.value;
}

/** Commands redis-server has processed since it started (INFO stats). */
async function commandsProcessed(redis: SharedRedis): Promise<number> {
  const info = await redis.client.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1]);
}

interface Logged {
  readonly ecamo: Ecamo;
  readonly lines: Record<string, unknown>[];
}

async function startLogged(redis: RedisServer): Promise<Logged> {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const ecamo = await startEcamo({ ECAMO_REDIS_URL: redis.url, ECAMO_QUARANTINE_FAILURES: '3', ECAMO_QUARANTINE_PERIOD: '600', ECAMO_TRUSTED_PROXIES: PROXY }, { logger });
  await until(() => redisOf(ecamo).available);
  return { ecamo, lines };
}

const outageLines = (logged: Logged): Record<string, unknown>[] => logged.lines.filter((line) => line.msg === 'redis unavailable or failing; using per-instance memory state');
const recoveryLines = (logged: Logged): Record<string, unknown>[] => logged.lines.filter((line) => line.msg === 'redis available again');

describe('Redis outages', { skip: unlessInstalled('redis-server') }, () => {
  let redis: RedisServer;
  let source: Source;
  before(async () => {
    redis = await startRedisServer();
    source = await startSource((req, res) => void res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'public, max-age=600' }).end(Buffer.concat([PNG, Buffer.from(`image of ${req.url}`)])));
  });
  after(async () => {
    await source.close();
    await redis.stop();
  });

  test('a Redis that answers nothing: after a few timeouts requests stop waiting on it and the gauge says 0; answering again, it is shared again', async () => {
    const logged = await startLogged(redis);
    const { ecamo } = logged;
    const shared = redisOf(ecamo);
    try {
      const redirect = await ecamo.signer.url(`${source.origin}/redirected.png`);
      assert.equal(await availableGauge(ecamo), 1);
      const processedBefore = await commandsProcessed(shared);
      redis.pause();
      let failuresWhileOpen: number;
      const requestsWhileOpen = 60;
      try {
        // While the circuit is closed, every command waits for its timeout: a few of them open it.
        for (let round = 0; (await availableGauge(ecamo)) === 1; round++) {
          assert.equal((await proxied(ecamo, `${source.origin}/before-open-${round}.png`)).status, 200);
        }
        const opened = outageLines(logged).at(-1);
        assert.match(String(opened?.reason), /commands in a row timed out/);
        failuresWhileOpen = shared.status().failures;
        // Redis is still stopped: each of these is answered from memory and the source, none sends a command.
        for (let i = 0; i < requestsWhileOpen / 2; i++) {
          const answer = await proxied(ecamo, `${source.origin}/while-open-${i}.png`);
          assert.equal(answer.status, 200);
          assert.equal(answer.header('x-ecamo-cache'), 'miss');
          assert.equal((await getFrom(ecamo, PROXY, redirect, { headers: { cookie: ecamo.cookie, 'x-forwarded-for': '198.51.100.1' } })).status, 302);
        }
        // Quarantine counts in memory meanwhile.
        for (let i = 0; i < 3; i++) assert.equal((await getFrom(ecamo, PROXY, forge(redirect), { headers: { cookie: ecamo.cookie, 'x-forwarded-for': '198.51.100.2' } })).status, 401);
        assert.equal((await getFrom(ecamo, PROXY, redirect, { headers: { cookie: ecamo.cookie, 'x-forwarded-for': '198.51.100.2' } })).status, 429);
        assert.equal(shared.status().failures, failuresWhileOpen, 'no command was tried and failed while the circuit was open');
        assert.equal(await availableGauge(ecamo), 0);
        assert.ok(redis.running);
      } finally {
        redis.resume();
      }
      // The probe finds Redis answering: the circuit closes.
      await until(async () => (await availableGauge(ecamo)) === 1);
      assert.equal(recoveryLines(logged).length, 1);
      // Redis processed what was sent to it while stopped: the few commands before the circuit opened and the probes, far fewer than the requests.
      const processedDuringStop = (await commandsProcessed(shared)) - processedBefore;
      assert.ok(processedDuringStop < requestsWhileOpen, `${processedDuringStop} commands`);

      // Shared state is used again: an image fetched now is kept in Redis, a refusal is counted there.
      const url = `${source.origin}/after.png`;
      assert.equal((await proxied(ecamo, url)).status, 200);
      await until(async () => (await shared.client.exists(redisKey(cacheKey(url, SERVICE_ORIGIN, false)))) === 1);
      assert.equal((await getFrom(ecamo, PROXY, forge(redirect), { headers: { cookie: ecamo.cookie, 'x-forwarded-for': '198.51.100.3' } })).status, 401);
      assert.equal(await shared.client.exists('ecamo:q:198.51.100.3'), 1);
    } finally {
      redis.resume();
      await ecamo.close();
    }
  });

  test('a Redis killed under traffic is logged at once, every time, and so is each recovery', async () => {
    const logged = await startLogged(redis);
    const { ecamo } = logged;
    let stop = false;
    const failures: string[] = [];
    const traffic = (async () => {
      for (let round = 0; !stop; round++) {
        const answer = await proxied(ecamo, `${source.origin}/traffic-${round % 5}.png`);
        if (answer.status !== 200) failures.push(String(answer.status));
      }
    })();
    try {
      // Twice, the second well within the log interval of the first (60 s): the start of an outage is never held back.
      for (let outage = 1; outage <= 2; outage++) {
        await redis.kill();
        await until(() => outageLines(logged).filter((line) => line.reason === 'connection lost').length === outage);
        await redis.restart();
        await until(() => recoveryLines(logged).length === outage);
      }
      for (const line of outageLines(logged)) assert.doesNotMatch(JSON.stringify(line), /\bat .*:\d+:\d+|"err"|"stack"/);
    } finally {
      stop = true;
      await traffic;
      await ecamo.close();
    }
    assert.deepEqual(failures, []);
  });
});
