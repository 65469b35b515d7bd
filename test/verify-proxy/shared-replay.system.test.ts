/**
 * `createRedisReplayStore` (ecamo/verify) and `ecamo verify-proxy --redis-url`
 * against a real redis-server: a token presented to one verifier is refused
 * by every other that shares the Redis; while Redis is down each falls back
 * to its own memory and no valid token is refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { decodeJwt } from 'jose';
import { request } from 'undici';
import { createLogger } from '../../src/log.js';
import { parseRedisUrl, SharedRedis } from '../../src/state/redis.js';
import { signIdToken } from '../../src/tokens/id-token.js';
import { createRedisReplayStore, MemoryReplayStore } from '../../src/verify/index.js';
import { CANONICAL_ORIGIN, SERVICE_ORIGIN, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { until } from '../helpers/poll.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { IMAGE, runCli, spawnVerifyProxy, startJwksRelay, type VerifyProxy } from '../helpers/wire.js';
import { unlessInstalled } from '../helpers/programs.js';

/** The origin of the protected source, as in image URLs: both verify-proxies serve it. */
const AUDIENCE = 'http://images.test';

describe('createRedisReplayStore', { skip: unlessInstalled('redis-server') }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedisServer();
  });
  after(() => redis.stop());

  test('one SET NX per token: fresh once across clients, a replay after; falls back to memory when Redis fails', async () => {
    const target = parseRedisUrl('--redis-url', redis.url);
    const one = new SharedRedis(target, createLogger('silent'));
    // A plain ioredis client as an SDK user would have: the store depends on its `set` only.
    const other = new Redis({ host: target.host, port: target.port, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    other.on('error', () => {}); // refused reconnects while Redis is killed
    try {
      await until(() => one.available && other.status === 'ready');
      const errors: unknown[] = [];
      const storeOne = createRedisReplayStore(one.client, { onError: (error) => errors.push(error) });
      const storeOther = createRedisReplayStore(other);
      const exp = Math.floor(Date.now() / 1000) + 45;
      assert.equal(await storeOne.checkAndStore('jti-1', exp), true);
      assert.equal(await storeOther.checkAndStore('jti-1', exp), false);
      assert.equal(await storeOne.checkAndStore('jti-1', exp), false);
      assert.equal(await storeOther.checkAndStore('jti-2', exp), true);
      const ttl = await other.pttl('ecamo:replay:jti-1');
      assert.ok(ttl > 40_000 && ttl <= 45_000, `kept until the token expires, ${ttl} ms`);

      await redis.kill();
      await until(() => !one.available);
      assert.equal(await storeOne.checkAndStore('jti-3', exp), true, 'a fresh token is not refused while Redis is down');
      assert.equal(await storeOne.checkAndStore('jti-3', exp), false, 'a replay to the same process is still caught');
      assert.ok(errors.length >= 2);
      const strict = createRedisReplayStore(one.client, { fallback: false });
      await assert.rejects(Promise.resolve(strict.checkAndStore('jti-4', exp)));
      const given = new MemoryReplayStore(10);
      await createRedisReplayStore(one.client, { fallback: given }).checkAndStore('jti-5', exp);
      assert.equal(given.size, 1);
      await redis.restart();
    } finally {
      await one.close();
      other.disconnect();
    }
  });
});

/** A Redis, an ecamo (its JWKS through a relay), an upstream that serves an image, and verify-proxies in front of it. */
interface ReplayWorld {
  readonly redis: RedisServer;
  readonly ecamo: Ecamo;
  readonly upstream: Source;
  /** A verify-proxy with --redis-url and `extra` arguments. */
  startProxy(extra?: readonly string[]): Promise<VerifyProxy>;
  close(): Promise<void>;
}

async function startReplayWorld(): Promise<ReplayWorld> {
  const redis = await startRedisServer();
  const ecamo = await startEcamo();
  const relay = await startJwksRelay(ecamo);
  const upstream = await startSource((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': IMAGE.length }).end(IMAGE);
  });
  const proxies: VerifyProxy[] = [];
  return {
    redis,
    ecamo,
    upstream,
    async startProxy(extra = []) {
      const proxy = await spawnVerifyProxy(['--upstream', upstream.origin, '--audience', AUDIENCE, '--ecamo-origin', CANONICAL_ORIGIN, '--jwks-url', relay.url, '--redis-url', redis.url, ...extra]);
      proxies.push(proxy);
      return proxy;
    },
    async close() {
      await Promise.all(proxies.map((proxy) => proxy.stop()));
      await Promise.all([ecamo.close(), relay.close(), upstream.close()]);
      await redis.stop();
    },
  };
}

/** A fresh ID token for the protected source. */
async function tokenFor(ecamo: Ecamo): Promise<string> {
  return `Bearer ${await signIdToken({ canonicalOrigin: CANONICAL_ORIGIN, sourceOrigin: AUDIENCE, serviceOrigin: SERVICE_ORIGIN }, ecamo.config.ecamoKeys.signing, 45)}`;
}

/** Where the Redis replay store keeps the jti of an `authorization`'s token. */
function replayKey(authorization: string): string {
  return `ecamo:replay:${decodeJwt(authorization.slice('Bearer '.length)).jti}`;
}

/** What a verify-proxy at `url` answers to a request for the image with `authorization`. */
async function presentTo(url: string, authorization: string): Promise<{ status: number; error: string | undefined }> {
  const response = await request(`${url}/img.png`, { headers: { authorization } });
  await response.body.dump();
  const error = response.headers['x-ecamo-error'];
  return { status: response.statusCode, error: typeof error === 'string' ? error : undefined };
}

