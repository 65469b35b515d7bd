/**
 * Values of the shared tier are authenticated, and checked again on read
 * (src/cache/redis-tier.ts), through a real redis-server: values written by
 * hand (without ecamo's key, under a foreign key, and under the right key but
 * with what ecamo would never have kept) are misses, served from the source
 * and overwritten; a genuine value from another instance that signs with
 * another configured key (a rotation under way) is a hit.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { cacheKey } from '../../src/cache/cache.js';
import { redisKey } from '../../src/cache/redis-tier.js';
import { generateKey, type GeneratedKey } from '../../src/config/generate-key.js';
import { createLogger } from '../../src/log.js';
import { SERVICE_ORIGIN, startEcamo, type Ecamo, type Source } from '../helpers/harness.js';
import { unlessInstalled } from '../helpers/programs.js';
import { until } from '../helpers/poll.js';
import { redisOf, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { proxied } from './fixture.js';
import { closeAll, imageFor, MAGIC, macKeyOf, macOf, partsOf, SIGNED_START, startImageSource, value } from './shared-values.js';

const MAX_ENTRY_BYTES = 4000;
const MAX_LENGTH = 6000;

describe('shared tier: every value authenticated and checked on read', { skip: unlessInstalled('redis-server') }, () => {
  let redis: RedisServer;
  let first: Ecamo;
  let second: Ecamo;
  let source: Source;
  let signingKeys: { first: GeneratedKey; second: GeneratedKey };
  const refusals: string[] = [];

  const keyOf = (url: string): string => cacheKey(url, SERVICE_ORIGIN, false);
  const stored = async (url: string): Promise<Buffer | null> => redisOf(first).client.getBuffer(redisKey(keyOf(url)));
  const fetchesOf = (path: string): number => source.requests.filter((req) => req.url === path).length;

  before(async () => {
    redis = await startRedisServer();
    // Both instances hold both keys; they sign with different ones, as while a rotation rolls out.
    signingKeys = { first: await generateKey('old'), second: await generateKey('new') };
    const privateKeys = JSON.stringify({ old: signingKeys.first.privateJwk, new: signingKeys.second.privateJwk });
    const env = { ECAMO_REDIS_URL: redis.url, ECAMO_PRIVATE_KEYS: privateKeys, ECAMO_CACHE_MAX_ENTRY_BYTES: String(MAX_ENTRY_BYTES), ECAMO_MAX_LENGTH: String(MAX_LENGTH) };
    first = await startEcamo({ ...env, ECAMO_SIGNING_KID: 'old' });
    const logger = createLogger('debug', {
      write: (line: string) => {
        const entry = JSON.parse(line) as { msg?: string; reason?: string };
        if (entry.msg?.startsWith('shared cache value refused') === true) refusals.push(entry.reason ?? '');
      },
    });
    second = await startEcamo({ ...env, ECAMO_SIGNING_KID: 'new' }, { logger });
    source = await startImageSource();
    await until(() => redisOf(first).available && redisOf(second).available);
  });

  after(() => closeAll([first, second], source, redis));

  test("a genuine value is a hit on the other instance, whichever configured key MACed it; the MAC is README's", async () => {
    for (const [writer, reader, path, macKey] of [
      [first, second, '/by-first.png', macKeyOf(signingKeys.first)],
      [second, first, '/by-second.png', macKeyOf(signingKeys.second)],
    ] as const) {
      const url = `${source.origin}${path}`;
      assert.equal((await proxied(writer, url)).header('x-ecamo-cache'), 'miss');
      await until(async () => (await stored(url)) !== null);
      const kept = (await stored(url))!;
      assert.deepEqual(kept.subarray(MAGIC.length, SIGNED_START), macOf(macKey, keyOf(url), kept.subarray(SIGNED_START)), path);
      const elsewhere = await proxied(reader, url);
      assert.equal(elsewhere.header('x-ecamo-cache'), 'hit', path);
      assert.deepEqual(elsewhere.bytes, imageFor(path));
      assert.equal(fetchesOf(path), 1);
    }
  });

  test('values written by hand are misses, served from the source and overwritten; the other instance is then served the genuine one', async () => {
    // The metadata of a genuine value, to alter.
    const model = `${source.origin}/model.png`;
    await proxied(first, model);
    await until(async () => (await stored(model)) !== null);
    const { meta } = partsOf((await stored(model))!);
    const genuineHeaders = meta.headers as Record<string, string>;
    const right = macKeyOf(signingKeys.first);
    const foreign = macKeyOf(await generateKey('foreign'));
    const guessed = randomBytes(32);

    /** A value for `url` (its key and URL, the image's own body) with `change` applied, MACed under `macKey`. */
    const made = (url: string, macKey: Buffer, change: { headers?: Record<string, string>; body?: Buffer; meta?: Record<string, unknown> } = {}): Buffer => {
      const body = change.body ?? imageFor(new URL(url).pathname);
      const headers = { ...genuineHeaders, ...change.headers };
      return value(keyOf(url), { ...meta, key: keyOf(url), url, headers, length: body.length, ...change.meta }, body, macKey);
    };
    const html = { headers: { 'content-type': 'text/html' }, body: Buffer.from('<script>alert(document.cookie)</script>') };
    const cases: readonly (readonly [string, string, (url: string) => Buffer])[] = [
      // Whoever writes to Redis without ecamo's keys.
      ['text/html', 'MAC under no configured key', (url) => made(url, guessed, html)],
      ['a hostile Cache-Control', 'MAC under no configured key', (url) => made(url, guessed, { headers: { 'cache-control': 'public, max-age=31536000, immutable' } })],
      ['a body over the limits', 'MAC under no configured key', (url) => made(url, guessed, { body: Buffer.alloc(MAX_LENGTH + 1) })],
      ['a CR/LF in a header', 'MAC under no configured key', (url) => made(url, guessed, { headers: { etag: '"1"\r\nset-cookie: a=b' } })],
      ['another URL', 'MAC under no configured key', (url) => made(url, guessed, { meta: { url: `${source.origin}/other.png` } })],
      ['a valid shape with a wrong MAC', 'MAC under no configured key', (url) => {
        const altered = made(url, right);
        altered[MAGIC.length] = altered[MAGIC.length]! ^ 1;
        return altered;
      }],
      ['a value MACed under a foreign key', 'MAC under no configured key', (url) => made(url, foreign)],
      // Under the right key all the same (a leaked key, a bug): checked as a source's answer is.
      ['text/html under the right key', 'type not allowed', (url) => made(url, right, html)],
      ['a CR/LF in a header under the right key', 'header not kept or invalid', (url) => made(url, right, { headers: { etag: '"1"\r\nset-cookie: a=b' } })],
      ['a NUL in a header under the right key', 'header not kept or invalid', (url) => made(url, right, { headers: { etag: '"1\u0000"' } })],
      ['a header ecamo never keeps under the right key', 'header not kept or invalid', (url) => made(url, right, { headers: { 'set-cookie': 'session=stolen' } })],
      ['a body over ECAMO_CACHE_MAX_ENTRY_BYTES under the right key', 'length', (url) => made(url, right, { body: Buffer.alloc(MAX_ENTRY_BYTES + 1) })],
      ['a body over ECAMO_MAX_LENGTH under the right key', 'length', (url) => made(url, right, { body: Buffer.alloc(MAX_LENGTH + 1) })],
      ['a length other than the body\'s under the right key', 'length', (url) => made(url, right, { meta: { length: 1 } })],
      ['another URL under the right key', 'another URL', (url) => made(url, right, { meta: { url: `${source.origin}/other.png` } })],
    ];
    for (const [index, [name, reason, make]] of cases.entries()) {
      const path = `/by-hand-${index}.png`;
      const url = `${source.origin}${path}`;
      const written = make(url);
      await redisOf(first).client.set(redisKey(keyOf(url)), written);
      const refusedBefore = refusals.length;
      const answer = await proxied(second, url);
      assert.equal(answer.status, 200, name);
      assert.equal(answer.header('x-ecamo-cache'), 'miss', name);
      assert.equal(answer.header('content-type'), 'image/png', name);
      assert.equal(answer.header('cache-control'), 'public, max-age=600', name);
      assert.deepEqual(answer.bytes, imageFor(path), name);
      assert.deepEqual(refusals.slice(refusedBefore), [reason], name);
      await until(async () => !(await stored(url))?.equals(written));
      const elsewhere = await proxied(first, url);
      assert.equal(elsewhere.header('x-ecamo-cache'), 'hit', name);
      assert.deepEqual(elsewhere.bytes, imageFor(path), name);
      assert.equal(fetchesOf(path), 1, name);
    }
  });
});
