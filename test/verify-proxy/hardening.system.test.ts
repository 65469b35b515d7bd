/**
 * `ecamo verify-proxy` as a process: it drains like `ecamo serve` on
 * SIGTERM, admits only the services it is told to, and forwards nothing that
 * could escape its upstream base path or pass for its own headers.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { signIdToken } from '../../src/tokens/id-token.js';
import { CANONICAL_ORIGIN, SERVICE_ORIGIN, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { RawConnection } from '../helpers/raw-client.js';
import { spawnVerifyProxy, startJwksRelay, type JwksRelay, type VerifyProxy } from '../helpers/wire.js';

/** The proxy's own origin as the ID tokens name it; nothing resolves it, tokens only carry it. */
const AUDIENCE = 'http://img.test';

let ecamo: Ecamo;
let relay: JwksRelay;
let upstream: Source;
const release: { slow?: () => void } = {};

before(async () => {
  ecamo = await startEcamo();
  relay = await startJwksRelay(ecamo);
  upstream = await startSource((req, res) => {
    if (req.url === '/base/slow.png') {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 8 });
      res.write('half');
      release.slow = () => res.end('done');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`upstream saw ${req.url}`);
  });
});

after(async () => {
  await Promise.all([ecamo.close(), relay.close(), upstream.close()]);
});

function startProxy(extraArgs: readonly string[] = [], env: Record<string, string> = {}): Promise<VerifyProxy> {
  return spawnVerifyProxy(['--upstream', `${upstream.origin}/base/`, '--audience', AUDIENCE, '--ecamo-origin', CANONICAL_ORIGIN, '--jwks-url', relay.url, ...extraArgs], env);
}

async function bearer(serviceOrigin = SERVICE_ORIGIN): Promise<string> {
  const token = await signIdToken({ canonicalOrigin: CANONICAL_ORIGIN, sourceOrigin: AUDIENCE, serviceOrigin }, ecamo.config.ecamoKeys.signing, 45);
  return `Bearer ${token}`;
}

describe('verify-proxy: SIGTERM drains', () => {
  test('a download in flight at SIGTERM completes, the connection closes after it, and the process exits 0 as soon as it ends', async (t) => {
    // A grace far beyond the test's timeout: exiting at its end would fail the test.
    const proxy = await startProxy([], { ECAMO_SHUTDOWN_GRACE: '600' });
    t.after(() => proxy.stop());
    const port = Number(new URL(proxy.url).port);
    const download = await RawConnection.open(port);
    download.get('/slow.png', 'img.test', [`authorization: ${await bearer()}`]);
    assert.equal((await download.readHead()).status, 200);
    assert.equal(await download.readBody(4), 'half');

    process.kill(proxy.child.pid!, 'SIGTERM');
    while (!proxy.output().includes('"msg":"shutting down"')) await new Promise((resolve) => setTimeout(resolve, 10));
    release.slow!();
    assert.equal(await download.readBody(4), 'done');
    await download.closed;
    assert.equal(await proxy.exited, 0);
  });
});

