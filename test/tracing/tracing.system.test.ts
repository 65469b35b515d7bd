/**
 * OpenTelemetry traces from a real ecamo to a real OTLP/HTTP receiver on
 * loopback: the redirect endpoint, the proxy endpoint (through a redirecting
 * source) and a camo URL, with the client's traceparent continued and
 * ecamo's own sent to the source, the response cache's GETs in a real
 * redis-server, and nothing secret in the exported bytes.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { cacheKey } from '../../src/cache/cache.js';
import { redisKey } from '../../src/cache/redis-tier.js';
import { generateKey } from '../../src/config/generate-key.js';
import { CANONICAL_HOST, fetchAnswer, fetchCutOff, SERVICE_ORIGIN, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { camoPath } from '../helpers/camo.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { unlessInstalled } from '../helpers/programs.js';
import { until } from '../helpers/poll.js';
import { redisOf, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { listeningUrl, serviceKeysEnv, spawnServe } from '../helpers/serve-process.js';
import { IMAGE } from '../helpers/wire.js';

const CAMO_KEY = 'camo key for tracing';
const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;
/** The client's trace context (W3C), one trace per endpoint. */
const REDIRECT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const PROXY_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const LEFT_TRACE = '5c0b8b4a6e1f4d2a9c3e7f8091a2b3c4';
const CLIENT_SPAN = '00f067aa0ba902b7';

function traceparent(traceId: string): string {
  return `00-${traceId}-${CLIENT_SPAN}-01`;
}

function only(spans: ReceivedSpan[], matches: (span: ReceivedSpan) => boolean, what: string): ReceivedSpan {
  const found = spans.filter(matches);
  assert.equal(found.length, 1, `exactly one ${what} span; got ${JSON.stringify(spans.map((span) => span.name))}`);
  return found[0]!;
}

function childrenOf(spans: ReceivedSpan[], parent: ReceivedSpan): ReceivedSpan[] {
  return spans.filter((span) => span.parentSpanId === parent.spanId && span.traceId === parent.traceId);
}

