/**
 * The streamed miss (http/proxy.ts, proxyFromSource and its StreamedAnswer):
 * an image the cache does not keep, because it is off or the image is not
 * admitted yet, goes straight from the source to the client. The long tail
 * takes this path, and most suites run with every image kept
 * (ECAMO_CACHE_MIN_USES=1), so here it is held to the kept path's answers,
 * case by case, and to the client leaving at each step.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { CANONICAL_HOST, startEcamo, startSource, TRANSPORT, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { IMAGES, largePng, PNG } from '../helpers/images.js';
import { count } from '../helpers/prometheus.js';

const HTML = Buffer.from('<!DOCTYPE html><html><body><script>alert(1)</script></body></html>');
const LARGE = largePng(300_000);
const MAX_LENGTH = 200_000;

/** Resolves once the connection a source request came on has closed; says whether its answer was sent whole. */
const sourceClosed = new Map<string, Promise<boolean>>();
let arrived: (path: string) => void = () => {};

function sourceHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = req.url ?? '/';
  sourceClosed.set(path, new Promise((resolve) => req.socket.once('close', () => resolve(res.writableFinished))));
  arrived(path);
  const image = (type: string | undefined, bytes: Buffer, extra: http.OutgoingHttpHeaders = {}): void => {
    res.writeHead(200, { ...(type === undefined ? {} : { 'content-type': type }), 'content-length': bytes.length, 'cache-control': 'public, max-age=600', etag: '"e1"', ...extra });
    res.end(bytes);
  };
  switch (path.split('?')[0]) {
    case '/png':
      return image('image/png', PNG, { vary: 'Accept', 'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT' });
    case '/jpeg-labelled-png':
      return image('image/png', IMAGES['image/jpeg']!);
    case '/bmp':
      return image('image/bmp', IMAGES['image/bmp']!);
    case '/below-limit':
      return image('image/png', LARGE.subarray(0, MAX_LENGTH));
    case '/html-as-png':
      return image('image/png', HTML);
    case '/html':
      return image('text/html', HTML);
    case '/empty.png':
      return image('image/png', Buffer.alloc(0));
    case '/declared-too-long':
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': MAX_LENGTH + 1 });
      res.end(LARGE.subarray(0, MAX_LENGTH + 1));
      return;
    case '/redirect':
      res.writeHead(302, { location: '/png' }).end();
      return;
    case '/missing':
      res.writeHead(404, { 'content-type': 'text/html', 'cache-control': 'max-age=60', expires: 'Wed, 21 Oct 2035 07:28:00 GMT' }).end('<h1>gone</h1>');
      return;
    case '/busy':
      res.writeHead(503, { 'retry-after': '5' }).end('busy');
      return;
    case '/stall-before-head':
      return; // only the client's leaving ends this
    case '/stall-in-window':
      // Within ECAMO_MAX_LENGTH: a longer declared length is refused at the head, with no client leaving it.
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': MAX_LENGTH });
      res.write(LARGE.subarray(0, 100));
      return;
    case '/stall-mid-body':
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': MAX_LENGTH });
      res.write(LARGE.subarray(0, 20_000));
      return;
    default:
      res.writeHead(404).end();
  }
}

let source: Source;
/** Every image kept from its first request (the harness's default). */
let kept: Ecamo;
/** The response cache off: every miss is streamed. */
let off: Ecamo;
/** The cache at its admission default: an image's first request is streamed, nothing kept. */
let notYet: Ecamo;

before(async () => {
  source = await startSource(sourceHandler);
  const env = { ECAMO_MAX_LENGTH: String(MAX_LENGTH), ECAMO_MAX_REDIRECTS: '2' };
  [kept, off, notYet] = await Promise.all([
    startEcamo(env),
    startEcamo({ ...env, ECAMO_CACHE_MAX_BYTES: '0' }),
    startEcamo({ ...env, ECAMO_CACHE_MIN_USES: '2' }),
  ]);
});

after(async () => {
  await Promise.all([kept.close(), off.close(), notYet.close()]);
  await source.close();
});

/** What a client sees of an answer, but for the cache status (compared apart). */
function seen(answer: Answer): { status: number; headers: Record<string, string | undefined>; bytes: string } {
  const names = ['content-type', 'content-length', 'cache-control', 'etag', 'vary', 'last-modified', 'expires', 'x-ecamo-error', 'x-ecamo-source', 'content-security-policy'];
  // The source URL names the instance (see below): the same path on each.
  const headers = Object.fromEntries(names.map((name) => [name, name === 'x-ecamo-source' ? answer.header(name)?.replace(/\?as=.*/, '') : answer.header(name)]));
  return { status: answer.status, headers, bytes: answer.bytes.toString('base64') };
}

