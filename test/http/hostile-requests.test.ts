/**
 * Hostile input against a real ecamo: broken cookies and malformed requests.
 * Each refusal must be a 4xx/5xx ecamo chose (never a 500 or a crash), carry
 * the right `x-ecamo-error` and show no stack trace; each suite's last hook
 * checks that the server is still healthy and logged no bug.
 *
 * Everything stays on 127.0.0.1 / ::1: the only names used are `localhost`
 * (hosts file) and Host-header-only names that nothing resolves.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANONICAL_HOST, startSource, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { PNG, b64u, startWatchedEcamo, assertHealthyThenClose, assertRefused, rawExchange } from '../helpers/hostile.js';

describe('broken cookies and requests', () => {
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];
  let source: Source;
  let urlPath: string;
  let name: string;
  let valid: string;
  let forged: string;

  before(async () => {
    ({ ecamo, logs } = await startWatchedEcamo());
    source = await startSource((_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
    urlPath = await ecamo.signer.url(`${source.origin}/img.png`);
    name = ecamo.config.authCookie;
    valid = ecamo.cookie.slice(name.length + 1);
    const [header, payload] = valid.split('.');
    forged = `${header}.${payload}.${b64u(Buffer.alloc(64))}`;
  });

  // Whatever the tests above sent, the server must still be healthy: checked once they are done.
  after(() => assertHealthyThenClose(ecamo, logs, source));

  const withCookie = (cookie: string): Promise<Answer> => ecamo.get(urlPath, { headers: { cookie } });

  /** No usable cookie: the protocol's answer (docs/protocol.md §6) is the redirect to the source, never to the canonical origin. */
  function assertTreatedAsAbsent(answer: Answer, context: string): void {
    assert.equal(answer.status, 302, context);
    assert.equal(answer.header('x-ecamo-action'), 'redirect-to-source', context);
    assert.equal(answer.header('x-ecamo-reason'), 'auth-cookie-missing', context);
    assert.equal(answer.header('location'), `${source.origin}/img.png`, context);
  }

  test('control: the genuine cookie is accepted', async () => {
    const answer = await withCookie(`${name}=${valid}`);
    assert.equal(answer.status, 302);
    assert.equal(answer.header('x-ecamo-action'), 'redirect-to-canonical');
  });

  test('cookies without "=" or without our name are absent, not accepted', async () => {
    for (const cookie of [name, `${name};`, `=${valid}`, `other=${valid}`, `${name}x=${valid}`, `x${name}=${valid}`, ';;;', '=']) {
      assertTreatedAsAbsent(await withCookie(cookie), cookie.slice(0, 40));
    }
  });

  test('broken values are refused with 401', async () => {
    const cases = [
      `${name}=${forged}`,
      `${name}=${forged}; ${name}=${valid}`, // duplicate names: the first one counts, and it is forged
      `${name}="${forged}"`,
      `${name}=""`,
      `${name}="`,
      `${name}=${valid}"`,
      `${name}="${valid}`,
      `${name}=`,
      `${name}=a b,c\\d`,
      `${name}=${valid.replaceAll('.', ' ')}`,
      `${name}=${'A'.repeat(28 * 1024)}`,
      `${name}=${valid}.${valid}`,
    ];
    for (const cookie of cases) assertRefused(await withCookie(cookie), 401, 'invalid-token', cookie.slice(0, 60));
  });

  test('duplicate Cookie headers: the first value of our name counts', async () => {
    const answer = await rawExchange(
      ecamo.url,
      `GET ${urlPath} HTTP/1.1\r\nhost: wiki.test\r\ncookie: ${name}=${forged}\r\ncookie: ${name}=${valid}\r\nconnection: close\r\n\r\n`,
    );
    assertRefused(answer, 401, 'invalid-token', 'two Cookie headers');
  });

  test('bytes no client should send in a cookie', async () => {
    // obs-text reaches the handler and is refused as a token.
    const obs = await rawExchange(ecamo.url, Buffer.concat([
      Buffer.from(`GET ${urlPath} HTTP/1.1\r\nhost: wiki.test\r\ncookie: ${name}=${valid}`),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('\r\nconnection: close\r\n\r\n'),
    ]));
    assertRefused(obs, 401, 'invalid-token', 'obs-text cookie');
    // Control characters are refused by the HTTP parser, through the clientError handler.
    for (const byte of [0x00, 0x01, 0x7f]) {
      const answer = await rawExchange(ecamo.url, Buffer.concat([
        Buffer.from(`GET ${urlPath} HTTP/1.1\r\nhost: wiki.test\r\ncookie: ${name}=`),
        Buffer.from([byte]),
        Buffer.from(`${valid}\r\nconnection: close\r\n\r\n`),
      ]));
      assertRefused(answer, 400, 'bad-request', `cookie with byte ${byte}`);
    }
  });

  test('a cookie over the header limit is answered 431', async () => {
    const answer = await rawExchange(ecamo.url, `GET ${urlPath} HTTP/1.1\r\nhost: wiki.test\r\ncookie: ${name}=${'A'.repeat(40 * 1024)}\r\nconnection: close\r\n\r\n`);
    assertRefused(answer, 431, 'bad-request', '40 KiB cookie');
  });

  test('hostile service hosts', async () => {
    for (const host of ['evil host', 'wiki.test@evil.test', 'wiki.test/x', 'wiki.test:99999999', '[::1', 'wiki.test\\evil']) {
      assertRefused(await ecamo.get(urlPath, { headers: { cookie: ecamo.cookie, 'sec-x-ecamo-service-host': host } }), 400, 'bad-request', host);
    }
    // Another service host: its key for the kid is not there.
    assertRefused(await ecamo.get(urlPath, { headers: { cookie: ecamo.cookie, 'sec-x-ecamo-service-host': 'evil.test' } }), 401, 'unknown-key', 'evil.test');
  });

  test('methods other than GET and HEAD are refused with 405, on every path', async () => {
    const proxyPath = await ecamo.proxyPath(`${source.origin}/img.png`);
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND']) {
      for (const path of ['/', '/healthz', urlPath, proxyPath, '/nowhere']) {
        const answer = await rawExchange(ecamo.url, `${method} ${path} HTTP/1.1\r\nhost: ${CANONICAL_HOST}\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbody`);
        assertRefused(answer, 405, 'method-not-allowed', `${method} ${path.slice(0, 30)}`);
        assert.equal(answer.header('allow'), 'GET, HEAD');
      }
    }
    // CONNECT bypasses the request handler in node:http; it must still get an answer, not a dropped socket.
    const connect = await rawExchange(ecamo.url, `CONNECT 127.0.0.1:${source.port} HTTP/1.1\r\nhost: 127.0.0.1:${source.port}\r\n\r\n`);
    assertRefused(connect, 405, 'method-not-allowed', 'CONNECT');
    assert.equal(connect.header('allow'), 'GET, HEAD');
    // A method the parser does not know is a malformed request.
    assertRefused(await rawExchange(ecamo.url, `BREW / HTTP/1.1\r\nhost: wiki.test\r\nconnection: close\r\n\r\n`), 400, 'bad-request', 'BREW');
    assert.equal(source.requests.length, 0);
  });

  test('malformed requests are answered by the clientError handler', async () => {
    const cases = [
      'GET / HTTP/1.1\r\nhost: wiki.test\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
      'GET / HTTP/1.1\r\nhost: wiki.test\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab',
      'GET / HTTP/1.1\r\nbroken header\r\n\r\n',
      'GET / HTTP/1.1\r\nhost : wiki.test\r\n\r\n',
      'GET /\x01 HTTP/1.1\r\nhost: wiki.test\r\n\r\n',
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', // a TLS ClientHello on the plain port
    ];
    for (const raw of cases) assertRefused(await rawExchange(ecamo.url, Buffer.from(raw, 'latin1')), 400, 'bad-request', JSON.stringify(raw.slice(0, 30)));
  });

  test('HTTP/1.1 without exactly one Host is 400 bad-request', async () => {
    const cases = [
      'GET /healthz HTTP/1.1\r\nconnection: close\r\n\r\n',
      `GET ${urlPath} HTTP/1.1\r\ncookie: ${name}=${valid}\r\nconnection: close\r\n\r\n`,
      // node:http would keep the first Host; a front proxy may have routed on the second.
      `GET ${urlPath} HTTP/1.1\r\nhost: evil.test\r\nhost: wiki.test\r\ncookie: ${name}=${valid}\r\nconnection: close\r\n\r\n`,
      `GET /healthz HTTP/1.0\r\nhost: wiki.test\r\nHost: wiki.test\r\n\r\n`,
    ];
    for (const raw of cases) assertRefused(await rawExchange(ecamo.url, raw), 400, 'bad-request', JSON.stringify(raw.slice(0, 40)));
    // HTTP/1.0 had no Host: health checks still work, a redirect has no service origin.
    const health = await rawExchange(ecamo.url, 'GET /healthz HTTP/1.0\r\n\r\n');
    assert.equal(health.status, 200);
    assertRefused(await rawExchange(ecamo.url, `GET ${urlPath} HTTP/1.0\r\ncookie: ${name}=${valid}\r\n\r\n`), 400, 'bad-request', 'HTTP/1.0 redirect');
  });

  test('odd request targets', async () => {
    const prefix = ecamo.config.prefix;
    for (const target of [`/${prefix}/v1/r/../../etc/passwd`, `/${prefix}/v1/r/`, `/${prefix}/v1/r/a/b`, '//healthz', `/${prefix}/v2/r/x`, 'http://evil.test/']) {
      const answer = await rawExchange(ecamo.url, `GET ${target} HTTP/1.1\r\nhost: wiki.test\r\nconnection: close\r\n\r\n`);
      assertRefused(answer, 404, 'not-found', target);
    }
    // Percent-encoded garbage in the token position is a token, and a malformed one.
    assertRefused(await ecamo.get(`/${prefix}/v1/r/%2e%2e%2f%00`, { headers: { cookie: ecamo.cookie } }), 400, 'token-deserialization', 'percent-encoded');
  });

  test('a request that already went through an ecamo is refused as a loop', async () => {
    const proxyPath = await ecamo.proxyPath(`${source.origin}/img.png`);
    for (const via of ['1.1 ecamo', '1.0 fred, 1.1 ecamo', 'HTTP/1.1 ECAMO (ecamo/0.1)', '1.1 cdn.example,1.1   ecamo']) {
      assertRefused(await ecamo.get(urlPath, { headers: { cookie: ecamo.cookie, via } }), 400, 'loop-detected', `redirect, via ${via}`);
      assertRefused(await ecamo.get(proxyPath, { host: CANONICAL_HOST, headers: { via } }), 400, 'loop-detected', `proxy, via ${via}`);
    }
    assert.equal(source.requests.length, 0);
    // Other proxies in Via are fine.
    const answer = await ecamo.get(proxyPath, { host: CANONICAL_HOST, headers: { via: '1.1 varnish, 1.1 ecamo-cdn' } });
    assert.equal(answer.status, 200);
  });

  test('ecamo pointed at itself stops after one hop', async () => {
    const inner = await ecamo.proxyPath(`${source.origin}/img.png`);
    const outer = await ecamo.proxyPath(`${ecamo.url}${inner}`);
    const before = source.requests.length;
    const answer = await ecamo.get(outer, { host: CANONICAL_HOST });
    // The inner request carried `Via: 1.1 ecamo` and was refused; the outer one passes that on as a source error.
    assert.equal(answer.status, 400);
    assert.equal(answer.header('x-ecamo-error'), 'source-response');
    assert.equal(answer.body, '400 (from upstream)');
    assert.equal(source.requests.length, before);
  });

});