describe('tracing on (OTLP http/json): spans of the three endpoints', () => {
  let receiver: OtlpReceiver;
  let source: Source;
  let ecamo: Ecamo;
  const secrets: string[] = [];
  let spans: ReceivedSpan[];
  let sourceTraceparents: (string | undefined)[];
  let sourceAsked: () => void = () => {};

  before(async () => {
    receiver = await startOtlpReceiver();
    source = await startSource((req, res) => {
      if (req.url?.startsWith('/hop') === true) res.writeHead(302, { location: '/img.png?signature=query-secret' }).end();
      else if (req.url === '/stall.png') sourceAsked();
      // Public: with ecamo's ID token sent, only an answer that says so may be kept (RFC 9111 section 3.5).
      else res.writeHead(200, { 'content-type': 'image/png', 'content-length': IMAGE.length, 'cache-control': 'public, max-age=60' }).end(IMAGE);
    });
    ecamo = await startEcamo({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'ecamo-under-test',
      ECAMO_CAMO_KEY: CAMO_KEY,
      ECAMO_MAX_REDIRECTS: '2',
    });

    // The redirect endpoint, with the service's cookie, asking for ecamo's ID token at the source.
    const redirectPath = await ecamo.signer.url(`${source.origin}/hop?first=query-secret`, { sendToken: true });
    const redirect = await ecamo.get(redirectPath, { headers: { cookie: ecamo.cookie, traceparent: traceparent(REDIRECT_TRACE) } });
    assert.equal(redirect.status, 302);
    const location = new URL(redirect.header('location')!);
    // The proxy endpoint: the source redirects once, then answers the image.
    const image = await fetchAnswer(`${ecamo.url}${location.pathname}${location.search}`, { host: CANONICAL_HOST, headers: { traceparent: traceparent(PROXY_TRACE) } });
    assert.equal(image.status, 200);
    assert.deepEqual(image.bytes, IMAGE);
    // A camo URL, without a traceparent: a trace of its own.
    const camoUrl = camoPath(CAMO_KEY, `${source.origin}/camo.png?camo=query-secret`);
    const camo = await fetchAnswer(`${ecamo.url}${camoUrl}`, { host: CANONICAL_HOST });
    assert.equal(camo.status, 200);
    // A forged proxy token: refused, and traced with its error code.
    const forged = await fetchAnswer(`${ecamo.url}/.ecamo/v1/p/${'A'.repeat(64)}?t=forged-token-secret`, { host: CANONICAL_HOST });
    assert.equal(forged.status >= 400 && forged.status < 500, true);
    // A client that leaves before any answer, once the source has the request (which never answers).
    const asked = new Promise<void>((resolve) => (sourceAsked = resolve));
    const stallPath = await ecamo.proxyPath(`${source.origin}/stall.png`);
    const leaving = http.get(`${ecamo.url}${stallPath}`, { headers: { host: CANONICAL_HOST, traceparent: traceparent(LEFT_TRACE) }, agent: false });
    leaving.on('error', () => {}); // the client's own leaving
    await asked;
    leaving.destroy();
    await until(() => source.requests.at(-1)!.socket.destroyed);

    sourceTraceparents = source.requests.map((req) => req.headers.traceparent as string | undefined);
    secrets.push(
      redirectPath.split('/').at(-1)!,
      location.searchParams.get('t')!,
      ecamo.cookie.split('=')[1]!,
      ...camoUrl.split('/').filter((part) => part !== ''),
      'query-secret',
      'forged-token-secret',
      new URL(stallPath, 'http://x').searchParams.get('t')!,
      ...source.requests.map((req) => req.headers.authorization).filter((value) => value !== undefined).map((value) => value.replace(/^Bearer /, '')),
    );
    // Closing drains and flushes: every span is exported by the time close() resolves.
    await ecamo.close();
    spans = receiver.spans();
  });

  after(async () => {
    await ecamo.close();
    await source.close();
    await receiver.close();
  });

  it('a request whose client left before any answer: a server span with no response status', () => {
    const server = only(spans, (span) => span.kind === SERVER && span.traceId === LEFT_TRACE, 'abandoned request server');
    assert.equal(server.attributes['ecamo.route'], 'proxy');
    assert.equal(server.attributes['http.response.status_code'], undefined);
    assert.notEqual(server.statusCode, ERROR);
  });

  it('exports over OTLP/JSON to /v1/traces, as the configured service', () => {
    assert.ok(receiver.exports.length > 0);
    for (const received of receiver.exports) {
      assert.equal(received.path, '/v1/traces');
      assert.equal(received.contentType, 'application/json');
    }
    assert.ok(spans.every((span) => span.resource['service.name'] === 'ecamo-under-test'));
  });

  it('the redirect endpoint: a server span continuing the client trace, with its token steps', () => {
    const server = only(spans, (span) => span.kind === SERVER && span.attributes['ecamo.route'] === 'redirect', 'redirect server');
    assert.equal(server.traceId, REDIRECT_TRACE);
    assert.equal(server.parentSpanId, CLIENT_SPAN);
    assert.equal(server.name, 'GET /{prefix}/v1/r/{url_token}');
    assert.equal(server.attributes['http.route'], '/{prefix}/v1/r/{url_token}');
    assert.equal(server.attributes['http.response.status_code'], 302);
    assert.equal(server.attributes['ecamo.action'], 'redirect-to-canonical');
    assert.equal(server.attributes['ecamo.source.url'], `${source.origin}/hop`);
    assert.deepEqual(childrenOf(spans, server).map((span) => span.name).sort(), ['issue proxy token', 'verify auth cookie', 'verify url token']);
  });

  it('the proxy endpoint: a server span with the cache result, a client span per source hop, the source seeing those spans as parents', () => {
    const server = only(spans, (span) => span.kind === SERVER && span.attributes['ecamo.route'] === 'proxy' && span.traceId === PROXY_TRACE, 'proxy server');
    assert.equal(server.parentSpanId, CLIENT_SPAN);
    assert.equal(server.name, 'GET /{prefix}/v1/p/{digest}');
    assert.equal(server.attributes['http.response.status_code'], 200);
    assert.equal(server.attributes['ecamo.cache'], 'miss');
    assert.equal(server.attributes['ecamo.source.status_code'], 200);
    assert.equal(server.attributes['http.response.body.size'], IMAGE.length);
    const children = childrenOf(spans, server);
    assert.deepEqual(children.filter((span) => span.kind !== CLIENT).map((span) => span.name), ['verify proxy token']);
    const hops = children.filter((span) => span.kind === CLIENT);
    assert.deepEqual(
      hops.map((span) => [span.attributes['url.full'], span.attributes['http.response.status_code'], span.attributes['http.request.resend_count']]).sort(),
      [
        [`${source.origin}/hop`, 302, undefined],
        [`${source.origin}/img.png`, 200, 1],
      ],
    );
    const final = hops.find((span) => span.attributes['http.response.status_code'] === 200)!;
    assert.equal(final.attributes['http.response.body.size'], IMAGE.length);
    assert.equal(final.attributes['server.address'], '127.0.0.1');
    // The source saw ecamo's hop spans as the parents of its requests, in the client's trace.
    assert.deepEqual(sourceTraceparents.slice(0, 2).sort(), hops.map((span) => `00-${PROXY_TRACE}-${span.spanId}-01`).sort());
  });

  it('a camo URL: a trace of its own, its source request carrying it', () => {
    const server = only(spans, (span) => span.kind === SERVER && span.attributes['ecamo.route'] === 'camo', 'camo server');
    assert.equal(server.parentSpanId, '');
    assert.equal(server.name, 'GET /{digest}/{encoded_url}');
    assert.equal(server.attributes['ecamo.source.url'], `${source.origin}/camo.png`);
    const [hop] = childrenOf(spans, server);
    assert.equal(hop?.kind, CLIENT);
    assert.equal(sourceTraceparents[2], `00-${server.traceId}-${hop.spanId}-01`);
  });

  it('a refused request: its x-ecamo-error code on the server span, and the failed verification', () => {
    const server = only(spans, (span) => span.kind === SERVER && span.attributes['ecamo.error'] !== undefined, 'refused');
    assert.equal(server.attributes['ecamo.route'], 'proxy');
    const [verification] = childrenOf(spans, server);
    assert.equal(verification?.name, 'verify proxy token');
    assert.equal(verification.statusCode, ERROR);
    assert.equal(verification.attributes['error.type'], server.attributes['ecamo.error']);
  });

  it('no token, cookie, Authorization value, camo digest or query string anywhere in the exported bytes', () => {
    const exported = Buffer.concat(receiver.exports.map((received) => received.body)).toString('utf8');
    assert.ok(secrets.length >= 9, `collected ${secrets.length} secrets`);
    for (const secret of secrets) assert.ok(secret.length >= 8 && !exported.includes(secret), `exported bytes hold ${secret}`);
    assert.doesNotMatch(exported, /\?|Bearer|ecamo_token/);
  });
});

