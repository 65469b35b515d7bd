/**
 * A drain (SIGTERM, or close() in code) seen from the connections: idle ones
 * close at once, busy ones close as soon as their response ends, none takes
 * another request, and the drain is over when the last response is.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CANONICAL_HOST, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { paddedPng, PNG } from '../helpers/images.js';
import { RawConnection } from '../helpers/raw-client.js';

/** Far beyond any test's timeout: a drain that waited for its grace would fail the test. */
const GRACE_NEVER_REACHED_MS = 600_000;

let source: Source;
const release: { body?: () => void; head?: () => void } = {};
const FIRST_PART = paddedPng(5000);

before(async () => {
  source = await startSource((req, res) => {
    if (req.url === '/slow-body.png') {
      // Past the window ecamo reads before it answers: the answer has begun when the source waits.
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': FIRST_PART.length + 4 });
      res.write(FIRST_PART);
      release.body = () => res.end('done');
      return;
    }
    if (req.url === '/slow-head.png') {
      release.head = () => res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length }).end(PNG);
      return;
    }
    res.writeHead(404).end();
  });
});

after(() => source.close());

async function sourceHasSeen(path: string): Promise<void> {
  while (!source.requests.some((req) => req.url === path)) await new Promise((resolve) => setImmediate(resolve));
}

test('drain: idle connections close at once, each busy one right after its response, and close() resolves with the last response', async () => {
  const ecamo: Ecamo = await startEcamo();
  // Keep-alive and idle: one answered request, nothing in flight.
  const idle = await RawConnection.open(ecamo.server.port);
  idle.get('/healthz', CANONICAL_HOST);
  assert.equal((await idle.readHead()).status, 200);
  assert.equal(await idle.readBody(2), 'ok');

  // Busy, head already sent (promising keep-alive) when the drain starts.
  const streaming = await RawConnection.open(ecamo.server.port);
  streaming.get(await ecamo.proxyPath(`${source.origin}/slow-body.png`), CANONICAL_HOST);
  const streamingHead = await streaming.readHead();
  assert.equal(streamingHead.status, 200);
  assert.notEqual(streamingHead.headers.connection, 'close');
  assert.equal(await streaming.readBody(FIRST_PART.length), FIRST_PART.toString('latin1'));

  // Busy, head not sent yet when the drain starts.
  const waiting = await RawConnection.open(ecamo.server.port);
  waiting.get(await ecamo.proxyPath(`${source.origin}/slow-head.png`), CANONICAL_HOST);
  await sourceHasSeen('/slow-head.png');

  assert.equal(ecamo.server.draining, false);
  const drained = ecamo.server.close(GRACE_NEVER_REACHED_MS);
  assert.equal(ecamo.server.draining, true);
  await idle.closed;

  release.head!();
  const waitingHead = await waiting.readHead();
  assert.equal(waitingHead.status, 200);
  assert.equal(waitingHead.headers.connection, 'close');
  assert.equal(await waiting.readBody(PNG.length), PNG.toString('latin1'));
  await waiting.closed;

  release.body!();
  assert.equal(await streaming.readBody(4), 'done');
  // No second request on it: the server closes it now rather than at the end of the grace.
  await streaming.closed;
  await drained;
});

test('drain: a response still running when the grace ends is cut, and close() resolves then', async () => {
  const ecamo = await startEcamo();
  const streaming = await RawConnection.open(ecamo.server.port);
  streaming.get(await ecamo.proxyPath(`${source.origin}/slow-body.png`), CANONICAL_HOST);
  assert.equal((await streaming.readHead()).status, 200);
  assert.equal(await streaming.readBody(FIRST_PART.length), FIRST_PART.toString('latin1'));
  await ecamo.server.close(50);
  await streaming.closed;
  await assert.rejects(streaming.readBody(4), /closed before/);
  release.body!();
});
