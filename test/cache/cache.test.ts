/**
 * The response cache against real sources that count what reaches them:
 * reuse, HTTP's rules for a shared cache, the byte bound, keys (coalescing,
 * the deadline: coalescing.test.ts; sources that misbehave: bad-sources.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SOURCE_ACCEPT } from '../../src/cache/accept-class.js';
import { generateKey } from '../../src/config/generate-key.js';
import { loadEcamoKeys } from '../../src/config/keys.js';
import { createLogger } from '../../src/log.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { signProxyToken } from '../../src/tokens/proxy-token.js';
import { CANONICAL_HOST, SERVICE_ORIGIN, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { paddedPng, WEBP } from '../helpers/images.js';
import { attempt, gate, joined, movableClock, PNG, proxied, sourcesOfBlock } from './fixture.js';

describe('response cache', () => {
  let ecamo: Ecamo;
  const logs: Record<string, unknown>[] = [];
  const source = sourcesOfBlock();
  const clock = movableClock();

  before(async () => {
    const logger = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
    ecamo = await startEcamo({}, { logger, cacheClock: clock.now });
  });

  after(async () => {
    await ecamo.close();
  });


  test('repeat views are answered from the cache, with Age, and logged as hits', async () => {
    const images = await source((_req, res) => void res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'public, max-age=600', etag: '"v1"' }).end(PNG));
    const url = `${images.origin}/repeat.png`;
    const first = await proxied(ecamo, url);
    const second = await proxied(ecamo, url);
    const third = await proxied(ecamo, url);
    assert.equal(images.requests.length, 1);
    assert.deepEqual([first.header('x-ecamo-cache'), second.header('x-ecamo-cache'), third.header('x-ecamo-cache')], ['miss', 'hit', 'hit']);
    for (const answer of [first, second, third]) {
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.bytes, PNG);
      assert.equal(answer.header('content-type'), 'image/png');
      assert.equal(answer.header('cache-control'), 'public, max-age=600');
      assert.equal(answer.header('etag'), '"v1"');
      assert.equal(answer.header('x-content-type-options'), 'nosniff');
    }
    assert.match(second.header('age') ?? '', /^\d+$/);
    // The miss streamed as the source sent it (chunked); the entry knows its length.
    assert.equal(second.header('content-length'), String(PNG.length));
    const logged = logs.filter((line) => line.msg === 'access' && line.source === url).map((line) => line.cache);
    assert.deepEqual(logged, ['miss', 'hit', 'hit']);
  });

  test('the source sending no Cache-Control: ECAMO_DEFAULT_CACHE_CONTROL applies, as the client is told', async () => {
    const images = await source((_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
    const url = `${images.origin}/default.png`;
    const first = await proxied(ecamo, url);
    const second = await proxied(ecamo, url);
    assert.equal(first.header('cache-control'), 'public, max-age=3600');
    assert.equal(second.header('x-ecamo-cache'), 'hit');
    assert.equal(images.requests.length, 1);
  });

  test('an entry expires with its max-age', async () => {
    const images = await source((_req, res) => void res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=1' }).end(PNG));
    const url = `${images.origin}/short.png`;
    await proxied(ecamo, url);
    assert.equal((await proxied(ecamo, url)).header('x-ecamo-cache'), 'hit');
    clock.advance(1000);
    assert.equal((await proxied(ecamo, url)).header('x-ecamo-cache'), 'miss');
    assert.equal(images.requests.length, 2);
  });

  test('Expires and s-maxage give freshness too; s-maxage wins over max-age for a shared cache', async () => {
    const images = await source((req, res) => {
      const headers = req.url === '/expires.png'
        ? { 'cache-control': 'public', expires: new Date(Date.now() + 600_000).toUTCString() }
        : { 'cache-control': 'max-age=0, s-maxage=600' };
      res.writeHead(200, { 'content-type': 'image/png', ...headers }).end(PNG);
    });
    for (const path of ['/expires.png', '/s-maxage.png']) {
      await proxied(ecamo, `${images.origin}${path}`);
      assert.equal((await proxied(ecamo, `${images.origin}${path}`)).header('x-ecamo-cache'), 'hit', path);
    }
    assert.equal(images.requests.length, 2);
  });

  test('private, no-store, no-cache, Vary: * and error answers are never kept', async () => {
    const answers: Record<string, [number, Record<string, string>]> = {
      '/private.png': [200, { 'cache-control': 'private, max-age=600' }],
      '/no-store.png': [200, { 'cache-control': 'no-store' }],
      '/no-cache.png': [200, { 'cache-control': 'no-cache', etag: '"n"' }],
      '/pragma.png': [200, { 'cache-control': 'max-age=0', pragma: 'no-cache' }],
      '/vary-star.png': [200, { 'cache-control': 'max-age=600', vary: '*' }],
      '/missing.png': [404, { 'cache-control': 'max-age=600' }],
      '/broken.png': [503, { 'cache-control': 'max-age=600' }],
    };
    const images = await source((req, res) => {
      const [status, headers] = answers[req.url ?? ''] ?? [500, {}];
      res.writeHead(status, { 'content-type': 'image/png', ...headers }).end(PNG);
    });
    for (const [path, [status]] of Object.entries(answers)) {
      const url = `${images.origin}${path}`;
      const before = images.requests.length;
      for (let i = 0; i < 2; i++) {
        const answer = await proxied(ecamo, url);
        assert.equal(answer.status, status, path);
        assert.equal(answer.header('x-ecamo-cache'), 'bypass', path);
      }
      assert.equal(images.requests.length - before, 2, `${path} went to the source each time`);
    }
  });

  test('fetched with the ID token (Authorization): kept only when the source allows it', async () => {
    const images = await source((req, res) => {
      const cacheControl = req.url === '/public.png' ? 'public, max-age=600' : req.url === '/revalidate.png' ? 'max-age=600, must-revalidate' : 'max-age=600';
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': cacheControl }).end(PNG);
    });
    for (const [path, kept] of [['/plain.png', false], ['/public.png', true], ['/revalidate.png', true]] as const) {
      const url = `${images.origin}${path}`;
      await proxied(ecamo, url, { sendToken: true });
      const second = await proxied(ecamo, url, { sendToken: true });
      assert.equal(second.header('x-ecamo-cache'), kept ? 'hit' : 'bypass', path);
    }
    assert.ok(images.requests.every((req) => req.headers.authorization?.startsWith('Bearer ')));
    assert.equal(images.requests.length, 4);
  });

  test('fetched with the ID token and no Cache-Control: never kept (ECAMO_DEFAULT_CACHE_CONTROL is what clients are told, not the source\'s consent)', async () => {
    const images = await source((req, res) => {
      const headers: Record<string, string> = { 'content-type': 'image/png' };
      if (req.url === '/consenting.png') headers['cache-control'] = 'public, max-age=60';
      res.writeHead(200, headers).end(PNG);
    });
    const silent = `${images.origin}/silent.png`;
    const answers = [await proxied(ecamo, silent, { sendToken: true }), await proxied(ecamo, silent, { sendToken: true })];
    assert.deepEqual(
      answers.map((answer) => [answer.header('x-ecamo-cache'), answer.header('cache-control')]),
      [
        ['bypass', 'public, max-age=3600'],
        ['bypass', 'public, max-age=3600'],
      ],
    );
    const consenting = `${images.origin}/consenting.png`;
    assert.equal((await proxied(ecamo, consenting, { sendToken: true })).header('x-ecamo-cache'), 'miss');
    assert.equal((await proxied(ecamo, consenting, { sendToken: true })).header('x-ecamo-cache'), 'hit');
    assert.deepEqual(
      images.requests.map((req) => req.url),
      ['/silent.png', '/silent.png', '/consenting.png'],
    );
  });

  test('keys: another service or another send-token flag never gets the entry', async () => {
    const images = await source((req, res) => {
      const body = Buffer.from(req.headers.authorization === undefined ? 'GIF89a anonymous' : 'GIF89a with ID token');
      res.writeHead(200, { 'content-type': 'image/gif', 'cache-control': 'public, max-age=600' }).end(body);
    });
    const url = `${images.origin}/keyed.png`;
    assert.equal((await proxied(ecamo, url)).body, 'GIF89a anonymous');
    assert.equal((await proxied(ecamo, url, { sendToken: true })).body, 'GIF89a with ID token');
    const other = await proxied(ecamo, url, { serviceOrigin: 'http://other.test' });
    assert.equal(other.header('x-ecamo-cache'), 'miss');
    assert.equal((await proxied(ecamo, url, { sendToken: true })).header('x-ecamo-cache'), 'hit');
    assert.equal((await proxied(ecamo, url, { serviceOrigin: 'http://other.test' })).header('x-ecamo-cache'), 'hit');
    assert.equal(images.requests.length, 3);
  });

  test('a refused request never reveals whether an entry exists', async () => {
    const images = await source((_req, res) => void res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'public, max-age=600' }).end(PNG));
    const url = `${images.origin}/secret.png`;
    await proxied(ecamo, url);
    const claims = { url, serviceOrigin: SERVICE_ORIGIN, sendToken: false };
    const good = await signProxyToken(claims, ecamo.config.ecamoKeys.signing, 45);
    // Same kid, another key: what a forger who guessed everything but the key would send.
    const forgerKeys = await loadEcamoKeys('keys', JSON.stringify({ [ecamo.ecamoKey.kid]: (await generateKey(ecamo.ecamoKey.kid)).privateJwk }), 'kid', undefined);
    const forged = await signProxyToken(claims, forgerKeys.signing, 45);
    // Genuine, but past its exp (and the clock leeway).
    const expired = await signProxyToken(claims, ecamo.config.ecamoKeys.signing, 45, 'HS256', Math.floor(Date.now() / 1000) - 120);
    // Admitted once (so it is cached as verified), the same token must still bring the right digest.
    assert.equal((await ecamo.get(`/${ecamo.config.prefix}/v1/p/${urlDigest(url)}?t=${good}`, { host: CANONICAL_HOST })).status, 200);
    const refused = [
      `/${ecamo.config.prefix}/v1/p/${urlDigest(url)}?t=${forged}`,
      `/${ecamo.config.prefix}/v1/p/${urlDigest(`${url}?x`)}?t=${good}`,
      `/${ecamo.config.prefix}/v1/p/${urlDigest(url)}?t=${expired}`,
    ];
    for (const path of refused) {
      const answer = await ecamo.get(path, { host: CANONICAL_HOST });
      assert.equal(answer.status, 401, path);
      assert.equal(answer.header('x-ecamo-cache'), undefined);
      assert.equal(answer.bytes.includes(PNG), false);
    }
  });

  test('Vary: Accept keeps one entry per Accept class; the source is sent the class\'s Accept', async () => {
    const images = await source((req, res) => {
      const webp = req.headers.accept?.includes('image/webp') === true;
      res.writeHead(200, { 'content-type': webp ? 'image/webp' : 'image/png', 'cache-control': 'max-age=600', vary: 'Accept' }).end(webp ? WEBP : PNG);
    });
    const url = `${images.origin}/negotiated`;
    const webp = 'image/webp,image/*';
    const plain = 'image/*';
    const alsoWebp = 'image/webp;q=0.9,image/png';
    assert.deepEqual((await proxied(ecamo, url, { accept: webp })).bytes, WEBP);
    assert.deepEqual((await proxied(ecamo, url, { accept: plain })).bytes, PNG);
    const again = await proxied(ecamo, url, { accept: webp });
    assert.deepEqual(again.bytes, WEBP);
    assert.equal(again.header('x-ecamo-cache'), 'hit');
    assert.equal(again.header('vary'), 'Accept');
    assert.equal((await proxied(ecamo, url, { accept: plain })).header('x-ecamo-cache'), 'hit');
    assert.equal((await proxied(ecamo, url, { accept: alsoWebp })).header('x-ecamo-cache'), 'hit');
    assert.deepEqual(
      images.requests.map((req) => req.headers.accept),
      [SOURCE_ACCEPT.webp, SOURCE_ACCEPT.other],
    );
  });

  test('a stale entry is revalidated with If-None-Match; a 304 refreshes it', async () => {
    let cacheControl = 'max-age=0, must-revalidate';
    const images = await source((req, res) => {
      if (req.headers['if-none-match'] === '"e1"') return void res.writeHead(304, { etag: '"e1"', 'cache-control': cacheControl }).end();
      res.writeHead(200, { 'content-type': 'image/png', etag: '"e1"', 'cache-control': cacheControl }).end(PNG);
    });
    const url = `${images.origin}/etag.png`;
    assert.equal((await proxied(ecamo, url)).header('x-ecamo-cache'), 'miss');
    const revalidated = await proxied(ecamo, url);
    assert.equal(revalidated.header('x-ecamo-cache'), 'revalidated');
    assert.deepEqual(revalidated.bytes, PNG);
    assert.equal(images.requests[1]?.headers['if-none-match'], '"e1"');
    cacheControl = 'max-age=600';
    assert.equal((await proxied(ecamo, url)).header('x-ecamo-cache'), 'revalidated');
    const refreshed = await proxied(ecamo, url);
    assert.equal(refreshed.header('x-ecamo-cache'), 'hit');
    assert.equal(refreshed.header('cache-control'), 'max-age=600', 'the 304 headers replace the stored ones');
    assert.equal(images.requests.length, 3);
    const logged = logs.filter((line) => line.msg === 'access' && line.source === url).map((line) => [line.cache, line.sourceStatus]);
    assert.deepEqual(logged, [['miss', 200], ['revalidated', 304], ['revalidated', 304], ['hit', undefined]]);
  });

  test('a stale entry with a validator is kept to be revalidated for as long again as it was fresh, at least a minute; then it is fetched whole', async () => {
    const images = await source((req, res) => {
      if (req.headers['if-none-match'] === '"k1"') return void res.writeHead(304, { etag: '"k1"', 'cache-control': 'max-age=1' }).end();
      res.writeHead(200, { 'content-type': 'image/png', etag: '"k1"', 'cache-control': 'max-age=1' }).end(PNG);
    });
    const url = `${images.origin}/kept.png`;
    assert.equal((await proxied(ecamo, url)).header('x-ecamo-cache'), 'miss');
    clock.advance(59_000);
    assert.equal((await proxied(ecamo, url)).header('x-ecamo-cache'), 'revalidated');
    clock.advance(62_000);
    assert.equal((await proxied(ecamo, url)).header('x-ecamo-cache'), 'miss');
    assert.deepEqual(images.requests.map((req) => req.headers['if-none-match'] ?? 'unconditional'), ['unconditional', '"k1"', 'unconditional']);
  });

  test('Last-Modified is revalidated with If-Modified-Since', async () => {
    const modified = 'Wed, 21 Oct 2026 07:28:00 GMT';
    const images = await source((req, res) => {
      if (req.headers['if-modified-since'] === modified) return void res.writeHead(304, { 'last-modified': modified }).end();
      res.writeHead(200, { 'content-type': 'image/png', 'last-modified': modified, 'cache-control': 'max-age=0' }).end(PNG);
    });
    const url = `${images.origin}/dated.png`;
    await proxied(ecamo, url);
    const second = await proxied(ecamo, url);
    assert.equal(second.header('x-ecamo-cache'), 'revalidated');
    assert.deepEqual(second.bytes, PNG);
    assert.equal(second.header('last-modified'), modified);
  });
});

describe('response cache bounds', () => {
  const sources: Source[] = [];
  after(async () => {
    for (const source of sources) await source.close();
  });

  test('least recently used entries go first at ECAMO_CACHE_MAX_BYTES; larger than ECAMO_CACHE_MAX_ENTRY_BYTES is streamed', async () => {
    const body = paddedPng(10_000);
    const images = await startSource((req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=600' }).end(req.url === '/huge.png' ? paddedPng(20_000) : body);
    });
    sources.push(images);
    // Room for three 10 kB entries with their bookkeeping, not four.
    const ecamo = await startEcamo({ ECAMO_CACHE_MAX_BYTES: '36000', ECAMO_CACHE_MAX_ENTRY_BYTES: '15000' });
    try {
      const status = async (name: string): Promise<string | undefined> => (await proxied(ecamo, `${images.origin}/${name}.png`)).header('x-ecamo-cache');
      assert.deepEqual([await status('a'), await status('b'), await status('c')], ['miss', 'miss', 'miss']);
      assert.equal(await status('a'), 'hit');
      assert.equal(await status('d'), 'miss'); // evicts b, the least recently used
      assert.equal(await status('b'), 'miss'); // evicts c
      assert.equal(await status('a'), 'hit');
      assert.equal(await status('d'), 'hit');
      // Chunked, so its size shows on the way: streamed whole, never kept.
      const before = images.requests.length;
      for (let i = 0; i < 2; i++) assert.equal((await proxied(ecamo, `${images.origin}/huge.png`)).bytes.length, 20_000);
      assert.equal(images.requests.length - before, 2);
      assert.ok(ecamo.server.app.cache!.memoryBytes <= 36000);
    } finally {
      await ecamo.close();
    }
  });

  test('a body over ECAMO_MAX_LENGTH, within the entry limit, is never kept, chunked or with a length', async () => {
    const body = paddedPng(8000);
    const held = gate();
    const images = await startSource((req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'public, max-age=600', ...(req.url === '/sized.png' ? { 'content-length': body.length } : {}) });
      if (req.url === '/held.png') void held.opened.then(() => res.end(body));
      else res.end(body);
    });
    sources.push(images);
    const ecamo = await startEcamo({ ECAMO_MAX_LENGTH: '5000' });
    try {
      for (let i = 0; i < 2; i++) {
        const sized = await proxied(ecamo, `${images.origin}/sized.png`);
        assert.equal(sized.status, 403);
        assert.equal(sized.header('x-ecamo-error'), 'source-response-too-large');
        assert.equal(await attempt(ecamo, `${images.origin}/chunked.png`), 'cut off');
      }
      // A request waiting on the fetch of one that is cut off gets no copy of more than the limit either.
      const both = [attempt(ecamo, `${images.origin}/held.png`), attempt(ecamo, `${images.origin}/held.png`)];
      await joined(ecamo, `${images.origin}/held.png`, 1);
      held.open();
      assert.deepEqual(await Promise.all(both), ['cut off', 'cut off']);
      assert.deepEqual(images.requests.map((req) => req.url), ['/sized.png', '/chunked.png', '/sized.png', '/chunked.png', '/held.png', '/held.png']);
      assert.equal(ecamo.server.app.cache!.memoryEntries, 0);
    } finally {
      await ecamo.close();
    }
  });

  test('ECAMO_DEFAULT_CACHE_CONTROL that forbids keeping: nothing kept of a source that sends no Cache-Control; a source that sends one is kept by it', async () => {
    const images = await startSource((req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', ...(req.url === '/own.png' ? { 'cache-control': 'public, max-age=600' } : {}) }).end(PNG);
    });
    sources.push(images);
    const ecamo = await startEcamo({ ECAMO_DEFAULT_CACHE_CONTROL: 'private, max-age=600' });
    try {
      for (let i = 0; i < 2; i++) {
        const answer = await proxied(ecamo, `${images.origin}/bare.png`);
        assert.equal(answer.header('cache-control'), 'private, max-age=600');
        assert.equal(answer.header('x-ecamo-cache'), 'bypass');
      }
      assert.equal((await proxied(ecamo, `${images.origin}/own.png`)).header('x-ecamo-cache'), 'miss');
      assert.equal((await proxied(ecamo, `${images.origin}/own.png`)).header('x-ecamo-cache'), 'hit');
      assert.deepEqual(images.requests.map((req) => req.url), ['/bare.png', '/bare.png', '/own.png']);
    } finally {
      await ecamo.close();
    }
  });

  test('ECAMO_CACHE_MAX_BYTES=0 turns the cache off', async () => {
    const images = await startSource((_req, res) => void res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'public, max-age=600' }).end(PNG));
    sources.push(images);
    const ecamo = await startEcamo({ ECAMO_CACHE_MAX_BYTES: '0' });
    try {
      for (let i = 0; i < 2; i++) assert.equal((await proxied(ecamo, `${images.origin}/off.png`)).header('x-ecamo-cache'), 'bypass');
      assert.equal(images.requests.length, 2);
      assert.equal(ecamo.server.app.cache, undefined);
    } finally {
      await ecamo.close();
    }
  });
});
