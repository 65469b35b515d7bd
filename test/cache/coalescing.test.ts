/**
 * Coalescing against real sources that count what reaches them: concurrent
 * misses for one key make one source request, and the requests waiting on
 * it get the same bytes or the same error, within their own ECAMO_TIMEOUT;
 * whatever fails is never kept, and the next request fetches afresh.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { cacheKey } from '../../src/cache/cache.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { signProxyToken } from '../../src/tokens/proxy-token.js';
import { CANONICAL_HOST, SERVICE_ORIGIN, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { paddedPng } from '../helpers/images.js';
import { until } from '../helpers/poll.js';
import { attempt, gate, joined, PNG, proxied, sourcesOfBlock } from './fixture.js';

describe('coalescing', () => {
  let ecamo: Ecamo;
  const source = sourcesOfBlock();

  before(async () => {
    ecamo = await startEcamo();
  });

  after(async () => {
    await ecamo.close();
  });


  test('50 concurrent misses make one source request and get the same bytes', async () => {
    const held = gate();
    const images = await source((_req, res) => {
      void held.opened.then(() => res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=600' }).end(PNG));
    });
    const url = `${images.origin}/popular.png`;
    const answers = Array.from({ length: 50 }, () => proxied(ecamo, url));
    await joined(ecamo, url, 49);
    held.open();
    const settled = await Promise.all(answers);
    assert.equal(images.requests.length, 1);
    for (const answer of settled) {
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.bytes, PNG);
    }
  });

  test('the first client going away mid-body does not cut off the request waiting on the same fetch', async () => {
    const held = gate();
    const body = paddedPng(8000);
    const images = await source((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=600', 'content-length': body.length });
      // Past the window ecamo reads before it answers.
      res.write(body.subarray(0, 5000));
      void held.opened.then(() => res.end(body.subarray(5000)));
    });
    const url = `${images.origin}/shared.png`;
    const token = await signProxyToken({ url, serviceOrigin: SERVICE_ORIGIN, sendToken: false }, ecamo.config.ecamoKeys.signing, 45);
    const leaving = new AbortController();
    const first = await request(`${ecamo.url}/${ecamo.config.prefix}/v1/p/${urlDigest(url)}?t=${token}`, { headers: { host: CANONICAL_HOST }, signal: leaving.signal });
    assert.equal(first.statusCode, 200);
    const second = proxied(ecamo, url);
    await joined(ecamo, url, 1);
    leaving.abort();
    await first.body.text().catch(() => 'aborted');
    held.open();
    const answer = await second;
    assert.deepEqual(answer.bytes, body);
    assert.equal(images.requests.length, 1);
    assert.equal((await proxied(ecamo, url)).header('x-ecamo-cache'), 'hit');
  });

  test('50 concurrent misses on a failing source make one request and all get its error', async () => {
    const held = { '/missing.png': gate(), '/failing.png': gate() };
    const images = await source((req, res) => {
      const status = req.url === '/missing.png' ? 404 : 502;
      void held[req.url === '/missing.png' ? '/missing.png' : '/failing.png'].opened.then(() =>
        res.writeHead(status, { 'content-type': 'text/plain', 'cache-control': 'max-age=600' }).end('no'),
      );
    });
    for (const [path, status] of [['/missing.png', 404], ['/failing.png', 502]] as const) {
      const before = images.requests.length;
      const answers = Array.from({ length: 50 }, () => proxied(ecamo, `${images.origin}${path}`));
      await joined(ecamo, `${images.origin}${path}`, 49);
      held[path].open();
      for (const answer of await Promise.all(answers)) {
        assert.equal(answer.status, status, path);
        assert.equal(answer.header('x-ecamo-error'), 'source-response', path);
      }
      assert.equal(images.requests.length - before, 1, `${path}: one source request`);
    }
    // An error is never kept: the next request asks again.
    assert.equal((await proxied(ecamo, `${images.origin}/failing.png`)).status, 502);
    assert.equal(images.requests.length, 3);
  });

  test("a 200 the fetching request refuses (its type) is every waiting request's refusal, from one source request", async () => {
    const held = gate();
    const images = await source((_req, res) => void held.opened.then(() => res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'max-age=600' }).end('<p>')));
    const answers = Array.from({ length: 10 }, () => proxied(ecamo, `${images.origin}/page`));
    await joined(ecamo, `${images.origin}/page`, 9);
    held.open();
    for (const answer of await Promise.all(answers)) {
      assert.equal(answer.status, 403);
      assert.equal(answer.header('x-ecamo-error'), 'unallowed-content-type');
    }
    assert.equal(images.requests.length, 1);
  });

  test('concurrent misses for an answer that may not be kept each fetch it themselves', async () => {
    const held = gate();
    const images = await source((_req, res) => void held.opened.then(() => res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'private' }).end(PNG)));
    const url = `${images.origin}/mine.png`;
    const answers = Array.from({ length: 5 }, () => proxied(ecamo, url));
    await joined(ecamo, url, 4);
    held.open();
    for (const answer of await Promise.all(answers)) assert.deepEqual(answer.bytes, PNG);
    assert.equal(images.requests.length, 5);
  });

  // Clients that leave while their request waits on the fetch.

  /** A proxied request whose client can leave before its answer comes. */
  async function leavable(url: string): Promise<{ readonly settled: Promise<unknown>; leave(): void }> {
    const token = await signProxyToken({ url, serviceOrigin: SERVICE_ORIGIN, sendToken: false }, ecamo.config.ecamoKeys.signing, 45);
    const leaving = new AbortController();
    const settled = request(`${ecamo.url}/${ecamo.config.prefix}/v1/p/${urlDigest(url)}?t=${token}`, { headers: { host: CANONICAL_HOST }, signal: leaving.signal }).catch(
      (error: unknown) => error,
    );
    return { settled, leave: () => leaving.abort() };
  }

  /** Resolves once ecamo has seen all but `count` of its requests end: a client that left has been told to the cache by then. */
  async function inFlight(count: number): Promise<void> {
    await until(async () => (await ecamo.server.app.metrics.inFlight.get()).values[0]?.value === count);
  }

  /** A source that holds its first request until `held` opens (recording when its connection closes), and answers the rest at once. */
  async function holdingFirst(held: Promise<void>): Promise<{ readonly images: Source; readonly firstClosed: Promise<void> }> {
    let closed!: () => void;
    const firstClosed = new Promise<void>((resolve) => (closed = resolve));
    const images = await source((req, res) => {
      const answer = (): void => void res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=600' }).end(PNG);
      if (images.requests.length > 1) return answer();
      req.socket.once('close', closed);
      void held.then(answer);
    });
    return { images, firstClosed };
  }

  test('the fetching request\'s client leaves before the source answers: the fetch goes on for the request waiting on it, which gets the image, kept', async () => {
    const held = gate();
    const { images } = await holdingFirst(held.opened);
    const url = `${images.origin}/leader-leaves.png`;
    const leader = await leavable(url);
    await until(() => images.requests.length === 1);
    const follower = proxied(ecamo, url);
    await joined(ecamo, url, 1);
    leader.leave();
    await inFlight(1);
    held.open();
    const answer = await follower;
    assert.deepEqual([answer.status, answer.bytes], [200, PNG]);
    assert.ok(await leader.settled instanceof Error);
    assert.equal((await proxied(ecamo, url)).header('x-ecamo-cache'), 'hit');
    assert.equal(images.requests.length, 1);
  });

  test('a waiting request\'s client leaves: the fetching request still gets the image', async () => {
    const held = gate();
    const { images } = await holdingFirst(held.opened);
    const url = `${images.origin}/follower-leaves.png`;
    const leader = proxied(ecamo, url);
    await until(() => images.requests.length === 1);
    const follower = await leavable(url);
    await joined(ecamo, url, 1);
    follower.leave();
    await until(() => ecamo.server.app.cache!.waitingOn(cacheKey(url, SERVICE_ORIGIN, false), 'other') === 0);
    held.open();
    const answer = await leader;
    assert.deepEqual([answer.status, answer.header('x-ecamo-cache'), answer.bytes], [200, 'miss', PNG]);
    assert.equal(images.requests.length, 1);
  });

  test('every client leaves before the source answers: the source connection is closed, nothing is kept, and the next request fetches afresh', async () => {
    const { images, firstClosed } = await holdingFirst(new Promise(() => {}));
    const url = `${images.origin}/all-leave.png`;
    const leader = await leavable(url);
    await until(() => images.requests.length === 1);
    const follower = await leavable(url);
    await joined(ecamo, url, 1);
    // The fetching request's client first: the fetch goes on for the waiting one, until it leaves too.
    leader.leave();
    await inFlight(1);
    follower.leave();
    await firstClosed;
    await inFlight(0);
    const answer = await proxied(ecamo, url);
    assert.deepEqual([answer.status, answer.header('x-ecamo-cache'), answer.bytes], [200, 'miss', PNG]);
    assert.equal(images.requests.length, 2);
  });
});