describe('a streamed miss answers as a kept one does', () => {
  const cases: [path: string, status: number, method?: 'GET' | 'HEAD'][] = [
    ['/png', 200],
    ['/png', 200, 'HEAD'],
    ['/jpeg-labelled-png', 200],
    ['/bmp', 200], // told by file-type, after the signature check
    ['/below-limit', 200],
    ['/redirect', 200],
    ['/missing', 404],
    ['/busy', 503],
    ['/html-as-png', 403],
    ['/html', 403],
    ['/empty.png', 403],
    ['/declared-too-long', 403],
  ];
  for (const [path, status, method = 'GET'] of cases) {
    test(`${method} ${path}: ${status}, the same head and bytes, bypassing the cache`, async () => {
      // Each instance sees the path once, with a query of its own: the kept one's answer is its first fetch too.
      const answers: Answer[] = [];
      for (const [index, ecamo] of [kept, off, notYet].entries()) {
        answers.push(await ecamo.get(await ecamo.proxyPath(`${source.origin}${path}?as=${index}-${method}`), { host: CANONICAL_HOST, method }));
      }
      const [fromKept, fromOff, fromNotYet] = answers.map(seen);
      assert.equal(fromKept!.status, status, JSON.stringify(fromKept));
      assert.deepEqual(fromOff, fromKept);
      assert.deepEqual(fromNotYet, fromKept);
      if (status === 200) {
        assert.deepEqual(
          answers.map((answer) => answer.header('x-ecamo-cache')),
          ['miss', 'bypass', 'bypass'],
        );
      }
    });
  }

  test('a source that is not there: 502 source-request on every path', async () => {
    const gone = await startSource((_req, res) => void res.end());
    const origin = gone.origin;
    await gone.close();
    for (const ecamo of [kept, off, notYet]) {
      const answer = await ecamo.get(await ecamo.proxyPath(`${origin}/x.png`), { host: CANONICAL_HOST });
      assert.deepEqual([answer.status, answer.header('x-ecamo-error')], [502, 'source-request']);
    }
  });
});

describe('a client that leaves a miss, streamed or kept', { skip: TRANSPORT === 'h2' ? 'a plain HTTP/1.1 client leaves here' : false }, () => {
  /** Asks `ecamo` for `path`, and leaves once the source has the request (`at: 'asked'`) or the first body bytes have come (`'body'`). */
  async function leave(ecamo: Ecamo, path: string, at: 'asked' | 'body'): Promise<boolean> {
    const asked = new Promise<void>((resolve) => (arrived = (got) => got === path && resolve()));
    const proxyPath = await ecamo.proxyPath(`${source.origin}${path}`);
    await new Promise<void>((resolve, reject) => {
      const request = http.get(`${ecamo.url}${proxyPath}`, { headers: { host: CANONICAL_HOST }, agent: false }, (res) => {
        res.on('error', () => {});
        res.once('data', () => {
          if (at === 'body') {
            request.destroy();
            resolve();
          }
        });
      });
      request.on('error', (error) => (request.destroyed ? undefined : reject(error)));
      if (at === 'asked') {
        void asked.then(() => {
          request.destroy();
          resolve();
        });
      }
    });
    return sourceClosed.get(path)!;
  }

  /** How `leave` moved the proxy route's request count of `status` (no error code): the count is taken when the client's connection closes. */
  async function countedAs(ecamo: Ecamo, status: string, leaving: () => Promise<boolean>): Promise<{ closedWhole: boolean; counted: number }> {
    const requests = async (): Promise<number> => count(await ecamo.server.app.metrics.registry.metrics(), 'ecamo_requests_total', { route: 'proxy', status, error: '' });
    const before = await requests();
    const closedWhole = await leaving();
    return { closedWhole, counted: (await requests()) - before };
  }

  // The kept path: the request leads the cache's fetch, and nobody else waits on it.
  for (const [name, ecamo] of [['streamed', () => off], ['kept', () => kept]] as const) {
    test(`${name}, before the source answers: the source connection is closed, the request counted as 499 (nothing answered)`, async () => {
      assert.deepEqual(await countedAs(ecamo(), '499', () => leave(ecamo(), `/stall-before-head?as=${name}`, 'asked')), { closedWhole: false, counted: 1 });
    });

    test(`${name}, once the source has sent its head and the first bytes, short of the byte check's window: the source connection is closed, the request counted as 499`, async () => {
      assert.deepEqual(await countedAs(ecamo(), '499', () => leave(ecamo(), `/stall-in-window?as=${name}`, 'asked')), { closedWhole: false, counted: 1 });
    });

    test(`${name}, mid-body: the source connection is closed, the request counted as the 200 it was answered with`, async () => {
      assert.deepEqual(await countedAs(ecamo(), '200', () => leave(ecamo(), `/stall-mid-body?as=${name}`, 'body')), { closedWhole: false, counted: 1 });
    });
  }
});
