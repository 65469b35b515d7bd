/**
 * Quarantine shared through a real redis-server (ECAMO_REDIS_URL) by two
 * ecamo instances, and what happens when Redis dies under traffic.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startEcamo, type Ecamo } from '../helpers/harness.js';
import { forge, getFrom } from '../helpers/peers.js';
import { until } from '../helpers/poll.js';
import { redisOf, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { unlessInstalled } from '../helpers/programs.js';

const SOURCE = 'http://127.0.0.1:9/img.png';

describe('two ecamo instances, one Redis', { skip: unlessInstalled('redis-server') }, () => {
  let redis: RedisServer;
  let first: Ecamo;
  let second: Ecamo;
  before(async () => {
    redis = await startRedisServer();
    // The same keys for both, as instances of one deployment have.
    first = await startEcamo({ ECAMO_REDIS_URL: redis.url, ECAMO_QUARANTINE_FAILURES: '3', ECAMO_QUARANTINE_PERIOD: '600' });
    second = await startEcamo({
      ECAMO_REDIS_URL: redis.url,
      ECAMO_QUARANTINE_FAILURES: '3',
      ECAMO_QUARANTINE_PERIOD: '600',
      ECAMO_PRIVATE_KEYS: JSON.stringify({ [first.ecamoKey.kid]: first.ecamoKey.privateJwk }),
      ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`http://wiki.test ${first.serviceKey.kid}`]: first.serviceKey.publicJwk }),
    });
    await until(() => redisOf(first).available && redisOf(second).available);
  });
  after(async () => {
    await Promise.all([first.close(), second.close()]);
    await redis.stop();
  });

  test('failures counted on either instance add up, and both then quarantine the address', async () => {
    const client = '127.0.0.10';
    const path = await first.signer.url(SOURCE);
    const headers = { cookie: first.cookie };
    assert.equal((await getFrom(first, client, forge(path), { headers })).status, 401);
    assert.equal((await getFrom(second, client, forge(path), { headers })).status, 401);
    // Not yet: two of three.
    assert.equal((await getFrom(second, client, path, { headers })).status, 302);
    assert.equal((await getFrom(first, client, forge(path), { headers })).status, 401);
    for (const ecamo of [first, second]) {
      const answer = await getFrom(ecamo, client, path, { headers });
      assert.equal(answer.status, 429);
      assert.equal(answer.headers['x-ecamo-error'], 'quarantined');
    }
    // The other instance learnt it from Redis, and other addresses are served by both.
    assert.equal((await getFrom(second, '127.0.0.11', path, { headers })).status, 302);
    assert.equal((await getFrom(first, '127.0.0.11', path, { headers })).status, 302);
  });

  test('Redis killed under traffic: no request fails; each instance counts in its own memory meanwhile; back when Redis is', async () => {
    const path = await first.signer.url(SOURCE);
    const headers = { cookie: first.cookie };
    const statuses: number[] = [];
    let stop = false;
    // Valid traffic on both instances all along.
    const traffic = (async () => {
      let round = 0;
      while (!stop) {
        const ecamo = round++ % 2 === 0 ? first : second;
        statuses.push((await getFrom(ecamo, '127.0.0.12', path, { headers })).status);
      }
    })();
    await until(() => statuses.length >= 20);
    await redis.kill();
    await until(() => !redisOf(first).available && !redisOf(second).available);
    const during = statuses.length;
    await until(() => statuses.length >= during + 20);

    // While Redis is down: counted per instance, in memory.
    const client = '127.0.0.13';
    for (let i = 0; i < 3; i++) assert.equal((await getFrom(first, client, forge(path), { headers })).status, 401);
    assert.equal((await getFrom(first, client, path, { headers })).status, 429);
    assert.equal((await getFrom(second, client, path, { headers })).status, 302);

    await redis.restart();
    await until(() => redisOf(first).available && redisOf(second).available);
    const back = statuses.length;
    await until(() => statuses.length >= back + 20);
    stop = true;
    await traffic;

    assert.deepEqual(new Set(statuses), new Set([302]), 'every request of the valid client was served');
    // Shared again: failures on the second instance reach the first.
    const later = '127.0.0.14';
    for (let i = 0; i < 3; i++) assert.equal((await getFrom(second, later, forge(path), { headers })).status, 401);
    assert.equal((await getFrom(first, later, path, { headers })).status, 429);
  });
});
