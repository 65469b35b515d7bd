/**
 * The fetch exchange (src/upstream/exchange.ts, driven by SourceFetcher in
 * src/upstream/fetch.ts) against real sources on 127.0.0.1: what a source is
 * sent on each hop, a 1xx before the head, and the deadline and the client
 * leaving at each stage of an exchange. What the proxy endpoint makes of
 * these outcomes is tested end to end in test/http/protocol-fetch.test.ts and
 * test/http/hostile-sources.test.ts.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { EcamoError } from '../../src/errors.js';
import { SourceFetcher, type SourceBody, type SourceRequest } from '../../src/upstream/fetch.js';
import { startSource, type Source } from '../helpers/harness.js';
import { startRawSource, type RawSource } from '../helpers/hostile.js';

/** How the first source answers one path. */
type Route = (req: http.IncomingMessage, res: http.ServerResponse) => void;

let first: Source;
let other: Source;
let raw: RawSource;
let rawAnswer = '';
/** Called when the raw source's connection for the latest request has closed on both sides. */
let onRawClosed = (): void => {};
let fetcher: SourceFetcher;
const routes = new Map<string, Route>();
const otherRoutes = new Map<string, Route>();

function routed(table: Map<string, Route>): http.RequestListener {
  return (req, res) => {
    const route = table.get(req.url ?? '');
    if (route === undefined) res.writeHead(404).end();
    else route(req, res);
  };
}

before(async () => {
  first = await startSource(routed(routes));
  other = await startSource(routed(otherRoutes));
  raw = await startRawSource((socket) => {
    socket.once('close', onRawClosed);
    socket.end(rawAnswer);
  });
  fetcher = new SourceFetcher({
    maxRedirects: 3,
    sourceAllowedRegexp: undefined,
    sourceBlockedRegexp: undefined,
    privateSourceAllowedRegexp: /^http:\/\/127\.0\.0\.1:\d+\//,
    userAgent: 'ecamo-test',
  });
});

after(async () => {
  await fetcher.close();
  await Promise.all([first.close(), other.close(), raw.close()]);
});

const request = (url: string, extra: Partial<SourceRequest> = {}): SourceRequest => ({ url, accept: undefined, authorize: undefined, timeoutMs: 10_000, ...extra });

/** How a body ended for its sink: the bytes, then `end` or the error's code and status. */
async function drain(body: SourceBody): Promise<{ bytes: string; outcome: string }> {
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    body.flow({
      data(chunk) {
        chunks.push(chunk);
        return true;
      },
      end: () => resolve({ bytes: Buffer.concat(chunks).toString('latin1'), outcome: 'end' }),
      error: (error) => resolve({ bytes: Buffer.concat(chunks).toString('latin1'), outcome: `${error.code} ${error.status}` }),
    });
  });
}

function assertEcamoError(error: unknown, code: string, status: number): true {
  assert.ok(error instanceof EcamoError, String(error));
  assert.deepEqual([error.code, error.status], [code, status], error.message);
  return true;
}

/** Resolves once the socket a source request arrived on has closed; says whether the response had been sent whole. */
function closedConnection(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
  return new Promise((resolve) => req.socket.once('close', () => resolve(res.writableFinished)));
}

