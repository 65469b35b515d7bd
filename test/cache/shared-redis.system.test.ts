/**
 * The response cache shared through a real redis-server (ECAMO_REDIS_URL) by
 * two ecamo instances, corrupt values, and Redis dying under traffic.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cacheKey } from '../../src/cache/cache.js';
import { redisKey } from '../../src/cache/redis-tier.js';
import { generateKey, type GeneratedKey } from '../../src/config/generate-key.js';
import { SERVICE_ORIGIN, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { PNG, WEBP } from '../helpers/images.js';
import { until } from '../helpers/poll.js';
import { redisOf, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { movableClock, proxied } from './fixture.js';
import { unlessInstalled } from '../helpers/programs.js';
import { closeAll, imageFor, macKeyOf, partsOf, startImageSource, value } from './shared-values.js';

describe('two ecamo instances, one Redis, one cache', { skip: unlessInstalled('redis-server') }, () => {
  let redis: RedisServer;
  let first: Ecamo;
  let second: Ecamo;
  let source: Source;
  /** The instances' one private key: values MACed under it are genuine to both. */
  let ecamoKey: GeneratedKey;
  /** Both caches' clock: Redis keeps entries by its own (real) time, well past any move here. */
  const clock = movableClock();

  before(async () => {
    redis = await startRedisServer();
    ecamoKey = await generateKey('shared');
    const env = { ECAMO_REDIS_URL: redis.url, ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamoKey.kid]: ecamoKey.privateJwk }) };
    first = await startEcamo(env, { cacheClock: clock.now });
    second = await startEcamo(env, { cacheClock: clock.now });
    source = await startImageSource();
    await until(() => redisOf(first).available && redisOf(second).available);
  });

  after(() => closeAll([first, second], source, redis));

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

  test("entries carry their policy: the other instance serves each Accept its variant, and revalidates a stale entry with the entry's validator", async () => {
    const negotiating = await startSource((req, res) => {
      if (req.url === '/stale.png') {
        if (req.headers['if-none-match'] === '"s1"') return void res.writeHead(304, { etag: '"s1"', 'cache-control': 'max-age=600' }).end();
        return void res.writeHead(200, { 'content-type': 'image/png', etag: '"s1"', 'cache-control': 'max-age=0' }).end(imageFor('/stale.png'));
      }
      const webp = req.headers.accept?.includes('image/webp') === true;
      res.writeHead(200, { 'content-type': webp ? 'image/webp' : 'image/png', 'cache-control': 'public, max-age=600', vary: 'Accept' }).end(webp ? WEBP : PNG);
    });
    try {
      const url = `${negotiating.origin}/negotiated`;
      const accepts = { webp: 'image/webp,image/*', png: 'image/*' };
      for (const accept of Object.values(accepts)) assert.equal((await proxied(first, url, { accept })).header('x-ecamo-cache'), 'miss');
      // One entry per Accept class (not per value), beside the marker that says the URL varies on it.
      const variantKept = async (variant: string): Promise<boolean> => (await redisOf(first).client.exists(redisKey(`${cacheKey(url, SERVICE_ORIGIN, false)}\n${variant}`))) === 1;
      await until(async () => (await variantKept('webp')) && (await variantKept('other')));
      assert.equal(await variantKept(accepts.webp), false);
      // Other values of the same classes: hits on the other instance.
      const webp = await proxied(second, url, { accept: 'image/png,image/webp' });
      const png = await proxied(second, url, { accept: 'image/png' });
      assert.deepEqual([webp.header('x-ecamo-cache'), webp.bytes, webp.header('content-type')], ['hit', WEBP, 'image/webp']);
      assert.deepEqual([png.header('x-ecamo-cache'), png.bytes, png.header('content-type')], ['hit', PNG, 'image/png']);

      const stale = `${negotiating.origin}/stale.png`;
      await proxied(first, stale);
      await until(async () => (await redisOf(first).client.exists(redisKey(cacheKey(stale, SERVICE_ORIGIN, false)))) === 1);
      const revalidated = await proxied(second, stale);
      assert.equal(revalidated.header('x-ecamo-cache'), 'revalidated');
      assert.deepEqual(revalidated.bytes, imageFor('/stale.png'));
      assert.deepEqual(
        negotiating.requests.map((req) => `${req.url} ${req.headers['if-none-match'] ?? ''}`),
        ['/negotiated ', '/negotiated ', '/stale.png ', '/stale.png "s1"'],
      );
    } finally {
      await negotiating.close();
    }
  });

  test('an entry one instance revalidated is fresh for the other too: its stale copy in memory does not send it to the source again', async () => {
    const refreshing = await startSource((req, res) => {
      if (req.headers['if-none-match'] === '"r1"') return void res.writeHead(304, { etag: '"r1"', 'cache-control': 'max-age=600' }).end();
      res.writeHead(200, { 'content-type': 'image/png', etag: '"r1"', 'cache-control': 'max-age=1' }).end(imageFor('/refresh.png'));
    });
    try {
      const url = `${refreshing.origin}/refresh.png`;
      const key = redisKey(cacheKey(url, SERVICE_ORIGIN, false));
      const client = redisOf(first).client;
      assert.equal((await proxied(first, url)).header('x-ecamo-cache'), 'miss');
      await until(async () => (await client.exists(key)) === 1);
      assert.equal((await proxied(second, url)).header('x-ecamo-cache'), 'hit');
      const fetched = await client.getBuffer(key);
      clock.advance(1000);
      // Stale on both; the first asks the source, which says it is current for ten minutes.
      assert.equal((await proxied(first, url)).header('x-ecamo-cache'), 'revalidated');
      await until(async () => !(await client.getBuffer(key))?.equals(fetched!));
      const elsewhere = await proxied(second, url);
      assert.equal(elsewhere.header('x-ecamo-cache'), 'hit');
      assert.deepEqual(elsewhere.bytes, imageFor('/refresh.png'));
      assert.equal(elsewhere.header('cache-control'), 'max-age=600');
      assert.deepEqual(refreshing.requests.map((req) => req.headers['if-none-match'] ?? 'unconditional'), ['unconditional', '"r1"']);
    } finally {
      await refreshing.close();
    }
  });

  test('a corrupt or foreign value is a miss, and overwritten', async () => {
    const client = redisOf(first).client;
    const values: ((key: string) => Buffer)[] = [
      () => Buffer.from('garbage'),
      // The layout before values carried a MAC.
      () => Buffer.from('ecamo-cache-1\n\xff\xff\xff\xffnot json', 'latin1'),
      // MACed for this key, but its metadata names another.
      (key) => value(key, { kind: 'entry', key: 'another key', url: 'x', headers: {}, policy: {}, length: 4 }, Buffer.from('body'), macKeyOf(ecamoKey)),
    ];
    for (const [index, make] of values.entries()) {
      const path = `/corrupt-${index}.png`;
      const url = `${source.origin}${path}`;
      const key = redisKey(cacheKey(url, SERVICE_ORIGIN, false));
      const written = make(cacheKey(url, SERVICE_ORIGIN, false));
      await client.set(key, written);
      const answer = await proxied(second, url);
      assert.equal(answer.status, 200);
      assert.equal(answer.header('x-ecamo-cache'), 'miss', path);
      assert.deepEqual(answer.bytes, imageFor(path));
      await until(async () => !(await client.getBuffer(key))?.equals(written));
      // Now sound: the other instance is served from it.
      assert.equal((await proxied(first, url)).header('x-ecamo-cache'), 'hit', path);
      assert.equal(fetchesOf(path), 1);
    }
  });

  test('a value of the right key but the wrong shape, or not a string at all, is a miss, and overwritten', async () => {
    const client = redisOf(first).client;
    // A sound value to take apart: kept by one instance, as written.
    const model = `${source.origin}/model.png`;
    await proxied(first, model);
    await until(() => kept(model));
    const { meta, body } = partsOf((await client.getBuffer(redisKey(cacheKey(model, SERVICE_ORIGIN, false))))!);
    const policy = meta.policy as Record<string, unknown>;
    const shapes: Record<string, (key: string) => Record<string, unknown> | null> = {
      'null metadata': () => null,
      'headers not strings': (key) => ({ ...meta, key, headers: { 'content-type': 5 } }),
      'no policy': (key) => ({ ...meta, key, policy: undefined }),
      'a policy of the wrong shape': (key) => ({ ...meta, key, policy: { v: 1 } }),
      'a policy with a field of the wrong type': (key) => ({ ...meta, key, policy: { ...policy, t: 'yesterday' } }),
      'another kind': (key) => ({ ...meta, key, kind: 'image' }),
      'a Vary marker that has run out': (key) => ({ kind: 'vary', key, until: Date.now() - 1000 }),
      'a Vary marker with no end': (key) => ({ kind: 'vary', key, until: 'later' }),
    };
    const cases = Object.entries(shapes).map(([name, shape], index) => ({ name, path: `/shape-${index}.png`, shape }));
    for (const { name, path, shape } of cases) {
      const url = `${source.origin}${path}`;
      const key = redisKey(cacheKey(url, SERVICE_ORIGIN, false));
      // MACed under the instances' own key: these are refused by the checks after the MAC.
      const written = value(cacheKey(url, SERVICE_ORIGIN, false), shape(cacheKey(url, SERVICE_ORIGIN, false)), body, macKeyOf(ecamoKey));
      await client.set(key, written);
      const answer = await proxied(second, url);
      assert.equal(answer.header('x-ecamo-cache'), 'miss', name);
      assert.deepEqual(answer.bytes, imageFor(path), name);
      await until(async () => !(await client.getBuffer(key))?.equals(written));
      assert.equal((await proxied(first, url)).header('x-ecamo-cache'), 'hit', name);
      assert.equal(fetchesOf(path), 1, name);
    }
    // Not a string: Redis answers GET with an error (WRONGTYPE); SET replaces it.
    const listed = `${source.origin}/listed.png`;
    const listKey = redisKey(cacheKey(listed, SERVICE_ORIGIN, false));
    await client.rpush(listKey, 'not', 'an', 'entry');
    assert.equal((await proxied(second, listed)).header('x-ecamo-cache'), 'miss');
    await until(async () => (await client.type(listKey)) === 'string');
    assert.equal((await proxied(first, listed)).header('x-ecamo-cache'), 'hit');
    assert.equal(fetchesOf('/listed.png'), 1);
  });

  test('Redis that answers nothing (stopped): every request is served from the source; answering again, sharing resumes', async () => {
    redis.pause();
    try {
      for (let i = 0; i < 3; i++) {
        const path = `/while-stopped-${i}.png`;
        const answer = await proxied(i % 2 === 0 ? first : second, `${source.origin}${path}`);
        assert.equal(answer.status, 200, path);
        assert.equal(answer.header('x-ecamo-cache'), 'miss', path);
        assert.deepEqual(answer.bytes, imageFor(path), path);
      }
    } finally {
      redis.resume();
    }
    // An instance that saw a few commands in a row time out stopped asking Redis; its probe finds it answering again.
    await until(() => redisOf(first).available && redisOf(second).available);
    // The commands that timed out are answered now, late: no answer is taken for a later command's.
    for (const path of ['/resumed-1.png', '/resumed-2.png']) {
      const url = `${source.origin}${path}`;
      assert.equal((await proxied(second, url)).header('x-ecamo-cache'), 'miss', path);
      await until(() => kept(url));
      const elsewhere = await proxied(first, url);
      assert.equal(elsewhere.header('x-ecamo-cache'), 'hit', path);
      assert.deepEqual(elsewhere.bytes, imageFor(path), path);
      assert.equal(fetchesOf(path), 1, path);
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