describe('coalescing and the deadline (ECAMO_TIMEOUT)', () => {
  let impatient: Ecamo;
  const sources: Source[] = [];

  before(async () => {
    impatient = await startEcamo({ ECAMO_TIMEOUT: '1' });
  });

  after(async () => {
    await impatient.close();
    for (const source of sources) await source.close();
  });

  /** A source that stalls (`stall(res)`) until `recovered`, then answers a cacheable image. */
  async function stalling(stall: (res: http.ServerResponse) => void): Promise<{ source: Source; recover: () => void }> {
    let recovered = false;
    const started = await startSource((_req, res) => {
      if (!recovered) return stall(res);
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=600' }).end(PNG);
    });
    sources.push(started);
    return { source: started, recover: () => void (recovered = true) };
  }

  test('a body stalled past ECAMO_TIMEOUT is cut off and never kept, chunked or with a length', async () => {
    for (const length of [{ 'content-length': 10_000 }, {}]) {
      const { source, recover } = await stalling((res) => {
        res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=600', ...length });
        res.write(paddedPng(5000)); // past the window ecamo reads before it answers, and never the rest
      });
      const url = `${source.origin}/stall.png`;
      for (let i = 0; i < 2; i++) assert.equal(await attempt(impatient, url), 'cut off');
      assert.equal(source.requests.length, 2);
      recover();
      assert.equal(await attempt(impatient, url), 'complete 200 miss');
    }
  });

  test('a source that never answers: the waiting requests get 504 source-request too, nothing is kept, and once it recovers it is fetched again', async () => {
    const { source, recover } = await stalling(() => {});
    const url = `${source.origin}/silent.png`;
    const answers = Array.from({ length: 5 }, () => proxied(impatient, url));
    for (const answer of await Promise.all(answers)) {
      assert.equal(answer.status, 504);
      assert.equal(answer.header('x-ecamo-error'), 'source-request');
    }
    assert.equal(source.requests.length, 1);
    recover();
    assert.equal((await proxied(impatient, url)).header('x-ecamo-cache'), 'miss');
    assert.equal((await proxied(impatient, url)).header('x-ecamo-cache'), 'hit');
    assert.equal(source.requests.length, 2);
  });

  test('a body stalled under the fetching request: the waiting requests get 504 source-request, never the bytes so far', async () => {
    const { source, recover } = await stalling((res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 10_000, 'cache-control': 'max-age=600' });
      res.write(paddedPng(5000));
    });
    const url = `${source.origin}/half.png`;
    const first = attempt(impatient, url);
    // Its fetch is under way: the requests from now on wait on it.
    await until(() => source.requests.length === 1);
    const waiting = await Promise.all(Array.from({ length: 5 }, () => proxied(impatient, url)));
    assert.equal(await first, 'cut off');
    for (const answer of waiting) {
      assert.equal(answer.status, 504);
      assert.equal(answer.header('x-ecamo-error'), 'source-request');
    }
    assert.equal(source.requests.length, 1);
    recover();
    assert.equal(await attempt(impatient, url), 'complete 200 miss');
    assert.equal(source.requests.length, 2);
  });
});