describe('tracing on with the response cache shared in Redis: its GETs as client spans of the request that made them', { skip: unlessInstalled('redis-server') }, () => {
  const REDIS_TRACE = '5bd66ef5095369c7b0d1f8f4bd33716a';
  let redis: RedisServer;
  let receiver: OtlpReceiver;
  let source: Source;
  /** Traced. */
  let traced: Ecamo;
  /** Not traced: it fills Redis, as another instance would. */
  let other: Ecamo;
  let spans: ReceivedSpan[];
  const secrets: string[] = [];
  const serverOf = (path: string): ReceivedSpan =>
    only(spans, (span) => span.kind === SERVER && span.attributes['ecamo.source.url'] === `${source.origin}${path}`, `server span for ${path}`);
  const redisGetsUnder = (server: ReceivedSpan): ReceivedSpan[] => childrenOf(spans, server).filter((span) => span.name === 'redis GET');

  before(async () => {
    redis = await startRedisServer();
    receiver = await startOtlpReceiver();
    source = await startSource((_req, res) => res.writeHead(200, { 'content-type': 'image/png', 'content-length': IMAGE.length, 'cache-control': 'public, max-age=60' }).end(IMAGE));
    const ecamoKey = await generateKey('shared');
    const shared = { ECAMO_REDIS_URL: redis.url, ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamoKey.kid]: ecamoKey.privateJwk }) };
    traced = await startEcamo({ ...shared, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    other = await startEcamo(shared);
    await until(() => redisOf(traced).available && redisOf(other).available);
    const proxy = async (ecamo: Ecamo, path: string, headers: Record<string, string> = {}): Promise<string | undefined> => {
      const proxyPath = await ecamo.proxyPath(`${source.origin}${path}`);
      secrets.push(new URL(proxyPath, 'http://x').searchParams.get('t')!, redisKey(cacheKey(`${source.origin}${path}`, SERVICE_ORIGIN, false)));
      const answer = await fetchAnswer(`${ecamo.url}${proxyPath}`, { host: CANONICAL_HOST, headers });
      assert.equal(answer.status, 200);
      return answer.header('x-ecamo-cache');
    };

    // Nothing in Redis yet: a GET that finds none, then the source.
    assert.equal(await proxy(traced, '/first.png?sig=query-secret', { traceparent: traceparent(REDIS_TRACE) }), 'miss');
    // Kept in Redis by the other instance: a GET that finds it, and no source request.
    assert.equal(await proxy(other, '/shared.png'), 'miss');
    await until(async () => (await redisOf(other).client.exists(redisKey(cacheKey(`${source.origin}/shared.png`, SERVICE_ORIGIN, false)))) === 1);
    assert.equal(await proxy(traced, '/shared.png'), 'hit');
    // Redis gone: the GET is not even sent.
    await redis.kill();
    await until(() => !redisOf(traced).available);
    assert.equal(await proxy(traced, '/alone.png'), 'miss');

    await traced.close();
    spans = receiver.spans();
  });

  after(async () => {
    await Promise.all([traced.close(), other.close()]);
    await source.close();
    await receiver.close();
    await redis.stop();
  });

  it('a GET that found nothing: under the server span of its request, in the client trace, before the source hop', () => {
    const server = serverOf('/first.png');
    assert.equal(server.traceId, REDIS_TRACE);
    assert.equal(server.parentSpanId, CLIENT_SPAN);
    const [get, ...more] = redisGetsUnder(server);
    assert.deepEqual(more, []);
    assert.equal(get?.kind, CLIENT);
    assert.deepEqual(get.attributes, { 'db.system.name': 'redis', 'db.operation.name': 'GET', 'ecamo.cache.shared': 'none' });
    assert.deepEqual(childrenOf(spans, server).filter((span) => span.kind === CLIENT && span.name === 'GET').map((span) => span.attributes['url.full']), [`${source.origin}/first.png`]);
  });

  it('a GET that found what another instance kept: the request a hit, no source hop', () => {
    const server = serverOf('/shared.png');
    assert.equal(server.attributes['ecamo.cache'], 'hit');
    assert.deepEqual(redisGetsUnder(server).map((span) => span.attributes['ecamo.cache.shared']), ['found']);
    assert.deepEqual(childrenOf(spans, server).filter((span) => span.name === 'GET'), []);
  });

  it('Redis unavailable: the span says so, and the request goes to the source', () => {
    const server = serverOf('/alone.png');
    assert.deepEqual(redisGetsUnder(server).map((span) => span.attributes['ecamo.cache.shared']), ['unavailable']);
  });

  it('no proxy token, query string or Redis key in the exported bytes', () => {
    const exported = Buffer.concat(receiver.exports.map((received) => received.body)).toString('utf8');
    assert.equal(secrets.length, 8);
    for (const secret of [...secrets, 'query-secret']) assert.ok(!exported.includes(secret), `exported bytes hold ${secret}`);
    assert.doesNotMatch(exported, /\?|ecamo:c:/);
  });
});

