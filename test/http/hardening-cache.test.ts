/**
 * Error answers are not cached: ecamo's own refusals and relayed source
 * errors carry `Cache-Control: no-store`, except a 404 or 410 whose source
 * sent its own Cache-Control. ECAMO_DEFAULT_CACHE_CONTROL and
 * ECAMO_DEFAULT_SURROGATE_CONTROL apply to 200s only.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { CANONICAL_HOST, startEcamo, startSource, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { GIF, paddedPng } from '../helpers/images.js';

const SOURCE_CACHE_CONTROL = 'public, max-age=600';

/** /status/N answers N with the source's Cache-Control, /bare/N without; /img.png and /html are 200s. */
function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const [, kind, arg] = new URL(req.url ?? '/', 'http://source.invalid').pathname.split('/');
  switch (kind) {
    case 'status':
      res.writeHead(Number(arg), { 'cache-control': SOURCE_CACHE_CONTROL, 'content-type': 'text/html', ...(arg?.startsWith('3') ? { location: '/img.png' } : {}) }).end('x');
      return;
    case 'bare':
      res.writeHead(Number(arg)).end('x');
      return;
    case 'html':
      res.writeHead(200, { 'content-type': 'text/html', 'cache-control': SOURCE_CACHE_CONTROL }).end('<p>');
      return;
    case 'big':
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 100, 'cache-control': SOURCE_CACHE_CONTROL }).end(paddedPng(100));
      return;
    default:
      // Under ECAMO_MAX_LENGTH (50 bytes), as a 43-byte GIF is.
      res.writeHead(200, { 'content-type': 'image/gif' }).end(GIF);
  }
}

let source: Source;
let ecamo: Ecamo;
let counter = 0;

before(async () => {
  source = await startSource(handler);
  ecamo = await startEcamo({
    ECAMO_DEFAULT_CACHE_CONTROL: 'public, max-age=3600',
    ECAMO_DEFAULT_SURROGATE_CONTROL: 'max-age=86400',
    ECAMO_MAX_LENGTH: '50',
  });
});

after(async () => {
  await ecamo.close();
  await source.close();
});

async function proxy(path: string): Promise<Answer> {
  return ecamo.get(await ecamo.proxyPath(`${source.origin}${path}?n=${++counter}`), { host: CANONICAL_HOST });
}

function assertNotStored(answer: Answer, label: string): void {
  assert.equal(answer.header('cache-control'), 'no-store', label);
  assert.equal(answer.header('surrogate-control'), undefined, label);
}

describe('Cache-Control of error answers', () => {
  it('a 200 without its own Cache-Control gets the defaults (control)', async () => {
    const answer = await proxy('/img.png');
    assert.equal(answer.status, 200);
    assert.equal(answer.header('cache-control'), 'public, max-age=3600');
    assert.equal(answer.header('surrogate-control'), 'max-age=86400');
  });

  it('relayed source errors are no-store, whatever the source says, except 404 and 410', async () => {
    for (const status of [400, 401, 403, 429, 500, 502, 503, 504]) {
      for (const kind of ['status', 'bare']) {
        const answer = await proxy(`/${kind}/${status}`);
        assert.equal(answer.status, status);
        assert.equal(answer.header('x-ecamo-error'), 'source-response');
        assertNotStored(answer, `${kind} ${status}`);
      }
    }
  });

  it("a 404 or 410 keeps the source's own Cache-Control, and is no-store without one", async () => {
    for (const status of [404, 410]) {
      const kept = await proxy(`/status/${status}`);
      assert.equal(kept.status, status);
      assert.equal(kept.header('cache-control'), SOURCE_CACHE_CONTROL);
      assert.equal(kept.header('surrogate-control'), undefined);
      assertNotStored(await proxy(`/bare/${status}`), `bare ${status}`);
    }
  });

  it('other non-200 statuses, converted to 400, are no-store', async () => {
    for (const status of [201, 204, 301, 302]) {
      const answer = await proxy(`/status/${status}`);
      assert.equal(answer.status, 400);
      assertNotStored(answer, String(status));
    }
  });

  it("ecamo's own refusals are no-store, including those made after the source answered 200", async () => {
    const answers: Record<string, Answer> = {
      'unallowed-content-type': await proxy('/html'),
      'source-response-too-large': await proxy('/big'),
      'invalid-token': await ecamo.get('/.ecamo/v1/p/AAAA?t=x', { host: CANONICAL_HOST }),
      'not-found': await ecamo.get('/nothing/here'),
      'method-not-allowed': await ecamo.get('/', { method: 'POST' }),
      'source-request': await ecamo.get(await ecamo.proxyPath('http://127.0.0.1:1/img.png'), { host: CANONICAL_HOST }),
    };
    for (const [code, answer] of Object.entries(answers)) {
      assert.equal(answer.header('x-ecamo-error'), code);
      assertNotStored(answer, code);
    }
  });
});