describe('what a source is sent', () => {
  test('Accept-Encoding: identity, Via, the User-Agent, the given Accept and validators, on every hop; a fresh ID token for each hop on the first origin, none for another origin', async () => {
    routes.set('/start', (_req, res) => void res.writeHead(302, { location: '/again' }).end());
    routes.set('/again', (_req, res) => void res.writeHead(307, { location: `${other.origin}/bounce` }).end());
    otherRoutes.set('/bounce', (_req, res) => void res.writeHead(308, { location: `${first.origin}/final` }).end());
    routes.set('/final', (_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end('png!'));
    let minted = 0;
    const [before, otherBefore] = [first.requests.length, other.requests.length];
    const response = await fetcher.fetch(
      request(`${first.origin}/start`, {
        accept: 'image/avif,image/*',
        validators: { 'if-none-match': '"v1"', 'if-modified-since': 'Wed, 21 Oct 2015 07:28:00 GMT' },
        authorize: () => Promise.resolve(`Bearer token-${++minted}`),
      }),
    ).response;
    assert.equal(response.statusCode, 200);
    assert.equal(response.url, `${first.origin}/final`);
    assert.deepEqual(await drain(response.body), { bytes: 'png!', outcome: 'end' });

    const hops = [...first.requests.slice(before), ...other.requests.slice(otherBefore)];
    assert.deepEqual(
      hops.map((req) => [req.url, req.headers.authorization]),
      [
        ['/start', 'Bearer token-1'],
        ['/again', 'Bearer token-2'],
        ['/final', 'Bearer token-3'],
        ['/bounce', undefined],
      ],
    );
    for (const req of hops) {
      assert.equal(req.method, 'GET');
      const { host: _host, connection: _connection, authorization: _authorization, ...sent } = req.headers;
      assert.deepEqual(
        sent,
        {
          accept: 'image/avif,image/*',
          'accept-encoding': 'identity',
          via: '1.1 ecamo',
          'user-agent': 'ecamo-test',
          'if-none-match': '"v1"',
          'if-modified-since': 'Wed, 21 Oct 2015 07:28:00 GMT',
        },
        req.url,
      );
    }
  });

  test('without Accept, validators or an ID token: only Accept-Encoding, Via and the User-Agent', async () => {
    routes.set('/bare', (_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end('png!'));
    const response = await fetcher.fetch(request(`${first.origin}/bare`)).response;
    await drain(response.body);
    const { host: _host, connection: _connection, ...sent } = first.requests.at(-1)!.headers;
    assert.deepEqual(sent, { 'accept-encoding': 'identity', via: '1.1 ecamo', 'user-agent': 'ecamo-test' });
  });
});

describe('the response head', () => {
  test('a 1xx before the head is skipped: the final head is the response, with none of the 1xx headers', async () => {
    rawAnswer =
      'HTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload\r\nSet-Cookie: early=1\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\nConnection: close\r\n\r\npng!';
    const response = await fetcher.fetch(request(`${raw.origin}/hinted`)).response;
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'image/png');
    assert.equal(response.headers.link, undefined);
    assert.equal(response.headers['set-cookie'], undefined);
    assert.deepEqual(await drain(response.body), { bytes: 'png!', outcome: 'end' });
  });
});

/**
 * undici 7 pauses its HTTP/1 parser while ecamo holds a body back; a source that ends the
 * connection then made undici's 'end' handler throw (nodejs/undici#5360): an uncaught
 * exception that stopped the process. src/upstream/paused-responses.ts finishes such a response.
 */
describe('a source that ends the connection while its response is held back', () => {
  /** Sends `answer` and closes; resolves once the connection is closed on both sides. */
  function rawAnswerThenClosed(answer: string): Promise<void> {
    rawAnswer = answer;
    return new Promise((resolve) => (onRawClosed = resolve));
  }

  test('a head with an empty body, waiting for its sink: the sink is told the end when it comes', async () => {
    const closed = rawAnswerThenClosed('HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    const response = await fetcher.fetch(request(`${raw.origin}/empty-then-close`)).response;
    await closed;
    assert.deepEqual(await drain(response.body), { bytes: '', outcome: 'end' });
  });

  for (const [framing, answer, expected] of [
    ['Content-Length', 'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789', 'end'],
    ['the end of the connection', 'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n0123456789', 'end'],
    ['a Content-Length it falls short of', 'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100\r\nConnection: close\r\n\r\n0123456789', 'source-request 502'],
    // undici does not notice this end once it has paused inside the chunks: the deadline cuts the body.
    ['chunks, without the last one', 'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\na\r\n0123456789\r\n', 'source-request 504'],
  ] as const) {
    test(`a body delimited by ${framing}, paused by the sink at the last bytes sent: the sink gets them, then ${expected === 'end' ? 'the end' : `${expected}, never an end`}`, async () => {
      const closed = rawAnswerThenClosed(answer);
      const response = await fetcher.fetch(request(`${raw.origin}/paused-then-close`, { timeoutMs: 2_000 })).response;
      const chunks: Buffer[] = [];
      const outcome = new Promise<string>((resolve) => {
        response.body.flow({
          data(chunk) {
            chunks.push(chunk);
            return false; // a client that is not reading: hold the source back
          },
          end: () => resolve('end'),
          error: (error) => resolve(`${error.code} ${error.status}`),
        });
      });
      await closed;
      response.body.resume();
      assert.equal(await outcome, expected);
      assert.equal(Buffer.concat(chunks).toString('latin1'), '0123456789');
    });
  }
});

describe('the deadline and the client leaving', () => {
  test('a deadline that passes while the ID token is made: 504 source-request, and the source is never asked', async () => {
    routes.set('/late-token', (_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end('png!'));
    const before = first.requests.length;
    // The token takes longer than the whole fetch may (the fetch looks at its deadline once the token
    // is made): the deadline's 1 ms timer, set first, fires before this one.
    const authorize = async (): Promise<string> => {
      await sleep(50);
      return 'Bearer late';
    };
    await assert.rejects(fetcher.fetch(request(`${first.origin}/late-token`, { timeoutMs: 1, authorize })).response, (error) =>
      assertEcamoError(error, 'source-request', 504),
    );
    assert.equal(first.requests.length, before, 'no request was sent');
  });

  test('a deadline that passes while the head waits for a sink: the sink is told 504 when it comes, and the source connection is closed', async () => {
    let closed: Promise<boolean> = Promise.resolve(true);
    routes.set('/unclaimed', (req, res) => {
      closed = closedConnection(req, res);
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 100 });
      res.write('0123456789');
    });
    const response = await fetcher.fetch(request(`${first.origin}/unclaimed`, { timeoutMs: 1000 })).response;
    // Nobody takes the body until the deadline has passed, which closes the source connection.
    assert.equal(await closed, false, 'the source connection was closed mid-response');
    assert.deepEqual(await drain(response.body), { bytes: '', outcome: 'source-request 504' });
  });

  test('a fetch cancelled after the head, before any sink: the source connection is closed and nothing is told to a later sink', async () => {
    let closed: Promise<boolean> = Promise.resolve(true);
    routes.set('/abandoned', (req, res) => {
      closed = closedConnection(req, res);
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 100 });
      res.write('0123456789');
    });
    const fetching = fetcher.fetch(request(`${first.origin}/abandoned`));
    const response = await fetching.response;
    fetching.cancel();
    assert.equal(await closed, false, 'the source connection was closed mid-response');
    const told: string[] = [];
    response.body.flow({
      data() {
        told.push('data');
        return true;
      },
      end: () => told.push('end'),
      error: () => told.push('error'),
    });
    response.body.discard();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(told, [], 'an abandoned body reports nothing: nobody is waiting for it');
  });

  test('a fetch cancelled before the head: it fails, and the source connection is closed', async () => {
    let closed: Promise<boolean> = Promise.resolve(true);
    let arrived = (): void => {};
    const asked = new Promise<void>((resolve) => (arrived = resolve));
    routes.set('/no-head-yet', (req, res) => {
      closed = closedConnection(req, res);
      arrived();
    });
    const fetching = fetcher.fetch(request(`${first.origin}/no-head-yet`));
    await asked;
    fetching.cancel();
    await assert.rejects(fetching.response, (error) => assertEcamoError(error, 'source-request', 502));
    assert.equal(await closed, false);
  });
});

