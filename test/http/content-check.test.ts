/**
 * The bytes of every source 200 are checked before any of them is answered
 * or kept (src/http/content-check.ts): real image files served byte for byte
 * under the type they are, mislabelled ones under their own type, anything
 * else refused with none of its bytes sent and nothing kept; the proxy
 * endpoint and camo URLs alike, fresh, revalidated and shared entries alike.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { cacheKey } from '../../src/cache/cache.js';
import { EcamoError } from '../../src/errors.js';
import { checkContentThen, checkedContentType, type ContentWatcher } from '../../src/http/content-check.js';
import { SourceFetcher, type SourceResponse } from '../../src/upstream/fetch.js';
import { DEFAULT_CONTENT_TYPES } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { redisKey } from '../../src/cache/redis-tier.js';
import { camoPath } from '../helpers/camo.js';
import { CANONICAL_HOST, SERVICE_ORIGIN, startEcamo, startSource, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { GIF, IMAGES, largePng, paddedPng, PNG, SVG } from '../helpers/images.js';
import { capturedLog } from '../helpers/log-lines.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { unlessInstalled } from '../helpers/programs.js';

const CAMO_KEY = 'content check camo key';
const CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox";
const HTML = Buffer.from('<!DOCTYPE html><html><body><script>document.title = "pwned"</script></body></html>');
const SCRIPT = Buffer.from('fetch("/steal?c=" + document.cookie);\n');
const PDF = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
const SVG_WITH_SCRIPT = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>');
const UTF16_SVG = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<?xml version="1.0" encoding="UTF-16"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>', 'utf16le')]);
const LARGE = largePng(300_000);
const FIRST_BYTES = 64 * 1024;

/** What a source answers at a path: a label (none: no Content-Type) and bytes. */
const FILES: Record<string, { readonly type: string | undefined; readonly bytes: Buffer }> = {
  ...Object.fromEntries(Object.entries(IMAGES).map(([type, bytes]) => [`/real/${type.split('/')[1]!}`, { type, bytes }])),
  '/gif-as-png': { type: 'image/png', bytes: GIF },
  '/png-as-jpeg': { type: 'image/jpeg; charset=binary', bytes: PNG },
  '/html-as-png': { type: 'image/png', bytes: HTML },
  '/script-as-gif': { type: 'image/gif', bytes: SCRIPT },
  '/pdf-as-jpeg': { type: 'image/jpeg', bytes: PDF },
  '/html-as-svg': { type: 'image/svg+xml', bytes: HTML },
  '/zeros-as-png': { type: 'image/png', bytes: Buffer.alloc(5 * 1024 * 1024) },
  '/svg-with-script': { type: 'image/svg+xml', bytes: SVG_WITH_SCRIPT },
  '/utf16.svg': { type: 'image/svg+xml', bytes: UTF16_SVG },
  '/polyglot.gif': { type: 'image/gif', bytes: Buffer.concat([GIF, HTML]) },
  '/unlabelled.png': { type: undefined, bytes: PNG },
  '/unlabelled.svg': { type: undefined, bytes: SVG },
  '/unlabelled.html': { type: undefined, bytes: HTML },
};

async function proxied(ecamo: Ecamo, url: string, options: { method?: 'GET' | 'HEAD'; headers?: Record<string, string> } = {}): Promise<Answer> {
  return ecamo.get(await ecamo.proxyPath(url), { host: CANONICAL_HOST, ...options });
}

function assertRefusedContent(answer: Answer, name: string): void {
  assert.equal(answer.status, 403, name);
  assert.equal(answer.header('x-ecamo-error'), 'unallowed-content-type', name);
  assert.equal(answer.header('content-type'), 'text/plain; charset=utf-8', name);
  assert.equal(answer.body, 'Error: unallowed-content-type', `${name}: none of the source's bytes`);
}

let releaseLarge: () => void = () => {};
/** A stale-able image whose next answer is HTML under the same label (the revalidation case). */
let changing: Buffer = PNG;

function sourceHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://source.invalid').pathname;
  const file = FILES[path];
  if (file !== undefined) {
    res.writeHead(200, { ...(file.type === undefined ? {} : { 'content-type': file.type }), 'content-length': file.bytes.length, 'cache-control': 'public, max-age=600' });
    res.end(file.bytes);
    return;
  }
  switch (path) {
    case '/missing.png':
      res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>not here</h1>');
      return;
    case '/large.png':
      // The first 64 KiB, then the rest only once the test has seen the first bytes arrive.
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': LARGE.length });
      res.write(LARGE.subarray(0, FIRST_BYTES));
      releaseLarge = () => res.end(LARGE.subarray(FIRST_BYTES));
      return;
    case '/stall.png':
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 10_000 });
      res.write(paddedPng(100)); // and never the rest: inside the window ecamo reads before it answers
      return;
    case '/cut.png':
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 10_000 });
      res.write(paddedPng(100), () => req.socket.resetAndDestroy());
      return;
    case '/changing.png':
      if (req.headers['if-none-match'] === '"png"' && changing === PNG) return void res.writeHead(304, { etag: '"png"' }).end();
      res.writeHead(200, { 'content-type': 'image/png', etag: changing === PNG ? '"png"' : '"html"', 'cache-control': 'max-age=0' }).end(changing);
      return;
    default:
      res.writeHead(404).end();
  }
}

const fetchesOf = (source: Source, path: string): number => source.requests.filter((req) => req.url === path).length;