describe('two verify-proxies with --redis-url', { skip: unlessInstalled('redis-server') }, () => {
  let world: ReplayWorld;
  let redis: RedisServer;
  let upstream: Source;
  const proxies: VerifyProxy[] = [];

  before(async () => {
    world = await startReplayWorld();
    ({ redis, upstream } = world);
    for (let i = 0; i < 2; i++) proxies.push(await world.startProxy());
  });
  after(() => world.close());

  const token = (): Promise<string> => tokenFor(world.ecamo);

  // Redis may still be connecting just after start, or reconnecting: a valid token must pass either way.
  const present = (proxy: number, authorization: string) => presentTo(proxies[proxy]!.url, authorization);

  async function waitForRedis(): Promise<void> {
    // A token only the Redis store can catch twice: presented to both until the second refuses it.
    for (;;) {
      const probe = await token();
      assert.equal((await present(0, probe)).status, 200);
      if ((await present(1, probe)).status === 401) return;
      await sleep(50);
    }
  }

  test('a token presented to one is refused as replayed by the other', async () => {
    await waitForRedis();
    const authorization = await token();
    assert.equal((await present(0, authorization)).status, 200);
    assert.deepEqual(await present(1, authorization), { status: 401, error: 'replayed' });
    assert.deepEqual(await present(0, authorization), { status: 401, error: 'replayed' });
    const second = await token();
    assert.equal((await present(1, second)).status, 200);
    assert.deepEqual(await present(0, second), { status: 401, error: 'replayed' });
  });

  test('Redis killed: valid tokens still pass, a replay to the same proxy is still refused; shared again once Redis is back', async () => {
    await redis.kill();
    const fresh = await token();
    assert.equal((await present(0, fresh)).status, 200);
    assert.deepEqual(await present(0, fresh), { status: 401, error: 'replayed' });
    for (let i = 0; i < 10; i++) assert.equal((await present(i % 2, await token())).status, 200);
    await redis.restart();
    await waitForRedis();
    const shared = await token();
    assert.equal((await present(1, shared)).status, 200);
    assert.deepEqual(await present(0, shared), { status: 401, error: 'replayed' });
  });

  test('Redis stopped (SIGSTOP): after three commands in a row time out the circuit opens, and tokens are checked in memory without asking Redis; shared again once Redis answers', async () => {
    await waitForRedis();
    const proxy = proxies[0]!;
    const logged = proxy.output().length;
    const since = (text: string): boolean => proxy.output().slice(logged).includes(text);
    const waitedOut = [await token(), await token(), await token()];
    const checkedInMemory = await token();
    redis.pause();
    try {
      // Each waits out the command timeout, then passes on this proxy's memory.
      for (const authorization of waitedOut) assert.equal((await present(0, authorization)).status, 200);
      await proxy.waitFor(() => since('3 commands in a row timed out'));
      assert.equal((await present(0, checkedInMemory)).status, 200);
      assert.deepEqual(await present(0, checkedInMemory), { status: 401, error: 'replayed' });
    } finally {
      redis.resume();
    }
    // Its probe gets an answer: the commands that waited in Redis's socket have run by then.
    await proxy.waitFor(() => since('"msg":"redis available again"'));
    const client = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
    try {
      await client.connect();
      for (const authorization of waitedOut) assert.equal(await client.exists(replayKey(authorization)), 1, 'a command that timed out reached Redis later');
      assert.equal(await client.exists(replayKey(checkedInMemory)), 0, 'nothing was sent while the circuit was open');
    } finally {
      client.disconnect();
    }
    await waitForRedis();
  });

  test('a bad --redis-url stops it before it listens, naming the option', async () => {
    const result = await runCli(['verify-proxy', '--upstream', upstream.origin, '--audience', AUDIENCE, '--ecamo-origin', CANONICAL_ORIGIN, '--redis-url', 'http://127.0.0.1:1']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--redis-url/);
  });
});

describe('verify-proxy --redis-url --replay-store-required', { skip: unlessInstalled('redis-server') }, () => {
  let world: ReplayWorld;
  let url: string;

  before(async () => {
    world = await startReplayWorld();
    url = (await world.startProxy(['--replay-store-required'])).url;
  });
  after(() => world.close());

  const present = async () => presentTo(url, await tokenFor(world.ecamo));

  /** Fresh tokens until one passes: Redis answers again. */
  async function untilServed(): Promise<void> {
    while ((await present()).status !== 200) await sleep(50);
  }

  test('Redis stopped (SIGSTOP) or killed: 503 replay-store-unavailable and nothing reaches the upstream; served again once Redis answers', async () => {
    const { redis, upstream } = world;
    await untilServed();
    for (const [outage, end] of [[() => redis.pause(), () => redis.resume()], [() => redis.kill(), () => redis.restart()]] as const) {
      await outage();
      const before = upstream.requests.length;
      for (let i = 0; i < 4; i++) assert.deepEqual(await present(), { status: 503, error: 'replay-store-unavailable' });
      assert.equal(upstream.requests.length, before);
      await end();
      await untilServed();
    }
  });

  test('it needs --redis-url: without, it stops before it listens, naming the option', async () => {
    const result = await runCli(['verify-proxy', '--upstream', world.upstream.origin, '--audience', AUDIENCE, '--ecamo-origin', CANONICAL_ORIGIN, '--replay-store-required']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--replay-store-required needs --redis-url/);
  });
});