describe('verify-proxy: what it admits and forwards', () => {
  let proxy: VerifyProxy;
  let origin: string;
  before(async () => {
    proxy = await startProxy(['--service-origin-regexp', '^http://wiki\\.test$', '--service-origin-regexp', '^https://docs\\.example$']);
    origin = proxy.url;
  });
  after(() => proxy.stop());

  async function call(path: string, headers: Record<string, string> = {}) {
    const response = await request(`${origin}${path}`, { headers: { authorization: await bearer(), ...headers } });
    return { status: response.statusCode, error: response.headers['x-ecamo-error'], body: await response.body.text() };
  }

  test('--service-origin-regexp: an ID token for another service is refused with 403 unallowed-service, before the upstream', async () => {
    const before = upstream.requests.length;
    const refused = await call('/img.png', { authorization: await bearer('http://intruder.test') });
    assert.deepEqual([refused.status, refused.error], [403, 'unallowed-service']);
    assert.equal(upstream.requests.length, before);
    // Either pattern admits.
    assert.equal((await call('/img.png')).status, 200);
    assert.equal((await call('/img.png', { authorization: await bearer('https://docs.example') })).status, 200);
  });

  /** Sent as written: an HTTP library would resolve the dot segments itself. */
  async function rawCall(path: string): Promise<{ status: number; error: string | undefined }> {
    const connection = await RawConnection.open(Number(new URL(origin).port));
    connection.get(path, 'img.test', [`authorization: ${await bearer()}`, 'connection: close']);
    const head = await connection.readHead();
    connection.close();
    return { status: head.status, error: head.headers['x-ecamo-error'] };
  }

  test('paths that could leave the upstream base are refused with 400 before forwarding', async () => {
    const before = upstream.requests.length;
    for (const path of ['/../secret', '/a/../../secret', '/%2e%2e/secret', '/%2E%2e/secret', '/.%2e/secret', '/a/%2e/b', '/./img.png', '/..%2fsecret', '/a%2F..%2F..%2Fsecret', '/..%5csecret', '/a\\..\\secret', '/%zz']) {
      const answer = await rawCall(path);
      assert.deepEqual([answer.status, answer.error], [400, 'bad-request'], path);
    }
    assert.equal(upstream.requests.length, before);
    // Dots inside a name are just names.
    assert.equal((await call('/a..b/img.v2.png?x=../y')).body, 'upstream saw /base/a..b/img.v2.png?x=../y');
  });

  test('paths that escape only once decoded again or normalised are refused with 400 too; a literal % in a name is not', async () => {
    const before = upstream.requests.length;
    const escaping = [
      '/%252e%252e/secret', // an upstream that decodes twice finds ..
      '/a/%252E%252e/%252e%252e/secret',
      '/%25252e%25252e/secret', // three times
      '/..%252fsecret', // a separator decoded twice
      '/%255c..%255csecret',
      '/%EF%BC%8E%EF%BC%8E/secret', // full-width dots U+FF0E, which NFKC turns into ..
      '/%ef%bc%8e/secret',
      '/a%EF%BC%8F..%EF%BC%8Fsecret', // full-width solidus U+FF0F
      '/%25EF%25BC%258E%25EF%25BC%258E/secret', // full-width dots, encoded twice
      '//secret', // empty segments: some upstreams merge them, others count them
      '/a//b.png',
      '/a/b//',
    ];
    for (const path of escaping) {
      const answer = await rawCall(path);
      assert.deepEqual([answer.status, answer.error], [400, 'bad-request'], path);
    }
    assert.equal(upstream.requests.length, before, 'none of them reached the upstream');
    // Names that merely hold a %, a full-width letter or a trailing slash are forwarded as they are.
    assert.equal((await call('/100%25.png')).body, 'upstream saw /base/100%25.png');
    assert.equal((await call('/%2541.png')).body, 'upstream saw /base/%2541.png');
    assert.equal((await call('/%EF%BC%A1.png')).body, 'upstream saw /base/%EF%BC%A1.png');
    assert.equal((await call('/dir/')).body, 'upstream saw /base/dir/');
  });

  test('raw bytes beyond ASCII in the path (full-width dots unencoded) are refused by the HTTP parser with 400', async () => {
    const connection = await RawConnection.open(Number(new URL(origin).port));
    const before = upstream.requests.length;
    connection.socket.write(Buffer.concat([Buffer.from('GET /'), Buffer.from('\uFF0E\uFF0E', 'utf8'), Buffer.from(`/secret HTTP/1.1\r\nhost: img.test\r\nauthorization: ${await bearer()}\r\nconnection: close\r\n\r\n`)]));
    const head = await connection.readHead();
    connection.close();
    assert.equal(head.status, 400);
    assert.equal(head.headers['x-ecamo-error'], 'bad-request');
    assert.equal(upstream.requests.length, before);
  });

  test('look-alikes of x-ecamo-* (underscores, any case) are dropped; the real x-ecamo-service is the proxy\'s', async () => {
    await call('/img.png', {
      x_ecamo_service: 'http://forged.test',
      X_Ecamo_Service: 'http://forged2.test',
      'x-ecamo_service': 'http://forged3.test',
      'X-ECAMO-SERVICE': 'http://forged4.test',
      x_ecamo_anything: 'x',
      'x-other_header': 'kept',
    });
    const seen: IncomingMessage = upstream.requests.at(-1)!;
    const names = Object.keys(seen.headers);
    assert.deepEqual(names.filter((name) => name.replace(/_/g, '-').startsWith('x-ecamo-')), ['x-ecamo-service']);
    assert.equal(seen.headers['x-ecamo-service'], SERVICE_ORIGIN);
    assert.equal(seen.headers['x-other_header'], 'kept');
  });
});