describe('the bytes of a source 200, checked before they are answered or kept', () => {
  let source: Source;
  let ecamo: Ecamo;
  let lines: Record<string, unknown>[];

  before(async () => {
    source = await startSource(sourceHandler);
    const log = capturedLog('info');
    lines = log.lines;
    ecamo = await startEcamo({ ECAMO_TIMEOUT: '2', ECAMO_CAMO_KEY: CAMO_KEY }, { logger: log.logger });
  });

  after(async () => {
    await ecamo.close();
    await source.close();
  });

  test('real PNG, GIF, JPEG, WebP, AVIF and SVG files are served byte for byte under their type, fetched once', async () => {
    for (const [type, bytes] of Object.entries(IMAGES)) {
      const path = `/real/${type.split('/')[1]!}`;
      for (const cache of ['miss', 'hit']) {
        const answer = await proxied(ecamo, `${source.origin}${path}`);
        assert.equal(answer.status, 200, path);
        assert.equal(answer.header('content-type'), type, path);
        assert.equal(answer.header('x-ecamo-cache'), cache, path);
        assert.deepEqual(answer.bytes, bytes, path);
      }
      assert.equal(fetchesOf(source, path), 1, path);
    }
  });

  test('a mislabelled image is served under the type its bytes show, kept so, and the mismatch is logged at info', async () => {
    for (const [path, bytes, type] of [['/gif-as-png', GIF, 'image/gif'], ['/png-as-jpeg', PNG, 'image/png']] as const) {
      for (const cache of ['miss', 'hit']) {
        const answer = await proxied(ecamo, `${source.origin}${path}`);
        assert.deepEqual([answer.status, answer.header('content-type'), answer.header('x-ecamo-cache')], [200, type, cache], path);
        assert.deepEqual(answer.bytes, bytes, path);
      }
    }
    const corrected = lines.find((line) => line.msg === 'source content type corrected' && String(line.source).endsWith('/gif-as-png'));
    assert.deepEqual([corrected?.level, corrected?.declared, corrected?.sniffed], [30, 'image/png', 'image/gif']);
  });

  test('HTML, JavaScript, PDF and HTML under the SVG label: 403, none of their bytes sent, nothing kept, the reason in the log', async () => {
    const reasons: Record<string, string> = {
      '/html-as-png': 'sniffed text/html',
      '/script-as-gif': 'sniffed text/plain',
      '/pdf-as-jpeg': 'sniffed application/pdf',
      '/html-as-svg': 'sniffed text/html',
      '/zeros-as-png': 'unknown binary',
    };
    for (const [path, reason] of Object.entries(reasons)) {
      for (let i = 0; i < 2; i++) assertRefusedContent(await proxied(ecamo, `${source.origin}${path}`), path);
      const head = await proxied(ecamo, `${source.origin}${path}`, { method: 'HEAD' });
      assert.deepEqual([head.status, head.header('x-ecamo-error'), head.bytes.length], [403, 'unallowed-content-type', 0], `HEAD ${path}`);
      assert.equal(fetchesOf(source, path), 3, `${path}: never kept, fetched each time`);
      const refused = lines.find((line) => line.msg === 'source content refused' && String(line.source).endsWith(path));
      assert.equal(refused?.reason, reason, path);
    }
  });

  test('an SVG with a script is served under the CSP sandbox and nosniff; a UTF-16 SVG is an SVG; a polyglot goes by its magic, sandboxed too', async () => {
    for (const [path, type] of [['/svg-with-script', 'image/svg+xml'], ['/utf16.svg', 'image/svg+xml'], ['/polyglot.gif', 'image/gif']] as const) {
      const answer = await proxied(ecamo, `${source.origin}${path}`);
      assert.deepEqual([answer.status, answer.header('content-type')], [200, type], path);
      assert.deepEqual(answer.bytes, FILES[path]!.bytes, path);
      assert.equal(answer.header('content-security-policy'), CSP, path);
      assert.equal(answer.header('x-content-type-options'), 'nosniff', path);
    }
  });

  test('a 200 without Content-Type is refused unless ECAMO_SNIFF_UNLABELLED', async () => {
    for (const path of ['/unlabelled.png', '/unlabelled.svg', '/unlabelled.html']) {
      assertRefusedContent(await proxied(ecamo, `${source.origin}${path}`), path);
    }
  });

  test('the first bytes of a large image reach the client while the source is still sending', async () => {
    const response = await request(`${ecamo.url}${await ecamo.proxyPath(`${source.origin}/large.png`)}`, { headers: { host: CANONICAL_HOST } });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'image/png');
    const chunks: Buffer[] = [];
    let received = 0;
    for await (const chunk of response.body) {
      chunks.push(chunk as Buffer);
      received += (chunk as Buffer).length;
      // The source holds the rest back until this point: had ecamo waited for more than its window, this loop would never get here.
      if (received === (chunk as Buffer).length) releaseLarge();
    }
    assert.ok(chunks[0]!.length < LARGE.length, 'the body arrived in parts');
    assert.deepEqual(Buffer.concat(chunks), LARGE);
  });

  test('a source that stalls inside the window: 504 source-request; one cut inside it: 502; no byte sent, nothing kept', async () => {
    for (const [path, status] of [['/stall.png', 504], ['/cut.png', 502]] as const) {
      for (let i = 0; i < 2; i++) {
        const answer = await proxied(ecamo, `${source.origin}${path}`);
        assert.deepEqual([answer.status, answer.header('x-ecamo-error'), answer.body], [status, 'source-request', 'Error: source-request'], path);
      }
      assert.equal(fetchesOf(source, path), 2, `${path}: fetched again`);
    }
  });

  test('camo URLs: the same checks', async () => {
    const camo = async (path: string): Promise<Answer> => ecamo.get(camoPath(CAMO_KEY, `${source.origin}${path}`), { host: CANONICAL_HOST });
    const gif = await camo('/gif-as-png');
    assert.deepEqual([gif.status, gif.header('content-type')], [200, 'image/gif']);
    assert.deepEqual(gif.bytes, GIF);
    for (const path of ['/html-as-png', '/script-as-gif', '/html-as-svg']) assertRefusedContent(await camo(path), `camo ${path}`);
  });

  test('revalidation: a source that answers it with HTML under the image label gets 403, and the bytes kept before are not served for it', async () => {
    const url = `${source.origin}/changing.png`;
    assert.deepEqual((await proxied(ecamo, url)).bytes, PNG);
    assert.equal((await proxied(ecamo, url)).header('x-ecamo-cache'), 'revalidated');
    changing = HTML;
    for (let i = 0; i < 2; i++) assertRefusedContent(await proxied(ecamo, url), 'changed to HTML');
    changing = PNG;
    const recovered = await proxied(ecamo, url);
    assert.deepEqual([recovered.status, recovered.bytes], [200, PNG]);
  });
});