describe('a waiting request is bounded by its own ECAMO_TIMEOUT', () => {
  test('while the fetch it waits on goes on (a 304 for other bytes, then the full fetch), it gets 504 source-request; the fetching request gets the image', async () => {
    const second304 = gate();
    const followerAnswered = gate();
    let conditional = false;
    const images = await startSource((req, res) => {
      if (!conditional) return void res.writeHead(200, { 'content-type': 'image/png', etag: '"mine"', 'cache-control': 'max-age=0' }).end(PNG);
      // The stale entry's revalidation: a 304 naming other bytes, once the waiting request has joined...
      if (req.headers['if-none-match'] !== undefined) return void second304.opened.then(() => res.writeHead(304, { etag: '"other"' }).end());
      // ...then the unconditional fetch, answered only after the waiting request has had its answer.
      void followerAnswered.opened.then(() => res.writeHead(200, { 'content-type': 'image/png', etag: '"other"', 'cache-control': 'max-age=600' }).end(PNG));
    });
    // Each source exchange gets ECAMO_TIMEOUT; the waiting request, which came after the first began, gets its own.
    const ecamo = await startEcamo({ ECAMO_TIMEOUT: '3' });
    try {
      const url = `${images.origin}/changing.png`;
      assert.equal((await proxied(ecamo, url)).header('x-ecamo-cache'), 'miss');
      conditional = true;
      const leader = proxied(ecamo, url);
      await until(() => images.requests.length === 2);
      const follower = proxied(ecamo, url);
      await joined(ecamo, url, 1);
      // Not a wait for something: the full fetch starts well after the waiting request joined, so that
      // its own ECAMO_TIMEOUT ends well after the waiting request's, and what the waiting request gets is its own.
      await sleep(1200);
      second304.open();
      const waited = await follower;
      followerAnswered.open();
      assert.equal(waited.status, 504);
      assert.equal(waited.header('x-ecamo-error'), 'source-request');
      const fetched = await leader;
      assert.equal(fetched.status, 200);
      assert.deepEqual(fetched.bytes, PNG);
      assert.equal(images.requests.length, 3);
    } finally {
      await Promise.all([ecamo.close(), images.close()]);
    }
  });
});
