import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type IncomingMessage } from 'node:http';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { importJWK, SignJWT } from 'jose';
import { request } from 'undici';
import { generateKey } from '../../src/config/generate-key.js';
import { ArgumentError } from '../../src/cli/arguments.js';
import { verifyProxyCommand } from '../../src/cli/verify-proxy.js';
import { startVerifyProxy } from '../../src/verify-proxy/reverse-proxy.js';
import { signIdToken } from '../../src/tokens/id-token.js';
import { createIdTokenVerifier } from '../../src/verify/index.js';
import { CANONICAL_HOST, CANONICAL_ORIGIN, SERVICE_ORIGIN, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { capturedLog } from '../helpers/log-lines.js';
import { until } from '../helpers/poll.js';
import { fetchThroughEcamo, IMAGE, runCli, spawnVerifyProxy, startDroppingListener, startFront, startJwksRelay, type Front, type JwksRelay, type VerifyProxy } from '../helpers/wire.js';

let ecamo: Ecamo;
let upstream: Source;
let relay: JwksRelay;
let proxy: VerifyProxy;
/** The proxy's origin (the ID tokens' audience) is known before it starts, so it stands behind a front. */
let front: Front;
let proxyOrigin: string;
const waiting: { firstChunk?: () => void; finishSlow?: () => void } = {};

before(async () => {
  ecamo = await startEcamo();
  relay = await startJwksRelay(ecamo);
  upstream = await startSource((req, res) => {
    switch (req.url?.split('?')[0]) {
      case '/base/img.png':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': IMAGE.length }).end(IMAGE);
        return;
      case '/base/echo':
        req.once('data', () => waiting.firstChunk?.());
        res.writeHead(200, { 'content-type': 'text/plain' });
        req.pipe(res);
        return;
      case '/base/slow':
        res.writeHead(200, { 'content-type': 'image/png' });
        res.write('half');
        waiting.finishSlow = () => res.end('done');
        return;
      case '/base/hop':
        res.writeHead(200, { connection: 'x-hop', 'x-hop': 'secret', 'keep-alive': 'timeout=5', 'x-end-to-end': 'yes' }).end('ok');
        return;
      default:
        res.writeHead(404).end();
    }
  });
  front = await startFront();
  proxyOrigin = front.origin;
  proxy = await spawnVerifyProxy(['--upstream', `${upstream.origin}/base/`, '--audience', proxyOrigin, '--ecamo-origin', CANONICAL_ORIGIN, '--jwks-url', relay.url]);
  front.target(Number(new URL(proxy.url).port));
});

after(async () => {
  await proxy.stop();
  await Promise.all([ecamo.close(), upstream.close(), relay.close(), front.close()]);
});

/** A fresh ID token signed with ecamo's real key, as ecamo would send to the proxy. */
async function bearer(claims: { audience?: string; secondsAgo?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000) - (claims.secondsAgo ?? 0);
  const token = await signIdToken(
    { canonicalOrigin: CANONICAL_ORIGIN, sourceOrigin: claims.audience ?? proxyOrigin, serviceOrigin: SERVICE_ORIGIN },
    ecamo.config.ecamoKeys.signing,
    45,
    now,
  );
  return `Bearer ${token}`;
}

async function call(path: string, headers: Record<string, string> = {}) {
  const response = await request(`${proxyOrigin}${path}`, { headers });
  return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
}

function lastUpstreamRequest(): IncomingMessage {
  return upstream.requests.at(-1)!;
}

describe('verify-proxy in front of a real upstream', () => {
  test('ecamo with send-token gets the image; the upstream sees the service, not the token', async () => {
    const answer = await fetchThroughEcamo(ecamo, `${proxyOrigin}/img.png`, { sendToken: true });
    assert.equal(answer.status, 200, answer.header('x-ecamo-error'));
    assert.deepEqual(answer.bytes, IMAGE);
    const seen = lastUpstreamRequest();
    assert.equal(seen.url, '/base/img.png');
    assert.equal(seen.headers['x-ecamo-service'], SERVICE_ORIGIN);
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.headers.via, '1.1 ecamo, 1.1 ecamo-verify-proxy');
    assert.equal(seen.headers.host, new URL(upstream.origin).host);
    // Every fetch through ecamo carries a new jti, so a second one is no replay.
    assert.equal((await fetchThroughEcamo(ecamo, `${proxyOrigin}/img.png`, { sendToken: true })).status, 200);
  });

  test('without send-token, ecamo is refused: the source answered 401', async () => {
    const before = upstream.requests.length;
    const answer = await fetchThroughEcamo(ecamo, `${proxyOrigin}/img.png`);
    assert.equal(answer.status, 401);
    assert.equal(answer.header('x-ecamo-error'), 'source-response');
    assert.equal(upstream.requests.length, before);
  });

  test('refused with 401 and x-ecamo-error: missing, forged, expired, wrong audience, replayed, junk', async () => {
    const impostor = await generateKey(ecamo.config.ecamoKeys.signing.kid);
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ 'ecamo:svc': SERVICE_ORIGIN })
      .setProtectedHeader({ alg: 'ES256', kid: impostor.kid })
      .setIssuer(CANONICAL_ORIGIN)
      .setSubject('anonymous')
      .setAudience(proxyOrigin)
      .setIssuedAt(now)
      .setExpirationTime(now + 45)
      .setJti('forged-1')
      .sign(await importJWK(impostor.privateJwk, 'ES256'));
    const once = await bearer();
    assert.equal((await call('/img.png', { authorization: once })).status, 200);

    const before = upstream.requests.length;
    const cases: [Record<string, string>, string][] = [
      [{}, 'missing-token'],
      [{ authorization: 'Basic dXNlcjpwYXNz' }, 'missing-token'],
      [{ authorization: `Bearer ${forged}` }, 'invalid-token'],
      [{ authorization: await bearer({ secondsAgo: 600 }) }, 'expired'],
      [{ authorization: await bearer({ audience: 'http://127.0.0.1:1' }) }, 'wrong-audience'],
      [{ authorization: once }, 'replayed'],
      [{ authorization: 'Bearer a.b.c' }, 'invalid-token'],
      [{ authorization: 'Bearer \u00ff\u00fe' }, 'invalid-token'],
    ];
    for (const [headers, code] of cases) {
      const answer = await call('/img.png', headers);
      assert.equal(answer.status, 401, code);
      assert.equal(answer.headers['x-ecamo-error'], code);
      assert.equal(answer.headers['www-authenticate'], 'Bearer error="invalid_token"');
      assert.equal(answer.body, `Error: ${code}`);
    }
    assert.equal(upstream.requests.length, before, 'nothing refused reached the upstream');
  });

  test('client x-ecamo-* and hop-by-hop headers are dropped both ways; end-to-end ones pass', async () => {
    // node:http rather than undici, which refuses to send some of these headers at all.
    const answer = await new Promise<IncomingMessage>((resolve, reject) => {
      bearer().then((authorization) => {
        http
          .get(`${proxyOrigin}/hop?q=1`, {
            headers: {
              authorization,
              'x-ecamo-service': 'https://evil.example',
              'x-ecamo-anything': '1',
              connection: 'keep-alive, x-private',
              'x-private': 'hop only',
              'keep-alive': 'timeout=1',
              te: 'trailers',
              expect: '100-continue',
              accept: 'image/*',
            },
          }, resolve)
          .on('error', reject);
      }, reject);
    });
    answer.resume();
    assert.equal(answer.statusCode, 200);
    const seen = lastUpstreamRequest();
    assert.equal(seen.url, '/base/hop?q=1');
    assert.equal(seen.headers['x-ecamo-service'], SERVICE_ORIGIN);
    assert.equal(seen.headers['x-ecamo-anything'], undefined);
    assert.equal(seen.headers['x-private'], undefined);
    assert.equal(seen.headers['keep-alive'], undefined);
    assert.equal(seen.headers.te, undefined);
    assert.equal(seen.headers.expect, undefined);
    assert.equal(seen.headers.accept, 'image/*');
    assert.equal(answer.headers['x-hop'], undefined);
    assert.equal(answer.headers['x-end-to-end'], 'yes');
  });

  test('request and response bodies stream (each side sees bytes before the other end finished)', async () => {
    const body = new PassThrough();
    const arrived = new Promise<void>((resolve) => (waiting.firstChunk = resolve));
    const pending = request(`${proxyOrigin}/echo`, { method: 'POST', headers: { authorization: await bearer(), 'content-type': 'text/plain' }, body });
    body.write('first,');
    await arrived;
    body.end('second');
    const echoed = await pending;
    assert.equal(echoed.statusCode, 200);
    assert.equal(await echoed.body.text(), 'first,second');

    const slow = await request(`${proxyOrigin}/slow`, { headers: { authorization: await bearer() } });
    assert.equal(slow.statusCode, 200);
    const chunks = slow.body[Symbol.asyncIterator]();
    assert.equal(String((await chunks.next()).value), 'half');
    waiting.finishSlow!();
    let rest = '';
    for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) rest += String(next.value);
    assert.equal(rest, 'done');
  });

  test('bad input is a 4xx, never a 500 or a crash', async () => {
    const raw = async (text: string): Promise<string> => {
      const socket = net.connect(Number(new URL(proxyOrigin).port), '127.0.0.1');
      socket.end(text);
      let answer = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
      await once(socket, 'close');
      return answer;
    };
    assert.match(await raw('NOT HTTP AT ALL\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.match(await raw(`GET http://evil.example/ HTTP/1.1\r\nhost: x\r\nauthorization: ${await bearer()}\r\nconnection: close\r\n\r\n`), /^HTTP\/1\.1 400 [\s\S]*x-ecamo-error: bad-request/);
    assert.match(await raw(`OPTIONS * HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`), /^HTTP\/1\.1 400 /);
    assert.match(await raw(`GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(70_000)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
    assert.match(await raw(`GET /img.png HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n`), /^HTTP\/1\.1 400 /);
    // Still serving.
    assert.equal((await call('/img.png', { authorization: await bearer() })).status, 200);
    assert.doesNotMatch(proxy.output(), /"level":50/, 'no error was logged');
  });

  test('command-line mistakes: refused before anything starts, exit 2', async () => {
    const base = ['--upstream', 'http://127.0.0.1:1', '--audience', 'http://img.test', '--ecamo-origin', 'http://ecamo.test'];
    for (const [args, message] of [
      [base.slice(0, 2), /--audience/],
      [base.slice(2), /--upstream/],
      [base.slice(0, 4), /--ecamo-origin ORIGIN .* or --jwks-url/],
      [[...base, '--listen', 'nowhere'], /--listen must be host:port/],
      [[...base, '--clock-tolerance', '61'], /--clock-tolerance must be 0 to 60/],
      [[...base.slice(0, 3), 'http://img.test/', ...base.slice(4)], /--audience must be an origin such as http:\/\/img\.test/],
      [['--upstream', 'ftp://x', ...base.slice(2)], /--upstream must be an absolute http\(s\) URL/],
      [['--upstream', 'http://x/?q', ...base.slice(2)], /no query/],
    ] as [string[], RegExp][]) {
      await assert.rejects(verifyProxyCommand(args, {}), (error: Error) => error instanceof ArgumentError && message.test(error.message));
    }
    const result = await runCli(['verify-proxy', ...base.slice(0, 2)]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^ecamo: verify-proxy needs --audience/);
  });
});

describe('startVerifyProxy (in process)', () => {
  test('upstream down: 502 upstream-request; keys unreachable: 503 jwks-unavailable', async () => {
    const jwks = JSON.parse((await ecamo.get('/.well-known/jwks.json', { host: CANONICAL_HOST })).body) as { keys: [] };
    const dropping = await startDroppingListener();
    const { logger, lines } = capturedLog('info');
    const down = await startVerifyProxy({
      upstream: new URL(`${dropping.origin}/`),
      verifier: createIdTokenVerifier({ ecamoOrigin: CANONICAL_ORIGIN, audience: 'http://img.test', keys: jwks }),
      listen: { host: '127.0.0.1', port: 0 },
      logger,
    });
    const noKeys = await startVerifyProxy({
      upstream: new URL(upstream.origin),
      verifier: createIdTokenVerifier({ ecamoOrigin: CANONICAL_ORIGIN, audience: 'http://img.test', jwksUrl: `${dropping.origin}/jwks.json` }),
      listen: { host: '127.0.0.1', port: 0 },
      logger,
    });
    try {
      const token = await bearer({ audience: 'http://img.test' });
      const bad = await request(`${down.url}/img.png`, { headers: { authorization: token } });
      assert.equal(bad.statusCode, 502);
      assert.equal(bad.headers['x-ecamo-error'], 'upstream-request');
      await bad.body.dump();
      const unavailable = await request(`${noKeys.url}/img.png`, { headers: { authorization: await bearer({ audience: 'http://img.test' }) } });
      assert.equal(unavailable.statusCode, 503);
      assert.equal(unavailable.headers['x-ecamo-error'], 'jwks-unavailable');
      await unavailable.body.dump();
      // Servers the operator runs failed: one warn line each, with the code and no stack.
      await until(() => lines.filter((line) => line.msg === 'access').length === 2);
      const warnings = lines.filter((line) => line.level === 40);
      assert.deepEqual(warnings.map((line) => line.code).sort(), ['jwks-unavailable', 'upstream-request']);
      assert.ok(warnings.every((line) => line.err === undefined && typeof line.reason === 'string'), JSON.stringify(warnings));
      assert.deepEqual(lines.filter((line) => line.msg !== 'access' && line.level !== 40), []);
    } finally {
      await Promise.all([down.close(), noKeys.close(), dropping.close()]);
    }
  });
});
