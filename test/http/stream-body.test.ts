/**
 * BodyStream (src/http/stream-body.ts) between three real parts on 127.0.0.1:
 * a source, a relay whose handler fetches the source with the real
 * SourceFetcher and streams the body with a BodyStream watching its client,
 * and a client. Each test asserts what the client received (bytes, and
 * whether the body ended cleanly or was cut), what the stream counted, what it reported as a source failure,
 * and what the source saw of its own connection.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { EcamoError } from '../../src/errors.js';
import { newRequestRecord, type RequestRecord } from '../../src/http/request-record.js';
import { BodyStream } from '../../src/http/stream-body.js';
import { SourceFetcher } from '../../src/upstream/fetch.js';
import { fetchCutOff, startSource, type Source } from '../helpers/harness.js';
import { startRawSource, type RawSource } from '../helpers/hostile.js';

/** What the relay did with one request: the record the stream counted into, and the failures it reported. */
interface Transfer {
  readonly record: RequestRecord;
  readonly sourceErrors: EcamoError[];
}

/** How the source answers one path. */
type Route = (req: http.IncomingMessage, res: http.ServerResponse) => void;

let source: Source;
let rawSource: RawSource;
let relay: http.Server;
let relayOrigin: string;
let fetcher: SourceFetcher;
const routes = new Map<string, Route>();
const transfers = new Map<string, Transfer>();
/** What the raw source sends next: bytes no well-behaved server sends (a body short of its Content-Length). */
let rawAnswer = '';

before(async () => {
  source = await startSource((req, res) => {
    const route = routes.get(req.url ?? '');
    if (route === undefined) res.writeHead(404).end();
    else route(req, res);
  });
  rawSource = await startRawSource((socket) => {
    socket.end(rawAnswer);
  });
  fetcher = new SourceFetcher({
    maxRedirects: 0,
    sourceAllowedRegexp: undefined,
    sourceBlockedRegexp: undefined,
    privateSourceAllowedRegexp: /^http:\/\/127\.0\.0\.1:\d+\//,
    userAgent: 'ecamo-test',
  });
  // The relay: ?limit= is the stream's byte limit, ?raw sends the request to the raw source.
  relay = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://relay.test');
    const origin = url.searchParams.has('raw') ? rawSource.origin : source.origin;
    const transfer: Transfer = { record: newRequestRecord('127.0.0.1'), sourceErrors: [] };
    transfers.set(url.pathname, transfer);
    fetcher.fetch({ url: `${origin}${url.pathname}`, accept: undefined, authorize: undefined, timeoutMs: 60_000 }).response.then(
      (answer) => {
        const length = answer.headers['content-length'];
        res.writeHead(200, typeof length === 'string' ? { 'content-length': length } : {});
        const stream = new BodyStream(answer.body, res, Number(url.searchParams.get('limit')), transfer.record, (error) => transfer.sourceErrors.push(error));
        stream.start({ watchClient: true });
      },
      () => res.writeHead(502).end(),
    );
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  relayOrigin = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
});

after(async () => {
  relay.closeAllConnections();
  await new Promise((resolve) => relay.close(resolve));
  await fetcher.close();
  await source.close();
  await rawSource.close();
});

function transferOf(path: string): Transfer {
  const transfer = transfers.get(path);
  assert.ok(transfer !== undefined, `the relay handled ${path}`);
  return transfer;
}

/** Serves `path` with `route`; the promise says, once the source's connection to the relay closes, whether the response had been sent whole. */
function watchSource(path: string, route: Route): { readonly closed: Promise<{ readonly finished: boolean }> } {
  let resolveClosed: (value: { finished: boolean }) => void = () => {};
  const closed = new Promise<{ finished: boolean }>((resolve) => (resolveClosed = resolve));
  routes.set(path, (req, res) => {
    const socket: Socket = req.socket;
    socket.once('close', () => resolveClosed({ finished: res.writableFinished }));
    route(req, res);
  });
  return { closed };
}

const chunkOf = (length: number, fill: number): Buffer => Buffer.alloc(length, fill);