describe('ECAMO_SVG=refuse and ECAMO_SNIFF_UNLABELLED=true', () => {
  let source: Source;
  let ecamo: Ecamo;

  before(async () => {
    source = await startSource(sourceHandler);
    ecamo = await startEcamo({ ECAMO_SVG: 'refuse', ECAMO_SNIFF_UNLABELLED: 'true' });
  });

  after(async () => {
    await ecamo.close();
    await source.close();
  });

  test('every SVG is refused, labelled or not, script or not; other images are served', async () => {
    for (const path of ['/real/svg+xml', '/svg-with-script', '/utf16.svg', '/unlabelled.svg']) assertRefusedContent(await proxied(ecamo, `${source.origin}${path}`), path);
    assert.equal((await proxied(ecamo, `${source.origin}/real/png`)).status, 200);
  });

  test('a 200 without Content-Type is served when its bytes are an allowed image, under that type', async () => {
    const png = await proxied(ecamo, `${source.origin}/unlabelled.png`);
    assert.deepEqual([png.status, png.header('content-type'), png.bytes], [200, 'image/png', PNG]);
    assertRefusedContent(await proxied(ecamo, `${source.origin}/unlabelled.html`), 'unlabelled HTML');
  });
});

describe('an unlabelled SVG with ECAMO_SNIFF_UNLABELLED', () => {
  test('is served as image/svg+xml, under the sandbox', async () => {
    const source = await startSource(sourceHandler);
    const ecamo = await startEcamo({ ECAMO_SNIFF_UNLABELLED: 'true' });
    try {
      const svg = await proxied(ecamo, `${source.origin}/unlabelled.svg`);
      assert.deepEqual([svg.status, svg.header('content-type'), svg.header('content-security-policy'), svg.bytes], [200, 'image/svg+xml', CSP, SVG]);
    } finally {
      await ecamo.close();
      await source.close();
    }
  });
});

describe('shared entries (Redis) are checked as they are read', { skip: unlessInstalled('redis-server') }, () => {
  let redis: RedisServer;
  let source: Source;

  before(async () => {
    redis = await startRedisServer();
    source = await startSource(sourceHandler);
  });

  after(async () => {
    await source.close();
    await redis.stop();
  });

  test('an SVG one instance kept is not served by one that refuses SVG: it fetches, and refuses', async () => {
    const sandboxing = await startEcamo({ ECAMO_REDIS_URL: redis.url });
    const refusing = await startEcamo({ ECAMO_REDIS_URL: redis.url, ECAMO_SVG: 'refuse' });
    try {
      for (const instance of [sandboxing, refusing]) while (instance.server.app.redis?.available !== true) await sleep(10);
      const url = `${source.origin}/real/svg+xml`;
      assert.equal((await proxied(sandboxing, url)).header('x-ecamo-cache'), 'miss');
      const key = redisKey(cacheKey(url, SERVICE_ORIGIN, false));
      while ((await sandboxing.server.app.redis!.client.exists(key)) !== 1) await sleep(10);
      assertRefusedContent(await proxied(refusing, url), 'an SVG from Redis under ECAMO_SVG=refuse');
      assert.equal(fetchesOf(source, '/real/svg+xml'), 2, 'the refusing instance fetched for itself');
    } finally {
      await sandboxing.close();
      await refusing.close();
    }
  });
});