describe('tracing on (OTLP http/protobuf, the default)', () => {
  it('exports protobuf to /v1/traces, flushed when the server closes', async () => {
    const receiver = await startOtlpReceiver();
    const source = await startSource((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(IMAGE));
    const ecamo = await startEcamo({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/custom/traces`, ECAMO_CAMO_KEY: CAMO_KEY });
    try {
      const camo = await fetchAnswer(`${ecamo.url}${camoPath(CAMO_KEY, `${source.origin}/pb.png`)}`, { host: CANONICAL_HOST });
      assert.equal(camo.status, 200);
      await ecamo.close();
      assert.ok(receiver.exports.length > 0);
      const body = Buffer.concat(receiver.exports.map((received) => received.body));
      assert.deepEqual(new Set(receiver.exports.map((received) => [received.path, received.contentType].join(' '))), new Set(['/custom/traces application/x-protobuf']));
      // Protobuf keeps strings as their UTF-8 bytes.
      assert.ok(body.includes('GET /{digest}/{encoded_url}'));
      assert.ok(body.includes('ecamo'));
      assert.match(String(source.requests[0]?.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    } finally {
      await ecamo.close();
      await source.close();
      await receiver.close();
    }
  });
});

describe('tracing off', () => {
  it('sends no traceparent to the source', async () => {
    const source = await startSource((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(IMAGE));
    const ecamo = await startEcamo({ ECAMO_CAMO_KEY: CAMO_KEY });
    try {
      assert.equal(ecamo.server.app.tracing, undefined);
      const camo = await fetchAnswer(`${ecamo.url}${camoPath(CAMO_KEY, `${source.origin}/off.png`)}`, { host: CANONICAL_HOST, headers: { traceparent: traceparent(PROXY_TRACE) } });
      assert.equal(camo.status, 200);
      assert.equal(source.requests[0]?.headers.traceparent, undefined);
    } finally {
      await ecamo.close();
      await source.close();
    }
  });
});

describe('tracing with ECAMO_WORKERS=2', () => {
  it('every worker exports its own spans, flushed when SIGTERM drains them', async () => {
    const receiver = await startOtlpReceiver();
    const source = await startSource((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(IMAGE));
    const serve = spawnServe({
      ...(await serviceKeysEnv()),
      ECAMO_WORKERS: '2',
      ECAMO_CAMO_KEY: CAMO_KEY,
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://127\\.0\\.0\\.1:',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    });
    try {
      const [listening] = await serve.waitFor((line) => line.msg === 'ecamo listening', 2);
      const requests = 8;
      for (let i = 0; i < requests; i++) {
        // A connection each: the primary hands connections to the workers in turn.
        const answer = await fetchCutOff(`${listeningUrl(listening!)}${camoPath(CAMO_KEY, `${source.origin}/w${i}.png`)}`, CANONICAL_HOST);
        assert.equal(answer.status, 200);
      }
      serve.child.kill('SIGTERM');
      assert.deepEqual(await serve.exited, [0, null]);
      const servers = receiver.spans().filter((span) => span.kind === SERVER);
      assert.equal(servers.length, requests);
      assert.equal(new Set(servers.map((span) => span.resource['process.pid'])).size, 2);
    } finally {
      await serve.kill();
      await source.close();
      await receiver.close();
    }
  });
});
