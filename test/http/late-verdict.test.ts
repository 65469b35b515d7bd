/**
 * A verdict on a body's first bytes that comes after something else has
 * happened (http/content-check.ts, http/proxy.ts). The common images are
 * told by their signature in the tick their window arrives; file-type's
 * verdict is later, and only a compressed format's (gzip, zip) spans more
 * than microtasks: it inflates through zlib on libuv's thread pool. An
 * operator may allow such a type (ECAMO_CONTENT_TYPE_ALLOWED takes any
 * type/subtype), and then a client may leave, or the source fail, while
 * the bytes are judged. Here the thread pool is held (each thread blocked
 * opening a FIFO) so that the verdict waits until the test lets it come,
 * on the streamed path (cache off) and the kept one alike.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { SNIFF_WINDOW_BYTES } from '../../src/content/sniff.js';
import { gate, type Gate } from '../cache/fixture.js';
import { CANONICAL_HOST, startEcamo, startSource, TRANSPORT, type Ecamo, type Source } from '../helpers/harness.js';
import { PNG } from '../helpers/images.js';
import { until } from '../helpers/poll.js';
import { count } from '../helpers/prometheus.js';

/** A gzip stream of about 40 KB (random bytes do not compress), labelled and allowed as application/gzip. */
const GZIP = gzipSync(randomBytes(40_000));

/** Per source path: the next request's connection is cut once this opens (the one after is answered whole). */
const failNow = new Map<string, Gate>();
/** Per source path: the last request's connection closed (whether its answer was whole). */
const sourceClosed = new Map<string, Promise<boolean>>();

function sourceHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = req.url ?? '/';
  sourceClosed.set(path, new Promise((resolve) => req.socket.once('close', () => resolve(res.writableFinished))));
  if (path === '/image.png') return void res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length }).end(PNG);
  const failing = failNow.get(path);
  failNow.delete(path);
  if (failing === undefined && !path.startsWith('/left.gz')) {
    // Sent whole, and the connection ended: the source is done before ecamo's verdict.
    res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': GZIP.length, 'cache-control': 'max-age=600', connection: 'close' }).end(GZIP);
    return;
  }
  // The window and a little more, then nothing until the client leaves, or the connection cut once the test says.
  res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': GZIP.length, 'cache-control': 'max-age=600' });
  res.write(GZIP.subarray(0, SNIFF_WINDOW_BYTES + 100));
  void failing?.opened.then(() => req.socket.destroy());
}

let source: Source;
let kept: Ecamo;
let off: Ecamo;

before(async () => {
  source = await startSource(sourceHandler);
  const env = { ECAMO_CONTENT_TYPE_ALLOWED: 'image/png,application/gzip' };
  [kept, off] = await Promise.all([startEcamo(env), startEcamo({ ...env, ECAMO_CACHE_MAX_BYTES: '0' })]);
});

after(async () => {
  await Promise.all([kept.close(), off.close()]);
  await source.close();
});

/**
 * Blocks every thread of libuv's pool, each opening a FIFO for reading,
 * until the returned release: zlib's work waits behind them. (Opening a
 * FIFO read-write never blocks on Linux, and lets each reader's open return.)
 */
async function holdThreadPool(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'ecamo-pool-'));
  const threads = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const fifos = Array.from({ length: threads }, (_, i) => join(dir, `held-${i}`));
  for (const fifo of fifos) execFileSync('mkfifo', [fifo]);
  const readers = fifos.map((fifo) => open(fifo, 'r'));
  return async () => {
    const writers = fifos.map((fifo) => openSync(fifo, 'r+'));
    for (const reader of await Promise.all(readers)) await reader.close();
    for (const writer of writers) closeSync(writer);
    await rm(dir, { recursive: true });
  };
}

/** Resolves once ecamo's fetch of `path` has received `bytes` body bytes (undici's own report, as its handler is given them). */
function received(path: string, bytes: number): Promise<void> {
  return new Promise((resolve) => {
    let total = 0;
    const onChunk = (message: unknown): void => {
      const { request, chunk } = message as { request: { path: string }; chunk: Buffer };
      if (request.path !== path) return;
      total += chunk.length;
      if (total < bytes) return;
      diagnostics.unsubscribe('undici:request:bodyChunkReceived', onChunk);
      resolve();
    };
    diagnostics.subscribe('undici:request:bodyChunkReceived', onChunk);
  });
}