describe('BodyStream: the byte limit', () => {
  test('a body within the limit, and one exactly at it, arrive whole', async () => {
    for (const [path, limit] of [['/within', 2_000], ['/exactly', 1_400]] as const) {
      routes.set(path, (_req, res) => {
        res.writeHead(200);
        res.write(chunkOf(700, 1));
        res.end(chunkOf(700, 2));
      });
      const received = await fetchCutOff(`${relayOrigin}${path}?limit=${limit}`, 'relay.test');
      assert.equal(received.status, 200, path);
      assert.deepEqual(received.bytes, Buffer.concat([chunkOf(700, 1), chunkOf(700, 2)]), path);
      assert.equal(received.complete, true, `${path}: a clean end`);
      assert.equal(transferOf(path).record.bytes, 1_400, path);
      assert.deepEqual(transferOf(path).sourceErrors, [], path);
    }
  });

  test('a body crossing the limit inside a chunk: exactly the limit arrives, then a cut; the source connection is closed', async () => {
    // 700-byte chunks and a limit of 1000: the limit falls inside the second chunk.
    const watched = watchSource('/crossing', (_req, res) => {
      res.writeHead(200);
      for (let i = 0; i < 3; i++) res.write(chunkOf(700, i));
      // ...and the source would go on: only ecamo's cut ends this transfer.
    });
    const received = await fetchCutOff(`${relayOrigin}/crossing?limit=1000`, 'relay.test');
    assert.equal(received.status, 200);
    assert.deepEqual(received.bytes, Buffer.concat([chunkOf(700, 0), chunkOf(300, 1)]), 'the bytes up to the limit, and no more');
    assert.equal(received.complete, false, 'cut, not a complete short body');
    assert.deepEqual(await watched.closed, { finished: false }, 'the source transfer was stopped, not read to its end');
    assert.equal(transferOf('/crossing').record.bytes, 1000);
    assert.deepEqual(transferOf('/crossing').sourceErrors, [], 'a cut of ours is not a source failure');
  });

  test('the limit reached exactly at a chunk end: the next chunk cuts the body without writing any of it', async () => {
    // The second chunk is sent only once the client holds the first, so they reach the stream apart.
    let sendNext = (): void => {};
    const watched = watchSource('/boundary', (_req, res) => {
      res.writeHead(200);
      res.write(chunkOf(700, 1));
      sendNext = () => res.write(chunkOf(700, 2));
    });
    const received = await new Promise<{ bytes: number; complete: boolean }>((resolve, reject) => {
      http
        .get(`${relayOrigin}/boundary?limit=700`, { agent: false }, (res) => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes === 700) sendNext();
          });
          res.on('error', () => {});
          res.on('close', () => resolve({ bytes, complete: res.complete }));
        })
        .on('error', reject);
    });
    assert.deepEqual(received, { bytes: 700, complete: false }, 'a body at the limit with more behind it is cut, not complete');
    assert.deepEqual(await watched.closed, { finished: false });
    assert.equal(transferOf('/boundary').record.bytes, 700);
    assert.deepEqual(transferOf('/boundary').sourceErrors, []);
  });
});