test('a source response that checkContent did not make is never served: answering it is a bug', () => {
  const unchecked = { url: 'https://source.test/a.png', statusCode: 200, headers: { 'content-type': 'image/png' }, body: { flow() {}, resume() {}, discard() {}, spent() {} } };
  assert.throws(() => checkedContentType(unchecked), (error: unknown) => error instanceof EcamoError && error.code === 'unknown');
  const lookalike = { ...unchecked, checkedType: 'image/png' };
  assert.throws(() => checkedContentType(lookalike), EcamoError, 'the same fields on another object do not pass');
});

/**
 * checkContentThen, the callback form the proxy's streamed answers use
 * (http/proxy.ts): the bytes its watcher is given a sink for are the whole
 * body, whether the verdict came in the tick the window did (a signature) or
 * from file-type, and a sink given from inside the verdict is held to its
 * backpressure as any other.
 */
describe('the byte check told by callbacks', () => {
  const BMP_BODY = IMAGES['image/bmp']!;
  const bodies: Record<string, Buffer> = { '/small.png': PNG, '/window.png': paddedPng(4100), '/large.png': LARGE, '/small.bmp': BMP_BODY, '/page.png': HTML };
  let plain: Source;
  let fetcher: SourceFetcher;
  const rules = { contentTypeAllowed: new Set(DEFAULT_CONTENT_TYPES), svg: 'sandbox' as const };
  const quiet = createLogger('silent');

  before(async () => {
    plain = await startSource((req, res) => {
      const bytes = bodies[req.url ?? ''];
      if (bytes === undefined) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': 'image/png', 'content-length': bytes.length }).end(bytes);
    });
    fetcher = new SourceFetcher({ maxRedirects: 0, sourceAllowedRegexp: undefined, sourceBlockedRegexp: undefined, privateSourceAllowedRegexp: /^http:\/\/127\.0\.0\.1:\d+\//, userAgent: 'ecamo-test' });
  });
  after(async () => {
    await fetcher.close();
    await plain.close();
  });

  /** Fetches `path`, checks it, and flows what passes into a sink that takes `pauseAt` chunks before it waits (then resumes). */
  function checkedBody(path: string, pauseAt = Infinity): Promise<{ type: string; bytes: Buffer } | { refused: unknown }> {
    return new Promise((resolve, reject) => {
      fetcher.start(
        { url: `${plain.origin}${path}`, accept: undefined, authorize: undefined, timeoutMs: 10_000 },
        {
          failed: reject,
          answered: (source: SourceResponse) => {
            const watcher: ContentWatcher = {
              refused: (error) => resolve({ refused: error }),
              checked: (response) => {
                const chunks: Buffer[] = [];
                response.body.flow({
                  data(chunk) {
                    chunks.push(chunk);
                    if (chunks.length !== pauseAt) return true;
                    setImmediate(() => response.body.resume());
                    return false;
                  },
                  end: () => resolve({ type: checkedContentType(response), bytes: Buffer.concat(chunks) }),
                  error: reject,
                });
              },
            };
            checkContentThen(source, 'image/png', rules, quiet, watcher);
          },
        },
      );
    });
  }

  test('the whole body flows to a sink given from inside the verdict, shorter than the window, as long, or longer', async () => {
    for (const path of ['/small.png', '/window.png', '/large.png']) {
      assert.deepEqual(await checkedBody(path), { type: 'image/png', bytes: bodies[path] }, path);
    }
  });

  test('a sink that waits at its first chunk, the held window, has the source resumed when it asks', async () => {
    assert.deepEqual(await checkedBody('/large.png', 1), { type: 'image/png', bytes: LARGE });
    assert.deepEqual(await checkedBody('/large.png', 2), { type: 'image/png', bytes: LARGE });
  });

  test('bytes only file-type tells are checked later, and flow whole; what is no image is refused', async () => {
    assert.deepEqual(await checkedBody('/small.bmp'), { type: 'image/bmp', bytes: BMP_BODY });
    const refused = await checkedBody('/page.png');
    assert.ok('refused' in refused && refused.refused instanceof EcamoError && refused.refused.code === 'unallowed-content-type');
  });
});
