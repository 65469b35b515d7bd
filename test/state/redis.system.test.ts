import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { after, before, describe, mock, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../../src/config/errors.js';
import { createLogger } from '../../src/log.js';
import { DEFAULT_REDIS_TIMINGS, parseRedisUrl, SharedRedis } from '../../src/state/redis.js';
import { startEcamo } from '../helpers/harness.js';
import { until } from '../helpers/poll.js';
import { startDroppingListener } from '../helpers/wire.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { unlessInstalled } from '../helpers/programs.js';

describe('parseRedisUrl', () => {
  test('reads host, port and database, and keeps the password out of the display form', () => {
    assert.deepEqual(
      { ...parseRedisUrl('ECAMO_REDIS_URL', 'redis://127.0.0.1:6380/2') },
      { host: '127.0.0.1', port: 6380, db: 2, tls: false, username: undefined, password: undefined, display: 'redis://127.0.0.1:6380/2' },
    );
    const withPassword = parseRedisUrl('ECAMO_REDIS_URL', 'rediss://app:s%40cret@[::1]/');
    assert.equal(withPassword.host, '::1');
    assert.equal(withPassword.port, 6379);
    assert.equal(withPassword.db, 0);
    assert.equal(withPassword.tls, true);
    assert.equal(withPassword.password, 's@cret');
    assert.equal(withPassword.display, 'rediss://app@[::1]/0');
  });

  for (const bad of ['localhost:6379', 'http://127.0.0.1:6379', 'redis://127.0.0.1:6379/db1', 'redis://127.0.0.1:6379/0?x=1', 'redis://:99999', 'redis://']) {
    test(`refuses ${JSON.stringify(bad)} naming the variable`, () => {
      assert.throws(() => parseRedisUrl('ECAMO_REDIS_URL', bad), (error: unknown) => error instanceof ConfigError && error.variable === 'ECAMO_REDIS_URL');
    });
  }
});

describe('SharedRedis against a real redis-server', { skip: unlessInstalled('redis-server') }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedisServer();
  });
  after(() => redis.stop());

  test('runs commands while up; while down answers undefined at once, never rejects, and logs once per interval', async () => {
    const logs: Record<string, unknown>[] = [];
    const logger = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
    const shared = new SharedRedis(parseRedisUrl('ECAMO_REDIS_URL', redis.url), logger, { ...DEFAULT_REDIS_TIMINGS, reconnectMaxMs: 50 });
    try {
      await until(() => shared.available);
      assert.equal(await shared.run((client) => client.set('ecamo:test', 'v')), 'OK');
      assert.equal(await shared.run((client) => client.get('ecamo:test')), 'v');
      assert.equal(shared.status().unavailableSince, undefined);

      await redis.kill();
      await until(() => !shared.available);
      const results = await Promise.all(Array.from({ length: 50 }, () => shared.run((client) => client.get('ecamo:test'))));
      assert.deepEqual(new Set(results), new Set([undefined]));
      assert.notEqual(shared.status().unavailableSince, undefined);
      // Commands sent straight to the client fail fast too (no offline queue), instead of waiting for Redis.
      await assert.rejects(shared.client.get('ecamo:test'));
      for (let i = 0; i < 5; i++) shared.noteFailure(new Error('a caller saw a failure'));
      const warnings = logs.filter((line) => line.level === 40);
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.match(String(warnings[0]?.msg), /redis unavailable/);
      assert.ok(shared.status().failures >= 5);

      await redis.restart();
      await until(() => shared.available);
      assert.equal(await shared.run((client) => client.set('ecamo:test', 'again')), 'OK');
      assert.ok(logs.some((line) => line.msg === 'redis available again'));
    } finally {
      await shared.close();
    }
    assert.equal(shared.client.status, 'end');
  });

  test('an outage is one line with its reason (no error object, no stack), at most once per interval', async () => {
    const logs: Record<string, unknown>[] = [];
    const logger = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
    const interval = DEFAULT_REDIS_TIMINGS.logIntervalMs;
    // The clock stands still unless the test moves it: every failure below falls in the interval the test says.
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const shared = new SharedRedis(parseRedisUrl('ECAMO_REDIS_URL', redis.url), logger, { ...DEFAULT_REDIS_TIMINGS, reconnectMaxMs: 50 });
    const warnings = (): Record<string, unknown>[] => logs.filter((line) => line.level === 40);
    try {
      await until(() => shared.available);
      await redis.kill();
      await until(() => !shared.available);
      // The first failure writes (ioredis's own connection error, or the first of these); the rest are counted.
      for (let i = 0; i < 5; i++) shared.noteFailure(new Error('a caller saw a failure'));
      assert.equal(warnings().length, 1, JSON.stringify(warnings()));
      mock.timers.tick(interval - 1);
      shared.noteFailure(new Error('still within the interval'));
      assert.equal(warnings().length, 1, JSON.stringify(warnings()));

      mock.timers.tick(1);
      const failuresBefore = shared.status().failures;
      shared.noteFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1', { cause: new Error('refused') }), { code: 'ECONNREFUSED' }));
      assert.equal(warnings().length, 2, JSON.stringify(warnings()));
      const line = warnings()[1]!;
      assert.deepEqual(Object.keys(line).filter((key) => !['level', 'time', 'pid', 'hostname', 'msg'].includes(key)).sort(), ['code', 'failures', 'reason', 'redis', 'unavailableSince']);
      assert.equal(line.code, 'ECONNREFUSED');
      assert.equal(line.reason, 'connect ECONNREFUSED 127.0.0.1:1: refused');
      assert.equal(line.redis, shared.target.display);
      assert.equal(line.msg, 'redis unavailable or failing; using per-instance memory state');
      // It stands for every failure since the first line: the one from within the interval and this one, at least.
      assert.ok(typeof line.failures === 'number' && line.failures >= 2 && line.failures <= failuresBefore + 1, String(line.failures));
      for (const warning of warnings()) assert.doesNotMatch(JSON.stringify(warning), /\bat .*:\d+:\d+|"err"|"stack"/);
    } finally {
      mock.timers.reset();
      await shared.close();
      await redis.restart();
    }
  });

  test('closes while Redis is down, between reconnect attempts', async () => {
    const shared = new SharedRedis(parseRedisUrl('ECAMO_REDIS_URL', redis.url), createLogger('silent'));
    await until(() => shared.available);
    await redis.kill();
    await until(() => shared.client.status === 'reconnecting');
    await shared.close();
    assert.equal(shared.available, false);
    await redis.restart();
  });

  test('ecamo opens the connection from ECAMO_REDIS_URL and closes it with the server', async () => {
    const ecamo = await startEcamo({ ECAMO_REDIS_URL: redis.url });
    const shared = ecamo.server.app.redis;
    assert.ok(shared !== undefined);
    await until(() => shared.available);
    await ecamo.close();
    assert.equal(shared.client.status, 'end');
  });
});

