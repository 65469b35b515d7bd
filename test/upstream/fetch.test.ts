/**
 * The fetcher (src/upstream/fetch.ts) at shutdown, against a real source: a
 * hop sent once the fetcher has closed meets undici's closed pool. undici's
 * dispatch does not throw then: it reports the failure to the exchange's
 * onResponseError, as it does a connection refused, so the fetch fails as
 * any unreachable source does (502 `source-request`), from a redirect's
 * callback or an ID token's promise alike, and close() still resolves.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { EcamoError } from '../../src/errors.js';
import { SourceFetcher, type SourceRequest } from '../../src/upstream/fetch.js';
import { gate } from '../cache/fixture.js';
import { until } from '../helpers/poll.js';

let source: http.Server;
let origin: string;
const requested: string[] = [];
const redirectHeld = gate();

before(async () => {
  source = http.createServer((req, res) => {
    requested.push(req.url ?? '');
    if (req.url === '/held-redirect') {
      void redirectHeld.opened.then(() => res.writeHead(302, { location: '/image.png' }).end());
      return;
    }
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': 4 }).end('png!');
  });
  await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(source.address() as AddressInfo).port}`;
});

after(() => {
  source.closeAllConnections();
  source.close();
});

function newFetcher(): SourceFetcher {
  return new SourceFetcher({
    maxRedirects: 2,
    sourceAllowedRegexp: undefined,
    sourceBlockedRegexp: undefined,
    privateSourceAllowedRegexp: /^http:\/\/127\.0\.0\.1:/,
    userAgent: 'ecamo-test',
  });
}

function request(path: string, authorize?: () => Promise<string>): SourceRequest {
  return { url: `${origin}${path}`, accept: undefined, authorize, timeoutMs: 10_000 };
}

/** The fetch failed as a source that cannot be reached does, for the pool's being closed (closing: ClientClosedError; closed: ClientDestroyedError). */
function closedPool(error: unknown): boolean {
  assert.ok(error instanceof EcamoError);
  assert.deepEqual([error.code, error.status], ['source-request', 502]);
  assert.match((error.cause as Error | undefined)?.name ?? '', /^Client(?:Closed|Destroyed)Error$/);
  return true;
}

test('a redirect followed once the fetcher has closed: source-request, the next hop never sent, close() resolves', async () => {
  const fetcher = newFetcher();
  const fetching = fetcher.fetch(request('/held-redirect'));
  await until(() => requested.includes('/held-redirect'));
  const closed = fetcher.close();
  // The redirect's head comes after the close: its next hop is dispatched from inside undici's callback.
  redirectHeld.open();
  await assert.rejects(fetching.response, closedPool);
  await closed;
  assert.equal(requested.includes('/image.png'), false);
});

test('an ID token that comes once the fetcher has closed: source-request, nothing sent', async () => {
  const fetcher = newFetcher();
  const token = gate();
  let asked = false;
  const fetching = fetcher.fetch(
    request('/signed.png', async () => {
      asked = true;
      await token.opened;
      return 'Bearer id-token';
    }),
  );
  assert.equal(asked, true);
  await fetcher.close();
  // The hop is dispatched from the token's promise: a throw there would be an unhandled rejection.
  token.open();
  await assert.rejects(fetching.response, closedPool);
  assert.equal(requested.includes('/signed.png'), false);
});

test('a fetch started after close: source-request at once', async () => {
  const fetcher = newFetcher();
  await fetcher.close();
  await assert.rejects(fetcher.fetch(request('/late.png')).response, closedPool);
  assert.equal(requested.includes('/late.png'), false);
});