/**
 * SourceFetcher.start, the callback form under fetch (and the proxy's streamed answers): the last
 * hop's head comes from inside undici's callback, and a body given its sink there is not paused.
 */
describe('a fetch told by callbacks', () => {
  /** Starts a fetch; resolves with how it was told, and the body's bytes when a sink was given from inside `answered`. */
  function started(url: string): Promise<{ told: string[]; bytes?: string }> {
    const told: string[] = [];
    return new Promise((resolve) => {
      fetcher.start(request(url), {
        answered(response) {
          told.push(`answered ${response.statusCode} ${response.url}`);
          const chunks: Buffer[] = [];
          response.body.flow({
            data: (chunk) => chunks.push(chunk) > 0,
            end: () => resolve({ told, bytes: Buffer.concat(chunks).toString('latin1') }),
            error: (error) => resolve({ told: [...told, `body ${error.code}`] }),
          });
        },
        failed(error) {
          told.push(`failed ${error.code} ${error.status}`);
          // Anything told after the failure would be a second answer to the same request.
          setImmediate(() => resolve({ told }));
        },
      });
    });
  }

  test('the last hop answers once, its body flowing whole to a sink given in the same callback', async () => {
    const body = 'x'.repeat(200_000);
    routes.set('/hop', (_req, res) => void res.writeHead(302, { location: '/landed' }).end());
    routes.set('/landed', (_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end(body));
    assert.deepEqual(await started(`${first.origin}/hop`), { told: [`answered 200 ${first.origin}/landed`], bytes: body });
  });

  test('a failure before any head is told once, as the client sees it: a refused redirect, a source that is not there', async () => {
    routes.set('/to-ftp', (_req, res) => void res.writeHead(302, { location: 'ftp://127.0.0.1/x' }).end());
    assert.deepEqual(await started(`${first.origin}/to-ftp`), { told: ['failed unallowed-source 403'] });
    const gone = await startSource((_req, res) => void res.end());
    const origin = gone.origin;
    await gone.close();
    assert.deepEqual(await started(`${origin}/x.png`), { told: ['failed source-request 502'] });
    assert.deepEqual(await started('not a URL'), { told: ['failed source-request 502'] });
  });
});
