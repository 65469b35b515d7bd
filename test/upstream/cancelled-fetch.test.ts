/**
 * The fetcher alone against a real source: a fetch cancelled while the
 * source is busy with it leaves no connection behind that never carries a
 * request. (undici 7 reconnects for the aborted request, then drops it:
 * nodejs/undici#5845; src/upstream/unused-connections.ts closes such a
 * connection as soon as it is handed over.) The connections are watched
 * through undici's diagnostics channels, on the client side.
 */
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { SourceFetcher } from '../../src/upstream/fetch.js';

let source: http.Server;
let origin: string;
const requested: string[] = [];

before(async () => {
  source = http.createServer((req, res) => {
    requested.push(req.url ?? '');
    if (req.url === '/stall.png') return;
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': 4 }).end('png!');
  });
  // Longer than the fetcher's own keep-alive: the source never closes first.
  source.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(source.address() as AddressInfo).port}`;
});

after(() => {
  source.closeAllConnections();
  source.close();
});

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function fetchWhole(fetcher: SourceFetcher, path: string): Promise<number> {
  const response = await fetcher.fetch({ url: `${origin}${path}`, accept: undefined, authorize: undefined, timeoutMs: 10_000 }).response;
  await new Promise<void>((resolve, reject) => response.body.flow({ data: () => true, end: resolve, error: reject }));
  return response.statusCode;
}

// Well under the fetcher's 10 s keep-alive timeout, when such a connection would go otherwise.
test('a fetch cancelled mid-request leaves no request-less connection open', { timeout: 5_000 }, async (t) => {
  let attempts = 0;
  const opened: Socket[] = [];
  const onAttempt = (): void => {
    attempts++;
  };
  const onConnected = (message: unknown): void => void opened.push((message as { socket: Socket }).socket);
  diagnostics.subscribe('undici:client:beforeConnect', onAttempt);
  diagnostics.subscribe('undici:client:connected', onConnected);
  const fetcher = new SourceFetcher({ maxRedirects: 0, sourceAllowedRegexp: undefined, sourceBlockedRegexp: undefined, privateSourceAllowedRegexp: /^http:\/\/127\.0\.0\.1:/, userAgent: 'ecamo-test' });
  t.after(async () => {
    diagnostics.unsubscribe('undici:client:beforeConnect', onAttempt);
    diagnostics.unsubscribe('undici:client:connected', onConnected);
    await fetcher.close();
  });
  // An idle pooled connection to the origin, as under any load (without one, undici drops the whole pool).
  assert.equal(await fetchWhole(fetcher, '/img.png'), 200);

  const fetching = fetcher.fetch({ url: `${origin}/stall.png`, accept: undefined, authorize: undefined, timeoutMs: 10_000 });
  fetching.response.catch(() => {});
  while (!requested.includes('/stall.png')) await turn();
  const [attemptsBefore, openedBefore, requestsBefore] = [attempts, opened.length, requested.length];
  fetching.cancel();
  // The aborted socket closes on the next tick; a reconnect for it is attempted right then.
  await turn();
  const reconnects = attempts - attemptsBefore;
  while (opened.length < openedBefore + reconnects) await turn();
  for (const socket of opened.slice(openedBefore)) {
    if (!socket.destroyed) await once(socket, 'close');
  }
  assert.equal(requested.length, requestsBefore, 'nothing was sent on it');
  // The pool still works.
  assert.equal(await fetchWhole(fetcher, '/img.png'), 200);
});