describe('SharedRedis against a peer that hangs up during the handshake', () => {
  test('close() resolves whenever it is called: while connecting, in the handshake, between attempts', async () => {
    // A real TCP peer on loopback that drops each connection as it opens: ioredis's
    // handshake fails ("Stream isn't writeable") and the client emits 'error' while closing.
    const peer = await startDroppingListener();
    const open = (): SharedRedis => new SharedRedis(parseRedisUrl('ECAMO_REDIS_URL', peer.origin.replace('http:', 'redis:')), createLogger('silent'));
    // Around the moment the socket connects, ioredis emitted 'error' while closing (most often 1 ms in, here).
    const moments: Record<string, (shared: SharedRedis) => Promise<unknown>> = {
      connecting: () => Promise.resolve(),
      'socket connected': async (shared) => {
        // ioredis makes its socket a few ticks after it is constructed.
        const socket = (): Socket | undefined => shared.client.stream;
        while (socket() === undefined) await new Promise(setImmediate);
        if (socket()?.connecting === true) await once(socket() as Socket, 'connect');
      },
      '1 ms in': () => sleep(1),
      '5 ms in': () => sleep(5),
    };
    try {
      for (const [moment, reached] of Object.entries(moments)) {
        for (let attempt = 0; attempt < 15; attempt++) {
          const shared = open();
          await reached(shared);
          await shared.close().catch((error: unknown) => assert.fail(`${moment}: ${String(error)}`));
          assert.equal(shared.available, false);
        }
      }
    } finally {
      await peer.close();
    }
  });
});
