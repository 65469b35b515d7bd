/**
 * The response cache shared through a real redis-server (ECAMO_REDIS_URL) by
 * two ecamo instances, corrupt values, and Redis dying under traffic.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cacheKey } from '../../src/cache/cache.js';
import { redisKey } from '../../src/cache/redis-tier.js';
import type { SharedRedis } from '../../src/state/redis.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { signProxyToken } from '../../src/tokens/proxy-token.js';
import { CANONICAL_HOST, SERVICE_ORIGIN, startEcamo, startSource, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await sleep(10);
}

function redisOf(ecamo: Ecamo): SharedRedis {
  const redis = ecamo.server.app.redis;
  assert.ok(redis !== undefined);
  return redis;
}

async function proxied(ecamo: Ecamo, url: string): Promise<Answer> {
  const token = await signProxyToken({ url, serviceOrigin: SERVICE_ORIGIN, sendToken: false }, ecamo.config.ecamoKeys.signing, 45);
  return ecamo.get(`/${ecamo.config.prefix}/v1/p/${urlDigest(url)}?t=${token}`, { host: CANONICAL_HOST });
}

const imageFor = (path: string): Buffer => Buffer.from(`image bytes of ${path} `.repeat(50));

describe('two ecamo instances, one Redis, one cache', () => {
  let redis: RedisServer;
  let first: Ecamo;
  let second: Ecamo;
  let source: Source;

  before(async () => {
    redis = await startRedisServer();
    first = await startEcamo({ ECAMO_REDIS_URL: redis.url });
    second = await startEcamo({ ECAMO_REDIS_URL: redis.url });
    source = await startSource((req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'public, max-age=600', etag: '"1"' }).end(imageFor(req.url ?? ''));
    });
    await until(() => redisOf(first).available && redisOf(second).available);
  });

  after(async () => {
    await first.close();
    await second.close();
    await source.close();
    await redis.stop();
  });

  const kept = async (url: string): Promise<boolean> => (await redisOf(first).client.exists(redisKey(cacheKey(url, SERVICE_ORIGIN, false)))) === 1;
  const fetchesOf = (path: string): number => source.requests.filter((req) => req.url === path).length;

  test('an entry fetched by one instance is a hit on the other, bytes and headers alike', async () => {
    const url = `${source.origin}/shared.png`;
    const fetched = await proxied(first, url);
    assert.equal(fetched.header('x-ecamo-cache'), 'miss');
    await until(() => kept(url));
    const elsewhere = await proxied(second, url);
    assert.equal(elsewhere.header('x-ecamo-cache'), 'hit');
    assert.deepEqual(elsewhere.bytes, imageFor('/shared.png'));
    assert.equal(elsewhere.header('etag'), '"1"');
    assert.equal(elsewhere.header('cache-control'), 'public, max-age=600');
    assert.equal(elsewhere.header('content-length'), String(imageFor('/shared.png').length));
    assert.equal(fetchesOf('/shared.png'), 1);
  });

  test('a corrupt or foreign value is a miss, and overwritten', async () => {
    const client = redisOf(first).client;
    const values: Buffer[] = [
      Buffer.from('garbage'),
      Buffer.from('ecamo-cache-1\n\xff\xff\xff\xffnot json', 'latin1'),
      (() => {
        const meta = Buffer.from(JSON.stringify({ kind: 'entry', key: 'another key', url: 'x', headers: {}, policy: {} }));
        const length = Buffer.alloc(4);
        length.writeUInt32BE(meta.length);
        return Buffer.concat([Buffer.from('ecamo-cache-1\n'), length, meta, Buffer.from('body')]);
      })(),
    ];
    for (const [index, value] of values.entries()) {
      const path = `/corrupt-${index}.png`;
      const url = `${source.origin}${path}`;
      const key = redisKey(cacheKey(url, SERVICE_ORIGIN, false));
      await client.set(key, value);
      const answer = await proxied(second, url);
      assert.equal(answer.status, 200);
      assert.equal(answer.header('x-ecamo-cache'), 'miss', path);
      assert.deepEqual(answer.bytes, imageFor(path));
      await until(async () => !(await client.getBuffer(key))?.equals(value));
      // Now sound: the other instance is served from it.
      assert.equal((await proxied(first, url)).header('x-ecamo-cache'), 'hit', path);
      assert.equal(fetchesOf(path), 1);
    }
  });

  test('Redis killed under traffic: no request fails; back, sharing resumes', async () => {
    const paths = Array.from({ length: 5 }, (_, i) => `/traffic-${i}.png`);
    const failures: string[] = [];
    let served = 0;
    let stop = false;
    const traffic = (async () => {
      for (let round = 0; !stop; round++) {
        const path = paths[round % paths.length]!;
        const ecamo = round % 2 === 0 ? first : second;
        try {
          const answer = await proxied(ecamo, `${source.origin}${path}?r=${round % 7}`);
          if (answer.status !== 200 || !answer.bytes.equals(imageFor(`${path}?r=${round % 7}`))) failures.push(`${path}: ${answer.status}`);
        } catch (error) {
          failures.push(`${path}: ${String(error)}`);
        }
        served++;
      }
    })();
    await until(() => served >= 20);
    await redis.kill();
    await until(() => !redisOf(first).available && !redisOf(second).available);
    const during = served;
    await until(() => served >= during + 40);
    // New images while Redis is down: each instance fetches and keeps its own.
    const lonely = `${source.origin}/while-down.png`;
    assert.equal((await proxied(first, lonely)).header('x-ecamo-cache'), 'miss');
    assert.equal((await proxied(second, lonely)).header('x-ecamo-cache'), 'miss');

    await redis.restart();
    await until(() => redisOf(first).available && redisOf(second).available);
    const back = served;
    await until(() => served >= back + 20);
    stop = true;
    await traffic;
    assert.deepEqual(failures, [], 'every request was answered with its image');

    const after = `${source.origin}/after.png`;
    await proxied(second, after);
    await until(() => kept(after));
    assert.equal((await proxied(first, after)).header('x-ecamo-cache'), 'hit');
    assert.equal(fetchesOf('/after.png'), 1);
  });
});