/** Resolves once ecamo's fetch of `path` has ended, cleanly (`'undici:request:trailers'`) or not (`'undici:request:error'`): undici's report, as its handler is told. */
function ended(path: string, how: 'undici:request:trailers' | 'undici:request:error'): Promise<void> {
  return new Promise((resolve) => {
    const onEnd = (message: unknown): void => {
      if ((message as { request: { path: string } }).request.path !== path) return;
      diagnostics.unsubscribe(how, onEnd);
      resolve();
    };
    diagnostics.subscribe(how, onEnd);
  });
}

async function stillServing(ecamo: Ecamo): Promise<void> {
  const answer = await ecamo.get(await ecamo.proxyPath(`${source.origin}/image.png`), { host: CANONICAL_HOST });
  assert.deepEqual([answer.status, answer.bytes], [200, PNG]);
}

for (const [name, instance] of [['streamed', () => off], ['kept', () => kept]] as const) {
  describe(`${name}: a verdict that comes late`, () => {
    test('the client left while the bytes were judged: the source connection is closed, nothing is answered, and ecamo serves on', { skip: TRANSPORT === 'h2' ? 'a plain HTTP/1.1 client leaves here' : false }, async () => {
      const ecamo = instance();
      const path = `/left.gz?as=${name}`;
      const proxyPath = await ecamo.proxyPath(`${source.origin}${path}`);
      const windowIn = received(path, SNIFF_WINDOW_BYTES);
      const release = await holdThreadPool();
      try {
        let answered = false;
        const client = http.get(`${ecamo.url}${proxyPath}`, { headers: { host: CANONICAL_HOST }, agent: false }, () => (answered = true));
        client.on('error', () => {});
        await windowIn;
        client.destroy();
        assert.equal(await sourceClosed.get(path), false);
        assert.equal(answered, false);
      } finally {
        await release();
      }
      await stillServing(ecamo);
    });

    test('the source failed while the bytes were judged: nothing was answered yet, so 502 source-request, as within the window; nothing is kept', async () => {
      const ecamo = instance();
      const path = `/failing.gz?as=${name}`;
      const proxyPath = await ecamo.proxyPath(`${source.origin}${path}`);
      const cut = gate();
      failNow.set(path, cut);
      const windowIn = received(path, SNIFF_WINDOW_BYTES);
      const sourceFailed = ended(path, 'undici:request:error');
      const counted = async (): Promise<number> =>
        count(await ecamo.server.app.metrics.registry.metrics(), 'ecamo_requests_total', { route: 'proxy', status: '502', error: 'source-request' });
      const countedBefore = await counted();
      const release = await holdThreadPool();
      const answer = ecamo.get(proxyPath, { host: CANONICAL_HOST });
      try {
        await windowIn;
        cut.open();
        await sourceFailed;
      } finally {
        await release();
      }
      const { status, headers } = await answer;
      assert.deepEqual([status, headers['x-ecamo-error']], [502, 'source-request']);
      // Counted as it is answered (once the response has closed).
      await until(async () => (await counted()) === countedBefore + 1);
      // Nothing kept: the next request fetches again, and gets the image whole.
      const again = await ecamo.get(proxyPath, { host: CANONICAL_HOST });
      assert.deepEqual([again.status, again.header('x-ecamo-cache'), again.bytes], [200, name === 'kept' ? 'miss' : 'bypass', GZIP]);
      assert.equal(source.requests.filter((req) => req.url === path).length, 2);
      await stillServing(ecamo);
    });

    test('the source finished while the bytes were judged: the client gets the whole body', async () => {
      const ecamo = instance();
      const path = `/whole.gz?as=${name}`;
      const proxyPath = await ecamo.proxyPath(`${source.origin}${path}`);
      const sourceDone = ended(path, 'undici:request:trailers');
      const release = await holdThreadPool();
      const answer = ecamo.get(proxyPath, { host: CANONICAL_HOST });
      try {
        await sourceDone;
      } finally {
        await release();
      }
      const { status, headers, bytes } = await answer;
      assert.deepEqual([status, headers['x-ecamo-cache'], bytes], [200, name === 'kept' ? 'miss' : 'bypass', GZIP]);
    });
  });
}