describe('BodyStream: sources that fail mid-body', () => {
  test('a body that ends short of its Content-Length: the bytes sent, a cut, and one 502 source-request reported', async () => {
    rawAnswer = `HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n${'x'.repeat(10)}`;
    const received = await fetchCutOff(`${relayOrigin}/short?raw&limit=1000`, 'relay.test');
    assert.equal(received.status, 200);
    assert.equal(received.headers['content-length'], '100');
    assert.deepEqual(received.bytes, Buffer.from('x'.repeat(10)));
    assert.equal(received.complete, false);
    const { record, sourceErrors } = transferOf('/short');
    assert.equal(record.bytes, 10);
    assert.deepEqual(
      sourceErrors.map((error) => [error.code, error.status]),
      [['source-request', 502]],
    );
  });

  test('a chunked body whose source closes before the last chunk: same cut, same report', async () => {
    rawAnswer = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nxxxxxxxxxx\r\n';
    const received = await fetchCutOff(`${relayOrigin}/unterminated?raw&limit=1000`, 'relay.test');
    assert.deepEqual([received.status, received.bytes.length, received.complete], [200, 10, false]);
    assert.deepEqual(
      transferOf('/unterminated').sourceErrors.map((error) => [error.code, error.status]),
      [['source-request', 502]],
    );
  });

  test('a source that resets mid-body: the client sees a cut after the bytes sent; one 502 source-request reported', async () => {
    let reset = (): void => {};
    routes.set('/reset', (req, res) => {
      res.writeHead(200, { 'content-length': 800 });
      res.write(chunkOf(100, 7));
      reset = () => req.socket.resetAndDestroy();
    });
    const received = await new Promise<{ bytes: number; complete: boolean }>((resolve, reject) => {
      http
        .get(`${relayOrigin}/reset?limit=1000`, { agent: false }, (res) => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            reset();
          });
          res.on('error', () => {});
          res.on('close', () => resolve({ bytes, complete: res.complete }));
        })
        .on('error', reject);
    });
    assert.deepEqual(received, { bytes: 100, complete: false });
    assert.deepEqual(
      transferOf('/reset').sourceErrors.map((error) => [error.code, error.status]),
      [['source-request', 502]],
    );
  });
});

describe('BodyStream: the client', () => {
  test('a client that leaves mid-body stops the source transfer: the source sees its connection closed, nothing is reported', { timeout: 20_000 }, async () => {
    const watched = watchSource('/left', (_req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write(chunkOf(100, 3)); // and the rest never comes: only the client's leaving ends this
    });
    await new Promise<void>((resolve, reject) => {
      const request: http.ClientRequest = http.get(`${relayOrigin}/left?limit=1000`, { agent: false }, (res) => {
        res.once('data', () => {
          request.destroy();
          resolve();
        });
      });
      request.on('error', reject);
    });
    assert.deepEqual(await watched.closed, { finished: false }, 'the source connection was closed by the relay, not kept open');
    const { record, sourceErrors } = transferOf('/left');
    assert.equal(record.bytes, 100);
    assert.deepEqual(sourceErrors, [], 'a client leaving is not a source failure');
  });

  test('a client that reads nothing: the relay stops reading the source instead of buffering the body; all of it arrives once the client reads', { timeout: 60_000 }, async () => {
    // Far more than the loopback socket buffers on both hops can hold, so that a relay without
    // backpressure would have read it all (and the source finished) while the client read nothing.
    const TOTAL = 64 * 1024 * 1024;
    const CHUNK = chunkOf(64 * 1024, 9);
    let sent = 0;
    let blocked = false;
    let finished = false;
    routes.set('/firehose', (_req, res) => {
      res.writeHead(200, { 'content-length': TOTAL });
      const pump = (): void => {
        blocked = false;
        while (sent < TOTAL) {
          sent += CHUNK.length;
          if (!res.write(CHUNK)) {
            blocked = true;
            res.once('drain', pump);
            return;
          }
        }
        res.end(() => (finished = true));
      };
      pump();
    });

    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${relayOrigin}/firehose?limit=${TOTAL}`, { agent: false }, resolve).on('error', reject);
    });
    // The client reads nothing yet. Wait until the source has finished, or is blocked with
    // nothing moving on either hop for many turns of the event loop: the transfer has stalled.
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const record = (): RequestRecord => transferOf('/firehose').record;
    let still = 0;
    let last = [-1, -1];
    while (!finished && still < 200) {
      await turn();
      const now = [sent, transfers.has('/firehose') ? record().bytes : -1];
      still = blocked && now[0] === last[0] && now[1] === last[1] ? still + 1 : 0;
      last = now;
    }
    assert.equal(finished, false, 'the source could not finish while the client read nothing');
    assert.ok(record().bytes < TOTAL / 2, `the relay passed on ${record().bytes} of ${TOTAL} bytes to a client that read none`);

    let received = 0;
    response.on('data', (chunk: Buffer) => (received += chunk.length));
    await once(response, 'end');
    assert.equal(response.complete, true);
    assert.equal(received, TOTAL);
    assert.equal(record().bytes, TOTAL);
    assert.deepEqual(transferOf('/firehose').sourceErrors, []);
  });
});
