/**
 * docs/protocol.md, section by section, against a real ecamo and real sources
 * on 127.0.0.1. Every status, header and error code the protocol names is
 * asserted here; one `describe` per section.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, importJWK, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';
import { generateKey, type GeneratedKey } from '../../src/config/generate-key.js';
import { createSigner } from '../../src/signer/index.js';
import { signProxyToken } from '../../src/tokens/proxy-token.js';
import { urlDigest } from '../../src/tokens/digest.js';
import {
  CANONICAL_HOST,
  CANONICAL_ORIGIN,
  SERVICE_HOST,
  SERVICE_ORIGIN,
  fetchCutOff,
  startEcamo,
  startSource,
  type Answer,
  type Ecamo,
  type GetOptions,
  type Source,
} from '../helpers/harness.js';

const NO_CACHE = 'no-cache, no-store, max-age=0, must-revalidate';
/** The service and canonical origins under the other scheme than the one requests arrive on (insecure mode follows the request). */
const OTHER_SCHEME_SERVICE_ORIGIN = SERVICE_ORIGIN.replace(/^https?:/, (scheme) => (scheme === 'https:' ? 'http:' : 'https:'));
const OTHER_SCHEME_CANONICAL_ORIGIN = CANONICAL_ORIGIN.replace(/^https?:/, (scheme) => (scheme === 'https:' ? 'http:' : 'https:'));
const CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox";
const PNG = 'PNG-BYTES-0123456789';
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The same base64url text with a bit set that a canonical encoder leaves clear (length must not be a multiple of 4). */
function withTrailingBits(canonical: string): string {
  return canonical.slice(0, -1) + BASE64URL[BASE64URL.indexOf(canonical.at(-1)!) ^ 1];
}

/** Headers a 200 from the proxy endpoint may carry: the list of docs/protocol.md §9 plus what Node's HTTP layer adds. */
const PROXY_200_HEADERS = new Set([
  'content-type',
  'content-length',
  'etag',
  'expires',
  'last-modified',
  'vary',
  'cache-control',
  'surrogate-control',
  'x-ecamo-action',
  'x-ecamo-source',
  'x-frame-options',
  'x-content-type-options',
  'content-security-policy',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
]);

/** What the source sends besides the image headers; none of it may reach the client. */
const SOURCE_EXTRAS = {
  'set-cookie': 'source-session=secret; Path=/',
  'x-source-secret': 'yes',
  'access-control-allow-origin': '*',
  'content-disposition': 'attachment; filename="x.html"',
  link: '<http://evil.test/>; rel=preload',
  'strict-transport-security': 'max-age=1',
};

let source: Source;
let ecamo: Ecamo;
let counter = 0;

/** The source: behaviour chosen by path; a `n=` query only makes URLs unique. */
function sourceHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://source.invalid');
  const [, kind, arg] = url.pathname.split('/');
  switch (kind) {
    case 'img.png':
      res.writeHead(200, {
        'content-type': 'image/png',
        'content-length': Buffer.byteLength(PNG),
        etag: '"v1"',
        expires: 'Wed, 21 Oct 2037 07:28:00 GMT',
        'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT',
        vary: 'Accept',
        'cache-control': 'public, max-age=60',
        ...SOURCE_EXTRAS,
      });
      res.end(PNG);
      return;
    case 'bare.png':
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(PNG);
      return;
    case 'type': {
      // ?t=<content-type>; no t: no Content-Type at all.
      const type = url.searchParams.get('t');
      res.writeHead(200, type === null ? {} : { 'content-type': type });
      res.end(PNG);
      return;
    }
    case 'status': {
      const status = Number(arg);
      res.writeHead(status, {
        'content-type': 'text/html',
        etag: '"err"',
        expires: 'Wed, 21 Oct 2037 07:28:00 GMT',
        'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT',
        vary: 'Accept',
        'cache-control': 'max-age=5',
        ...(status >= 300 && status < 400 ? { location: '/img.png' } : {}),
        ...SOURCE_EXTRAS,
      });
      res.end(status === 204 || status === 304 ? undefined : '<h1>SOURCE ERROR BODY</h1>');
      return;
    }
    case 'status-bare':
      res.writeHead(Number(arg));
      res.end('SOURCE ERROR BODY');
      return;
    case 'hop': {
      // /hop/N redirects N times, then serves the image.
      const left = Number(arg);
      if (left > 0) {
        res.writeHead(302, { location: `/hop/${left - 1}${url.search}` });
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end(PNG);
      }
      return;
    }
    case 'to':
      // Redirects to ?u=<absolute URL>.
      res.writeHead(302, { location: url.searchParams.get('u')! });
      res.end();
      return;
    case 'length':
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': Number(arg) });
      res.end(Buffer.alloc(Number(arg), 'x'));
      return;
    case 'chunked': {
      // Two chunks without Content-Length: 60 bytes of 'a', then `arg` bytes of 'b'.
      res.writeHead(200, { 'content-type': 'image/png' });
      res.write(Buffer.alloc(60, 'a'));
      setTimeout(() => res.end(Buffer.alloc(Number(arg), 'b')), 20);
      return;
    }
    case 'hang':
      return; // never answers; closed by source.close()
    default:
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('no such source path');
  }
}

/** A source URL on the shared source, unique so that its requests can be told apart. */
function src(path: string): string {
  return `${source.origin}${path}${path.includes('?') ? '&' : '?'}n=${++counter}`;
}

/** The requests that reached the shared source for a URL made by `src`. */
function requestsFor(url: string): http.IncomingMessage[] {
  const { pathname, search } = new URL(url);
  return source.requests.filter((req) => req.url === pathname + search);
}

async function serviceKeyOf(target: Ecamo): Promise<CryptoKey> {
  return (await importJWK(target.serviceKey.privateJwk, 'ES256')) as CryptoKey;
}

/** A URL token with exactly the given claims and header (the signer would normalise the URL). */
async function urlToken(
  target: Ecamo,
  claims: JWTPayload,
  options: { kid?: string; key?: CryptoKey } = {},
): Promise<string> {
  return new SignJWT({ iss: SERVICE_ORIGIN, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? target.serviceKey.kid })
    .sign(options.key ?? (await serviceKeyOf(target)));
}

/** An auth cookie token with the given claims (defaults: valid for 10 minutes). */
async function cookieToken(target: Ecamo, claims: JWTPayload, options: { kid?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: SERVICE_ORIGIN, aud: CANONICAL_ORIGIN, iat: now, exp: now + 600, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? target.serviceKey.kid })
    .sign(await serviceKeyOf(target));
}

/** The redirect endpoint for a source URL, with the valid cookie unless `cookie` says otherwise. */
async function redirect(
  target: Ecamo,
  sourceUrl: string,
  options: { sendToken?: boolean; cookie?: string | null; headers?: Record<string, string>; host?: string } = {},
): Promise<Answer> {
  const path = await target.signer.url(sourceUrl, { sendToken: options.sendToken ?? false });
  const headers: Record<string, string> = { ...options.headers };
  const cookie = options.cookie === undefined ? target.cookie : options.cookie;
  if (cookie !== null) headers.cookie = cookie;
  return target.get(path, { headers, ...(options.host === undefined ? {} : { host: options.host }) });
}

/** Follows a Location to the canonical origin (it names ecamo.test; the request goes to our port). */
function followCanonical(target: Ecamo, location: string, options: GetOptions = {}): Promise<Answer> {
  const url = new URL(location);
  assert.equal(url.host, CANONICAL_HOST);
  return target.get(url.pathname + url.search, { host: CANONICAL_HOST, ...options });
}

/** The proxy endpoint for a source URL, with a token minted as ecamo does. */
async function proxy(target: Ecamo, sourceUrl: string, options: GetOptions & { sendToken?: boolean } = {}): Promise<Answer> {
  const path = await target.proxyPath(sourceUrl, { sendToken: options.sendToken ?? false });
  return target.get(path, { host: CANONICAL_HOST, ...options });
}

function assertEcamoError(answer: Answer, status: number, code: string): void {
  assert.equal(answer.status, status, `status for ${code}: ${answer.body}`);
  assert.equal(answer.header('x-ecamo-error'), code);
  assert.equal(answer.body, `Error: ${code}`);
  assert.equal(answer.header('cache-control'), 'no-store');
  assert.equal(answer.header('www-authenticate'), status === 401 ? 'Bearer error="invalid_token"' : undefined, 'a 401 names its scheme (RFC 9110)');
}

function assertNoCache302(answer: Answer): void {
  assert.equal(answer.status, 302);
  assert.equal(answer.header('cache-control'), NO_CACHE);
}

function assertRedirectToSource(answer: Answer, sourceUrl: string, reason: string): void {
  assertNoCache302(answer);
  assert.equal(answer.header('location'), sourceUrl);
  assert.equal(answer.header('x-ecamo-action'), 'redirect-to-source');
  assert.equal(answer.header('x-ecamo-reason'), reason);
  assert.equal(answer.header('x-ecamo-source'), sourceUrl);
}

before(async () => {
  source = await startSource(sourceHandler);
  ecamo = await startEcamo();
});

after(async () => {
  await ecamo.close();
  await source.close();
});

describe('docs/protocol.md §2: Endpoints', () => {
  it('/ answers 200 with a short plain-text body', async () => {
    const answer = await ecamo.get('/');
    assert.equal(answer.status, 200);
    assert.match(answer.header('content-type')!, /^text\/plain/);
    assert.ok(answer.body.length > 0 && answer.body.length < 200);
  });

  it('/healthz answers 200 ok', async () => {
    const answer = await ecamo.get('/healthz');
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'ok');
  });

  it('unknown paths answer 404', async () => {
    for (const path of ['/nope', '/.ecamo/v1/x/abc', '/.ecamo/v2/r/abc', '/a/b/v1/r/abc', '/.ecamo/v1/r/', '/.ecamo/v1/r/a/b']) {
      const answer = await ecamo.get(path);
      assert.equal(answer.status, 404, path);
    }
    assert.equal((await ecamo.get('/nope', { host: CANONICAL_HOST })).status, 404);
  });

  it('any one-segment prefix reaches the redirect endpoint, and the Location uses ECAMO_PREFIX', async () => {
    const custom = await startEcamo({ ECAMO_PREFIX: 'img-proxy' });
    try {
      const sourceUrl = src('/img.png');
      const path = (await custom.signer.url(sourceUrl)).replace(/^\/\.ecamo\//, '/whatever-prefix/');
      const answer = await custom.get(path, { headers: { cookie: custom.cookie } });
      assertNoCache302(answer);
      const location = new URL(answer.header('location')!);
      assert.equal(location.origin, CANONICAL_ORIGIN);
      assert.equal(location.pathname, `/img-proxy/v1/p/${urlDigest(sourceUrl)}`);

      // The proxy endpoint does not check the prefix either.
      const other = location.pathname.replace('/img-proxy/', '/.ecamo/') + location.search;
      const proxied = await custom.get(other, { host: CANONICAL_HOST });
      assert.equal(proxied.status, 200);
      assert.equal(proxied.body, PNG);
    } finally {
      await custom.close();
    }
  });
});

describe('docs/protocol.md §3: Service origin of a request', () => {
  it('the Host header names the service origin (insecure mode: http)', async () => {
    const answer = await redirect(ecamo, src('/img.png'));
    assert.equal(answer.header('x-ecamo-action'), 'redirect-to-canonical');
    // A token issued by the same service for another host is not that host's token.
    const elsewhere = await redirect(ecamo, src('/img.png'), { host: 'other.test' });
    assertEcamoError(elsewhere, 401, 'unknown-key');
  });

  it('sec-x-ecamo-service-host wins over Host', async () => {
    const viaHeader = await redirect(ecamo, src('/img.png'), { host: 'internal-router.test', headers: { 'sec-x-ecamo-service-host': SERVICE_HOST } });
    assert.equal(viaHeader.status, 302);
    assert.equal(viaHeader.header('x-ecamo-action'), 'redirect-to-canonical');

    const overridden = await redirect(ecamo, src('/img.png'), { headers: { 'sec-x-ecamo-service-host': 'other.test' } });
    assertEcamoError(overridden, 401, 'unknown-key');
  });

  it('ECAMO_SERVICE_HOST_REGEXP: an unmatched host is 403 unallowed-service-host, before the token is looked at', async () => {
    const restricted = await startEcamo({ ECAMO_SERVICE_HOST_REGEXP: '^wiki\\.test$' });
    try {
      const allowed = await redirect(restricted, src('/img.png'));
      assert.equal(allowed.status, 302);
      assertEcamoError(await restricted.get('/.ecamo/v1/r/garbage', { host: 'evil.test' }), 403, 'unallowed-service-host');
      assertEcamoError(
        await redirect(restricted, src('/img.png'), { headers: { 'sec-x-ecamo-service-host': 'evil.test' } }),
        403,
        'unallowed-service-host',
      );
    } finally {
      await restricted.close();
    }
  });
});

describe('docs/protocol.md §4.2: URL token', () => {
  it('alg must be ES256 and kid must name a key of that service origin: otherwise 401', async () => {
    const sourceUrl = src('/img.png');
    assertEcamoError(await ecamo.get(`/.ecamo/v1/r/${await urlToken(ecamo, { 'ecamo:url': sourceUrl }, { kid: 'svc-unknown' })}`), 401, 'unknown-key');

    const noKid = await new SignJWT({ iss: SERVICE_ORIGIN, 'ecamo:url': sourceUrl })
      .setProtectedHeader({ alg: 'ES256' })
      .sign(await serviceKeyOf(ecamo));
    assertEcamoError(await ecamo.get(`/.ecamo/v1/r/${noKid}`), 401, 'unknown-key');

    // A key of another service with the same kid is not this service's key.
    const stranger = await generateKey(ecamo.serviceKey.kid);
    const forged = await urlToken(ecamo, { 'ecamo:url': sourceUrl }, { key: (await importJWK(stranger.privateJwk, 'ES256')) as CryptoKey });
    const refused = await ecamo.get(`/.ecamo/v1/r/${forged}`);
    assert.equal(refused.status, 401);

    const hmac = await new SignJWT({ iss: SERVICE_ORIGIN, 'ecamo:url': sourceUrl })
      .setProtectedHeader({ alg: 'HS256', kid: ecamo.serviceKey.kid })
      .sign(new Uint8Array(32));
    assert.equal((await ecamo.get(`/.ecamo/v1/r/${hmac}`)).status, 401);

    const unsigned = `${Buffer.from('{"alg":"none","kid":"svc-1"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: SERVICE_ORIGIN, 'ecamo:url': sourceUrl })).toString('base64url')}.`;
    const none = await ecamo.get(`/.ecamo/v1/r/${unsigned}`);
    assert.ok(none.status === 400 || none.status === 401, `alg none: ${none.status}`);
    assert.equal(requestsFor(sourceUrl).length, 0);
  });

  it('iss must equal the service origin', async () => {
    for (const iss of ['http://other.test', OTHER_SCHEME_SERVICE_ORIGIN, 'wiki.test']) {
      const token = await urlToken(ecamo, { iss, 'ecamo:url': src('/img.png') });
      assertEcamoError(await ecamo.get(`/.ecamo/v1/r/${token}`, { headers: { cookie: ecamo.cookie } }), 401, 'jwt');
    }
    const missing = await new SignJWT({ 'ecamo:url': src('/img.png') })
      .setProtectedHeader({ alg: 'ES256', kid: ecamo.serviceKey.kid })
      .sign(await serviceKeyOf(ecamo));
    assertEcamoError(await ecamo.get(`/.ecamo/v1/r/${missing}`), 401, 'jwt');
  });

  it('ecamo:url must be an absolute http(s) URL: otherwise 400', async () => {
    const cases: [unknown, string][] = [
      ['ftp://127.0.0.1/img.png', 'url'],
      ['javascript:alert(1)', 'url'],
      ['data:image/png;base64,AAAA', 'url'],
      ['file:///etc/passwd', 'url'],
      ['/relative/img.png', 'url'],
      ['http://', 'url'],
      ['not a url', 'url'],
      [42, 'token-deserialization'],
      [{ href: 'http://127.0.0.1/' }, 'token-deserialization'],
    ];
    for (const [value, code] of cases) {
      const token = await urlToken(ecamo, { 'ecamo:url': value });
      assertEcamoError(await ecamo.get(`/.ecamo/v1/r/${token}`, { headers: { cookie: ecamo.cookie } }), 400, code);
    }
    assertEcamoError(await ecamo.get(`/.ecamo/v1/r/${await urlToken(ecamo, {})}`), 400, 'missing-claim');
    assertEcamoError(await ecamo.get('/.ecamo/v1/r/not-a-token'), 400, 'token-deserialization');
    assertEcamoError(await ecamo.get('/.ecamo/v1/r/a.b.c'), 400, 'token-deserialization');
  });

  it('the normalised URL (WHATWG href) is used everywhere afterwards', async () => {
    const raw = `HTTP://127.0.0.1:${source.port}/./x/../img.png?n=${++counter}`;
    const href = new URL(raw).href;
    assert.notEqual(raw, href);
    const token = await urlToken(ecamo, { 'ecamo:url': raw });

    const toSource = await ecamo.get(`/.ecamo/v1/r/${token}`);
    assertRedirectToSource(toSource, href, 'auth-cookie-missing');

    const answer = await ecamo.get(`/.ecamo/v1/r/${token}`, { headers: { cookie: ecamo.cookie } });
    const location = new URL(answer.header('location')!);
    assert.equal(location.pathname, `/.ecamo/v1/p/${urlDigest(href)}`);
    const { payload } = await jwtVerify(location.searchParams.get('t')!, await importJWK(ecamo.ecamoKey.publicJwk, 'ES256'));
    assert.equal(payload['ecamo:url'], href);

    const proxied = await followCanonical(ecamo, answer.header('location')!);
    assert.equal(proxied.status, 200);
    assert.equal(proxied.header('x-ecamo-source'), href);
    assert.equal(requestsFor(href).length, 1);
    assert.equal(requestsFor(href)[0]!.url, `/img.png?n=${counter}`);
  });

  it('exp and nbf are optional, and honoured when present', async () => {
    const now = Math.floor(Date.now() / 1000);
    const get = async (claims: JWTPayload): Promise<Answer> =>
      ecamo.get(`/.ecamo/v1/r/${await urlToken(ecamo, { 'ecamo:url': src('/img.png'), ...claims })}`, { headers: { cookie: ecamo.cookie } });

    assert.equal((await get({})).header('x-ecamo-action'), 'redirect-to-canonical');
    assert.equal((await get({ exp: now + 300, nbf: now - 300 })).header('x-ecamo-action'), 'redirect-to-canonical');
    assertEcamoError(await get({ exp: now - 300 }), 401, 'jwt');
    assertEcamoError(await get({ nbf: now + 300 }), 401, 'jwt');
  });

  it('ecamo:send-token must be a boolean', async () => {
    const token = await urlToken(ecamo, { 'ecamo:url': src('/img.png'), 'ecamo:send-token': 'yes' });
    const answer = await ecamo.get(`/.ecamo/v1/r/${token}`, { headers: { cookie: ecamo.cookie } });
    assert.equal(answer.status, 400);
  });
});

describe('docs/protocol.md §4.3: Authorisation cookie', () => {
  const withCookie = async (target: Ecamo, cookie: string): Promise<Answer> => redirect(target, src('/img.png'), { cookie });

  it('a valid cookie leads to the canonical origin', async () => {
    const answer = await withCookie(ecamo, ecamo.cookie);
    assertNoCache302(answer);
    assert.equal(answer.header('x-ecamo-action'), 'redirect-to-canonical');
  });

  it('exp is required; an expired cookie is refused', async () => {
    const noExp = await new SignJWT({ iss: SERVICE_ORIGIN, aud: CANONICAL_ORIGIN })
      .setProtectedHeader({ alg: 'ES256', kid: ecamo.serviceKey.kid })
      .sign(await serviceKeyOf(ecamo));
    assert.equal((await withCookie(ecamo, `ecamo_token=${noExp}`)).status, 401);
    const expired = await cookieToken(ecamo, { exp: Math.floor(Date.now() / 1000) - 300 });
    assert.equal((await withCookie(ecamo, `ecamo_token=${expired}`)).status, 401);
  });

  it('aud is the canonical origin, as a string or in an array', async () => {
    const inArray = await cookieToken(ecamo, { aud: ['https://other.test', CANONICAL_ORIGIN] });
    assert.equal((await withCookie(ecamo, `ecamo_token=${inArray}`)).header('x-ecamo-action'), 'redirect-to-canonical');
    for (const aud of [OTHER_SCHEME_CANONICAL_ORIGIN, 'http://other.test', ['http://other.test'], SERVICE_ORIGIN]) {
      const token = await cookieToken(ecamo, { aud });
      assert.equal((await withCookie(ecamo, `ecamo_token=${token}`)).status, 401, JSON.stringify(aud));
    }
    const noAud = await cookieToken(ecamo, { aud: undefined });
    assert.equal((await withCookie(ecamo, `ecamo_token=${noAud}`)).status, 401);
  });

  it('iss is the service origin', async () => {
    for (const iss of ['http://other.test', CANONICAL_ORIGIN, undefined]) {
      const token = await cookieToken(ecamo, { iss });
      assert.equal((await withCookie(ecamo, `ecamo_token=${token}`)).status, 401, String(iss));
    }
  });

  it('any other failure is a 401 too (garbage, unknown kid, a URL token as cookie, a proxy token as cookie)', async () => {
    const urlTokenAsCookie = (await ecamo.signer.url(src('/img.png'))).split('/').pop()!;
    const unknownKid = await cookieToken(ecamo, {}, { kid: 'svc-unknown' });
    const proxyToken = new URL((await ecamo.proxyPath(src('/img.png'))), 'http://x').searchParams.get('t')!;
    for (const value of ['garbage', 'a.b.c', '', unknownKid, urlTokenAsCookie, proxyToken]) {
      const answer = await withCookie(ecamo, `ecamo_token=${value}`);
      if (value === '') {
        // An empty cookie is either no cookie or a bad one; never a way in.
        assert.notEqual(answer.header('x-ecamo-action'), 'redirect-to-canonical');
        continue;
      }
      assert.equal(answer.status, 401, value.slice(0, 20));
      assert.match(answer.header('x-ecamo-error')!, /^(invalid-token|jwt|unknown-key)$/);
    }
  });

  it('the cookie name is ECAMO_AUTH_COOKIE when set (default ecamo_token in insecure mode)', async () => {
    assert.equal(ecamo.config.authCookie, 'ecamo_token');
    const custom = await startEcamo({ ECAMO_AUTH_COOKIE: 'img_auth' });
    try {
      const token = await cookieToken(custom, {});
      const good = await withCookie(custom, `other=1; img_auth=${token}`);
      assert.equal(good.header('x-ecamo-action'), 'redirect-to-canonical');
      const defaultName = await withCookie(custom, `ecamo_token=${token}`);
      assert.equal(defaultName.header('x-ecamo-action'), 'redirect-to-source');
      assert.equal(defaultName.header('x-ecamo-reason'), 'auth-cookie-missing');
    } finally {
      await custom.close();
    }
  });
});

describe('docs/protocol.md §6: Redirect endpoint, in order', () => {
  it('403 unallowed-source (SOURCE_ALLOWED_REGEXP / SOURCE_BLOCKED_REGEXP) before Sec-Fetch-Dest and before the cookie', async () => {
    const policy = await startEcamo({
      ECAMO_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${source.port}/`,
      ECAMO_SOURCE_BLOCKED_REGEXP: '/blocked',
    });
    try {
      const allowed = await redirect(policy, src('/img.png'));
      assert.equal(allowed.header('x-ecamo-action'), 'redirect-to-canonical');

      for (const sourceUrl of [`http://localhost:${source.port}/img.png`, src('/blocked/img.png')]) {
        assertEcamoError(await redirect(policy, sourceUrl), 403, 'unallowed-source');
        assertEcamoError(await redirect(policy, sourceUrl, { cookie: null }), 403, 'unallowed-source');
        assertEcamoError(await redirect(policy, sourceUrl, { headers: { 'sec-fetch-dest': 'document' } }), 403, 'unallowed-source');
        assertEcamoError(await redirect(policy, sourceUrl, { cookie: 'ecamo_token=garbage' }), 403, 'unallowed-source');
      }
    } finally {
      await policy.close();
    }
  });

  it('the URL token is verified before the source policy', async () => {
    const policy = await startEcamo({ ECAMO_SOURCE_BLOCKED_REGEXP: '.' });
    try {
      const token = await urlToken(policy, { 'ecamo:url': src('/img.png') }, { kid: 'svc-unknown' });
      assertEcamoError(await policy.get(`/.ecamo/v1/r/${token}`), 401, 'unknown-key');
    } finally {
      await policy.close();
    }
  });

  it('Sec-Fetch-Dest: document → 302 to the source itself, even with a valid cookie', async () => {
    const sourceUrl = src('/img.png');
    const answer = await redirect(ecamo, sourceUrl, { headers: { 'sec-fetch-dest': 'document' } });
    assertRedirectToSource(answer, sourceUrl, 'src-fetch-dest');
    assert.equal(requestsFor(sourceUrl).length, 0);
  });

  it('no auth cookie → 302 to the source itself, whatever the other cookies', async () => {
    const sourceUrl = src('/img.png');
    assertRedirectToSource(await redirect(ecamo, sourceUrl, { cookie: null }), sourceUrl, 'auth-cookie-missing');
    assertRedirectToSource(await redirect(ecamo, sourceUrl, { cookie: 'session=1; ecamo_tokenx=2' }), sourceUrl, 'auth-cookie-missing');
  });

  it('a bad cookie is a 401 only after the source redirects had their chance', async () => {
    const answer = await redirect(ecamo, src('/img.png'), { cookie: 'ecamo_token=garbage' });
    assert.equal(answer.status, 401);
    assert.equal(answer.header('location'), undefined);
  });

  it('success: 302 to {canonical origin}/{ECAMO_PREFIX}/v1/p/{DIGEST}?t={PROXY_TOKEN}', async () => {
    const sourceUrl = src('/img.png');
    const answer = await redirect(ecamo, sourceUrl);
    assertNoCache302(answer);
    assert.equal(answer.header('x-ecamo-action'), 'redirect-to-canonical');
    const location = answer.header('location')!;
    assert.match(location, new RegExp(`^${CANONICAL_ORIGIN.replaceAll('.', '\\.')}/\\.ecamo/v1/p/${urlDigest(sourceUrl)}\\?t=[\\w-]+\\.[\\w-]+\\.[\\w-]+$`));
    assert.equal(requestsFor(sourceUrl).length, 0, 'the redirect endpoint does not fetch');
  });

  it('HEAD is answered like GET, without a body', async () => {
    const path = await ecamo.signer.url(src('/img.png'));
    const answer = await ecamo.get(path, { method: 'HEAD', headers: { cookie: ecamo.cookie } });
    assertNoCache302(answer);
    assert.equal(answer.header('x-ecamo-action'), 'redirect-to-canonical');
    assert.equal(answer.body, '');
  });
});

describe('docs/protocol.md §4.4, §5: Proxy token and digest', () => {
  it('the proxy token: ES256 by ECAMO_SIGNING_KID, iss ecamo:s, aud ecamo:p, iat, nbf, exp = now + ECAMO_TOKEN_LIFETIME, ecamo:svc/url/tok', async () => {
    const first = await generateKey('old');
    const second = await generateKey('new');
    const rotating = await startEcamo({
      ECAMO_PRIVATE_KEYS: JSON.stringify({ old: first.privateJwk, new: second.privateJwk }),
      ECAMO_SIGNING_KID: 'new',
      ECAMO_TOKEN_LIFETIME: '120',
    });
    try {
      for (const sendToken of [false, true]) {
        const sourceUrl = src('/img.png');
        const before = Math.floor(Date.now() / 1000);
        const answer = await redirect(rotating, sourceUrl, { sendToken });
        const after = Math.ceil(Date.now() / 1000);
        const token = new URL(answer.header('location')!).searchParams.get('t')!;

        const header = decodeProtectedHeader(token);
        assert.equal(header.alg, 'ES256');
        assert.equal(header.kid, 'new');
        const { payload } = await jwtVerify(token, await importJWK(second.publicJwk, 'ES256'), {
          issuer: 'ecamo:s',
          audience: 'ecamo:p',
          algorithms: ['ES256'],
        });
        assert.equal(payload.aud, 'ecamo:p');
        assert.ok(payload.iat! >= before && payload.iat! <= after);
        assert.equal(payload.nbf, payload.iat);
        assert.equal(payload.exp, payload.iat! + 120);
        assert.equal(payload['ecamo:svc'], SERVICE_ORIGIN);
        assert.equal(payload['ecamo:url'], sourceUrl);
        assert.equal(payload['ecamo:tok'], sendToken);
      }

      // Every configured key verifies proxy tokens (rotation).
      const oldKey = { kid: 'old', privateKey: (await importJWK(first.privateJwk, 'ES256')) as CryptoKey };
      const sourceUrl = src('/img.png');
      const token = await signProxyToken({ url: sourceUrl, serviceOrigin: SERVICE_ORIGIN, sendToken: false }, oldKey, 60);
      const answer = await rotating.get(`/.ecamo/v1/p/${urlDigest(sourceUrl)}?t=${token}`, { host: CANONICAL_HOST });
      assert.equal(answer.status, 200);
    } finally {
      await rotating.close();
    }
  });

  it('ECAMO_TOKEN_LIFETIME defaults to 45 seconds', async () => {
    const answer = await redirect(ecamo, src('/img.png'));
    const { payload } = await jwtVerify(new URL(answer.header('location')!).searchParams.get('t')!, await importJWK(ecamo.ecamoKey.publicJwk, 'ES256'));
    assert.equal(payload.exp! - payload.iat!, 45);
  });

  it('DIGEST: SHA-384 of the UTF-8 URL, base64url without padding (docs/protocol.md §5 test vector)', () => {
    const digest = urlDigest('http://upstream.test.invalid/test');
    assert.equal(digest, '4NDjngsnmTsgtuEwT-xuia33YXiYq3j_4zm4XRawQwYAhbdlcbe4HybG-iDuY2pI');
    assert.equal(digest.length, 64);
  });
});

describe('docs/protocol.md §7: Proxy endpoint, in order', () => {
  it('1. the Host must be exactly ECAMO_CANONICAL_HOST: otherwise 404', async () => {
    const path = await ecamo.proxyPath(src('/img.png'));
    for (const host of [SERVICE_HOST, 'ecamo.test:80', 'other.test']) {
      assertEcamoError(await ecamo.get(path, { host }), 404, 'not-found');
    }
    assertEcamoError(await ecamo.get(`/.ecamo/v1/p/garbage?t=garbage`, { host: SERVICE_HOST }), 404, 'not-found');
  });

  it('2. the proxy token must verify against ecamo keys (iss ecamo:s, aud ecamo:p, not expired): otherwise 401', async () => {
    const sourceUrl = src('/img.png');
    const digest = urlDigest(sourceUrl);
    const key = ecamo.config.ecamoKeys.signing;
    const claims = { url: sourceUrl, serviceOrigin: SERVICE_ORIGIN, sendToken: false };
    const expired = await signProxyToken(claims, key, 45, Math.floor(Date.now() / 1000) - 3600);
    const ecamoKey = key.privateKey;
    const wrongIss = await new SignJWT({ 'ecamo:url': sourceUrl, 'ecamo:svc': SERVICE_ORIGIN })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid })
      .setIssuer('ecamo:x')
      .setAudience('ecamo:p')
      .setExpirationTime('1m')
      .sign(ecamoKey);
    const wrongAud = await new SignJWT({ 'ecamo:url': sourceUrl, 'ecamo:svc': SERVICE_ORIGIN })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid })
      .setIssuer('ecamo:s')
      .setAudience(SERVICE_ORIGIN)
      .setExpirationTime('1m')
      .sign(ecamoKey);
    const noExp = await new SignJWT({ 'ecamo:url': sourceUrl, 'ecamo:svc': SERVICE_ORIGIN })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid })
      .setIssuer('ecamo:s')
      .setAudience('ecamo:p')
      .sign(ecamoKey);
    const bySomeoneElse = await signProxyToken(claims, { kid: key.kid, privateKey: (await importJWK((await generateKey()).privateJwk, 'ES256')) as CryptoKey }, 45);
    const byService = await signProxyToken(claims, { kid: ecamo.serviceKey.kid, privateKey: await serviceKeyOf(ecamo) }, 45);
    const urlTokenInstead = (await ecamo.signer.url(sourceUrl)).split('/').pop()!;

    const paths = [
      `/.ecamo/v1/p/${digest}`,
      `/.ecamo/v1/p/${digest}?t=`,
      `/.ecamo/v1/p/${digest}?t=garbage`,
      `/.ecamo/v1/p/${digest}?t=a.b.c`,
      ...[expired, wrongIss, wrongAud, noExp, bySomeoneElse, byService, urlTokenInstead].map((t) => `/.ecamo/v1/p/${digest}?t=${t}`),
    ];
    for (const path of paths) {
      const answer = await ecamo.get(path, { host: CANONICAL_HOST });
      assert.equal(answer.status, 401, path.slice(0, 120));
      assert.match(answer.header('x-ecamo-error')!, /^(invalid-token|jwt|unknown-key)$/);
      assert.equal(answer.body, `Error: ${answer.header('x-ecamo-error')}`);
    }
    // A bad token wins over a bad digest.
    assert.equal((await ecamo.get('/.ecamo/v1/p/not=canonical?t=garbage', { host: CANONICAL_HOST })).status, 401);
    assert.equal(requestsFor(sourceUrl).length, 0);
  });

  it('3. source policy again: 403 unallowed-source, before the digest is checked', async () => {
    // A proxy token is valid, yet names a source the operator blocks (e.g. blocked after it was issued).
    const blocking = await startEcamo({ ECAMO_SOURCE_BLOCKED_REGEXP: '/img\\.png' });
    try {
      const sourceUrl = src('/img.png');
      const path = await blocking.proxyPath(sourceUrl);
      assertEcamoError(await blocking.get(path, { host: CANONICAL_HOST }), 403, 'unallowed-source');
      const badDigest = path.replace(urlDigest(sourceUrl), 'AAAA=');
      assertEcamoError(await blocking.get(badDigest, { host: CANONICAL_HOST }), 403, 'unallowed-source');
      assert.equal(requestsFor(sourceUrl).length, 0);
    } finally {
      await blocking.close();
    }
  });

  it('4. DIGEST must be canonical unpadded base64url (400 bad-request) and the SHA-384 of the URL (401 invalid-token)', async () => {
    const sourceUrl = src('/img.png');
    const path = await ecamo.proxyPath(sourceUrl);
    const digest = urlDigest(sourceUrl);
    const withDigest = (d: string): string => path.replace(`/p/${digest}?`, `/p/${d}?`);

    const short = Buffer.from(digest, 'base64url').subarray(0, 47).toString('base64url');
    assert.equal(short.length, 63);
    const malformed = [
      `${digest}==`,
      `${digest}=`,
      `${short}=`,
      `${digest}A`, // 65 characters: no base64 string has this length
      `${digest.slice(0, 63)}+`, // the standard alphabet
      `${digest.slice(0, 63)}%2B`,
      `${digest.slice(0, 63)}.`,
      withTrailingBits(short), // decodes leniently to the same bytes as `short`
    ];
    for (const bad of malformed) {
      assertEcamoError(await ecamo.get(withDigest(bad), { host: CANONICAL_HOST }), 400, 'bad-request');
    }

    const mismatched = [
      urlDigest(`${sourceUrl}x`), // another URL's digest
      urlDigest(sourceUrl.replace('127.0.0.1', 'localhost')),
      short, // canonical and decodes, but is no SHA-384
      'AAAA',
    ];
    for (const other of mismatched) {
      assertEcamoError(await ecamo.get(withDigest(other), { host: CANONICAL_HOST }), 401, 'invalid-token');
    }
    assert.equal(requestsFor(sourceUrl).length, 0);
    assert.equal((await ecamo.get(path, { host: CANONICAL_HOST })).status, 200);
  });

  it('5. Sec-Fetch-Dest: document → 302 to the source, which is not fetched', async () => {
    const sourceUrl = src('/img.png');
    const answer = await proxy(ecamo, sourceUrl, { headers: { 'sec-fetch-dest': 'document' } });
    assertRedirectToSource(answer, sourceUrl, 'src-fetch-dest');
    assert.equal(requestsFor(sourceUrl).length, 0);
    // Any other destination is an image load.
    assert.equal((await proxy(ecamo, sourceUrl, { headers: { 'sec-fetch-dest': 'image' } })).status, 200);
  });

  it('6. the whole flow: redirect endpoint, then the canonical URL streams the source', async () => {
    const sourceUrl = src('/img.png');
    const first = await redirect(ecamo, sourceUrl);
    const answer = await followCanonical(ecamo, first.header('location')!);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, PNG);
    assert.equal(requestsFor(sourceUrl).length, 1);
  });
});

describe('docs/protocol.md §8: Fetching the source', () => {
  it('GET with Accept-Encoding: identity, Via: 1.1 ecamo and the client Accept; nothing else from the client', async () => {
    const sourceUrl = src('/img.png');
    const answer = await proxy(ecamo, sourceUrl, {
      headers: {
        accept: 'image/avif,image/webp,*/*',
        'accept-encoding': 'gzip, br',
        'accept-language': 'de',
        cookie: 'ecamo_token=client-cookie',
        authorization: 'Bearer client-secret',
        'user-agent': 'client-agent',
        referer: 'http://wiki.test/page',
        'x-forwarded-for': '10.0.0.1',
        'x-custom': 'client',
      },
    });
    assert.equal(answer.status, 200);
    const [seen] = requestsFor(sourceUrl);
    assert.ok(seen !== undefined);
    assert.equal(seen.method, 'GET');
    assert.equal(seen.headers['accept-encoding'], 'identity');
    assert.equal(seen.headers.via, '1.1 ecamo');
    assert.equal(seen.headers.accept, 'image/avif,image/webp,*/*');
    for (const name of Object.keys(seen.headers)) {
      assert.ok(['host', 'connection', 'accept', 'accept-encoding', 'via'].includes(name), `source received ${name}`);
    }
    assert.equal(seen.headers.host, `127.0.0.1:${source.port}`);
  });

  it('HEAD from the client is a GET to the source', async () => {
    const sourceUrl = src('/img.png');
    const answer = await proxy(ecamo, sourceUrl, { method: 'HEAD' });
    assert.equal(answer.status, 200);
    assert.equal(answer.header('content-type'), 'image/png');
    assert.equal(answer.header('content-length'), String(Buffer.byteLength(PNG)));
    assert.equal(answer.body, '');
    assert.equal(requestsFor(sourceUrl)[0]!.method, 'GET');
  });

  it('without ecamo:send-token, no Authorization reaches the source', async () => {
    const sourceUrl = src('/img.png');
    const first = await redirect(ecamo, sourceUrl, { sendToken: false });
    await followCanonical(ecamo, first.header('location')!, { headers: { authorization: 'Bearer client' } });
    assert.equal(requestsFor(sourceUrl)[0]!.headers.authorization, undefined);
  });

  it('with ecamo:send-token: Authorization: Bearer <anonymous ID token> signed by ecamo (verified with the JWKS)', async () => {
    const sourceUrl = src('/img.png');
    const first = await redirect(ecamo, sourceUrl, { sendToken: true });
    const before = Math.floor(Date.now() / 1000);
    const answer = await followCanonical(ecamo, first.header('location')!, { headers: { authorization: 'Bearer client' } });
    const after = Math.ceil(Date.now() / 1000);
    assert.equal(answer.status, 200);

    const authorization = requestsFor(sourceUrl)[0]!.headers.authorization!;
    assert.match(authorization, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    const jwks = JSON.parse((await ecamo.get('/.well-known/jwks.json', { host: CANONICAL_HOST })).body) as { keys: JWK[] };
    const { payload, protectedHeader } = await jwtVerify(authorization.slice('Bearer '.length), createLocalJWKSet({ keys: jwks.keys }), {
      issuer: CANONICAL_ORIGIN,
      audience: source.origin,
      subject: 'anonymous',
      algorithms: ['ES256'],
    });
    assert.equal(protectedHeader.kid, ecamo.ecamoKey.kid);
    assert.equal(payload.iss, CANONICAL_ORIGIN);
    assert.equal(payload.sub, 'anonymous');
    assert.equal(payload.aud, source.origin);
    assert.ok(payload.iat! >= before && payload.iat! <= after);
    assert.equal(payload.exp, payload.iat! + 45);
    assert.equal(payload['ecamo:svc'], SERVICE_ORIGIN);
    // It says nothing about the user.
    for (const claim of Object.keys(payload)) assert.ok(['iss', 'sub', 'aud', 'iat', 'exp', 'jti', 'ecamo:svc'].includes(claim), claim);
  });

  it('ECAMO_MAX_REDIRECTS defaults to 0: a source redirect is a 400 source-response', async () => {
    const sourceUrl = src('/hop/1');
    const answer = await proxy(ecamo, sourceUrl);
    assert.equal(answer.status, 400);
    assert.equal(answer.header('x-ecamo-error'), 'source-response');
    assert.equal(requestsFor(sourceUrl).length, 1);
  });

  it('ECAMO_MAX_REDIRECTS=N follows N hops, not N+1', async () => {
    const following = await startEcamo({ ECAMO_MAX_REDIRECTS: '2' });
    try {
      const two = await proxy(following, src('/hop/2'));
      assert.equal(two.status, 200);
      assert.equal(two.body, PNG);
      const three = await proxy(following, src('/hop/3'));
      assert.equal(three.status, 400);
      assert.equal(three.header('x-ecamo-error'), 'source-response');
      assert.equal(three.header('x-ecamo-error-origin'), 'source');
    } finally {
      await following.close();
    }
  });

  it('each redirect hop is checked for private addresses and against the allow/block regexps (our addition)', async () => {
    const other = await startSource((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
    const following = await startEcamo({
      ECAMO_MAX_REDIRECTS: '1',
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:(${source.port}|${other.port})/`,
      ECAMO_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${source.port}/`,
      ECAMO_SOURCE_BLOCKED_REGEXP: '/blocked',
    });
    try {
      // Private, and not allowed to be: refused at connect time.
      const refused = await proxy(following, src(`/to?u=${encodeURIComponent(`http://localhost:${other.port}/img.png`)}`));
      assertEcamoError(refused, 403, 'unallowed-source');
      assert.equal(other.requests.length, 0);
      // Outside SOURCE_ALLOWED and inside SOURCE_BLOCKED: a hop is refused like a first URL, and receives nothing.
      const hop = await proxy(following, src(`/to?u=${encodeURIComponent(`${other.origin}/blocked.png`)}`));
      assertEcamoError(hop, 403, 'unallowed-source');
      assert.equal(other.requests.length, 0);
    } finally {
      await following.close();
      await other.close();
    }
  });

  it('a private source address is refused (403 unallowed-source) unless PRIVATE_SOURCE_ALLOWED_REGEXP matches', async () => {
    const guarded = await startEcamo({ ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '' });
    try {
      for (const sourceUrl of [src('/img.png'), `http://localhost:${source.port}/img.png?n=${++counter}`]) {
        assertEcamoError(await proxy(guarded, sourceUrl), 403, 'unallowed-source');
        assert.equal(requestsFor(sourceUrl).length, 0);
      }
    } finally {
      await guarded.close();
    }
  });

  it('ECAMO_TIMEOUT bounds the fetch: 502 or 504 source-request', async () => {
    const impatient = await startEcamo({ ECAMO_TIMEOUT: '1' });
    try {
      const answer = await proxy(impatient, src('/hang'));
      assert.ok(answer.status === 502 || answer.status === 504, `status ${answer.status}`);
      assert.equal(answer.header('x-ecamo-error'), 'source-request');
      assert.equal(answer.body, 'Error: source-request');
    } finally {
      await impatient.close();
    }
  });

  it('ECAMO_TIMEOUT covers every hop: a redirect to a source that never answers is 504', { timeout: 15_000 }, async () => {
    const impatient = await startEcamo({ ECAMO_TIMEOUT: '1', ECAMO_MAX_REDIRECTS: '1' });
    try {
      assertEcamoError(await proxy(impatient, src(`/to?u=${encodeURIComponent(src('/hang'))}`)), 504, 'source-request');
    } finally {
      await impatient.close();
    }
  });

  it('ECAMO_TIMEOUT covers the body: a source that stalls mid-body is cut off', { timeout: 15_000 }, async () => {
    const impatient = await startEcamo({ ECAMO_TIMEOUT: '1' });
    const stalling = await startSource((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 100 });
      res.write(Buffer.alloc(10, 'x')); // and never the other 90 bytes
    });
    try {
      const cut = await proxy(impatient, `${stalling.origin}/stall.png`).then(
        () => 'completed',
        (error: Error) => error.name,
      );
      assert.notEqual(cut, 'completed');
    } finally {
      await Promise.all([impatient.close(), stalling.close()]);
    }
  });

  it('a connect failure (closed port on 127.0.0.1) is 502 source-request', async () => {
    const closed = await startSource(() => {});
    const closedPort = closed.port;
    await closed.close();
    assertEcamoError(await proxy(ecamo, `http://127.0.0.1:${closedPort}/img.png`), 502, 'source-request');
  });
});

describe('docs/protocol.md §9: Proxy response', () => {
  it('200: the body streams through with the passed and added headers, and nothing else', async () => {
    const sourceUrl = src('/img.png');
    const answer = await proxy(ecamo, sourceUrl);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, PNG);
    assert.equal(answer.header('content-type'), 'image/png');
    assert.equal(answer.header('content-length'), String(Buffer.byteLength(PNG)));
    assert.equal(answer.header('etag'), '"v1"');
    assert.equal(answer.header('expires'), 'Wed, 21 Oct 2037 07:28:00 GMT');
    assert.equal(answer.header('last-modified'), 'Wed, 21 Oct 2015 07:28:00 GMT');
    assert.equal(answer.header('vary'), 'Accept');
    assert.equal(answer.header('cache-control'), 'public, max-age=60');
    assert.equal(answer.header('x-ecamo-action'), 'proxy-source');
    assert.equal(answer.header('x-ecamo-source'), sourceUrl);
    assert.equal(answer.header('x-frame-options'), 'deny');
    assert.equal(answer.header('x-content-type-options'), 'nosniff');
    assert.equal(answer.header('content-security-policy'), CSP);
    assert.equal(answer.header('surrogate-control'), undefined, 'only when ECAMO_DEFAULT_SURROGATE_CONTROL is set');
    for (const name of Object.keys(answer.headers)) assert.ok(PROXY_200_HEADERS.has(name), `unexpected header ${name}`);
    for (const name of Object.keys(SOURCE_EXTRAS)) assert.equal(answer.header(name), undefined, name);
  });

  it('cache-control defaults to ECAMO_DEFAULT_CACHE_CONTROL (public, max-age=3600); absent source headers stay absent', async () => {
    const answer = await proxy(ecamo, src('/bare.png'));
    assert.equal(answer.status, 200);
    assert.equal(answer.header('cache-control'), 'public, max-age=3600');
    for (const name of ['etag', 'expires', 'last-modified', 'vary', 'surrogate-control']) assert.equal(answer.header(name), undefined, name);
  });

  it('ECAMO_DEFAULT_CACHE_CONTROL, its old spelling DEFUALT, and ECAMO_DEFAULT_SURROGATE_CONTROL', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ ECAMO_DEFAULT_CACHE_CONTROL: 'private, max-age=7' }, 'private, max-age=7'],
      [{ ECAMO_DEFUALT_CACHE_CONTROL: 'public, max-age=8' }, 'public, max-age=8'],
    ];
    for (const [env, expected] of cases) {
      const configured = await startEcamo({ ...env, ECAMO_DEFAULT_SURROGATE_CONTROL: 'max-age=86400' });
      try {
        const answer = await proxy(configured, src('/bare.png'));
        assert.equal(answer.header('cache-control'), expected);
        assert.equal(answer.header('surrogate-control'), 'max-age=86400');
        // The source's own cache-control still wins.
        assert.equal((await proxy(configured, src('/img.png'))).header('cache-control'), 'public, max-age=60');
      } finally {
        await configured.close();
      }
    }
  });

  it('Content-Length over ECAMO_MAX_LENGTH: 403 source-response-too-large; equal passes', async () => {
    const small = await startEcamo({ ECAMO_MAX_LENGTH: '100' });
    try {
      assertEcamoError(await proxy(small, src('/length/101')), 403, 'source-response-too-large');
      const exact = await proxy(small, src('/length/100'));
      assert.equal(exact.status, 200);
      assert.equal(exact.bytes.length, 100);
    } finally {
      await small.close();
    }
    assertEcamoError(await proxy(ecamo, src('/length/5242881')), 403, 'source-response-too-large');
  });

  it('without Content-Length, the stream stops at ECAMO_MAX_LENGTH and the client sees a cut-off body', async () => {
    const small = await startEcamo({ ECAMO_MAX_LENGTH: '100' });
    try {
      const path = await small.proxyPath(src('/chunked/100'));
      const answer = await fetchCutOff(`${small.url}${path}`, CANONICAL_HOST);
      assert.equal(answer.status, 200);
      assert.equal(answer.complete, false, 'a cut body must not look complete');
      assert.ok(answer.bytes.equals(Buffer.concat([Buffer.alloc(60, 'a'), Buffer.alloc(40, 'b')])), `received ${answer.bytes.length} bytes`);

      const fits = await fetchCutOff(`${small.url}${await small.proxyPath(src('/chunked/40'))}`, CANONICAL_HOST);
      assert.equal(fits.complete, true);
      assert.equal(fits.bytes.length, 100);
    } finally {
      await small.close();
    }
  });

  it('Content-Type missing, not allowed, or not one media type: 403 unallowed-content-type', async () => {
    const refused = [
      undefined,
      'text/html',
      'image/png, text/html',
      'text/html, image/png',
      'image/svg', // not svg+xml
      'image',
      'image/png; charset',
      'application/octet-stream',
      '',
    ];
    for (const type of refused) {
      const path = type === undefined ? '/type' : `/type?t=${encodeURIComponent(type)}`;
      const answer = await proxy(ecamo, src(path));
      assertEcamoError(answer, 403, 'unallowed-content-type');
    }
  });

  it('the default allow-list holds the common image types, sent back normalised', async () => {
    const served: [string, string][] = [
      ['image/png; charset=x', 'image/png'],
      ['IMAGE/PNG', 'image/png'],
      ['image/avif', 'image/avif'],
      ['image/bmp', 'image/bmp'],
      ['image/gif', 'image/gif'],
      ['image/heic', 'image/heic'],
      ['image/heif', 'image/heif'],
      ['image/x-icon', 'image/x-icon'],
      ['image/vnd.microsoft.icon', 'image/vnd.microsoft.icon'],
      ['image/jpeg', 'image/jpeg'],
      ['image/svg+xml; charset=utf-8', 'image/svg+xml'],
      ['image/tiff', 'image/tiff'],
      ['image/webp', 'image/webp'],
    ];
    for (const [given, expected] of served) {
      const answer = await proxy(ecamo, src(`/type?t=${encodeURIComponent(given)}`));
      assert.equal(answer.status, 200, given);
      assert.equal(answer.header('content-type'), expected, given);
    }
  });

  it('ECAMO_CONTENT_TYPE_ALLOWED replaces the list', async () => {
    const custom = await startEcamo({ ECAMO_CONTENT_TYPE_ALLOWED: 'image/png, application/pdf' });
    try {
      assert.equal((await proxy(custom, src('/type?t=application%2Fpdf'))).header('content-type'), 'application/pdf');
      assert.equal((await proxy(custom, src('/type?t=image%2Fpng'))).status, 200);
      assertEcamoError(await proxy(custom, src('/type?t=image%2Fgif')), 403, 'unallowed-content-type');
    } finally {
      await custom.close();
    }
  });

  it('source 4xx/5xx: same status; plain-text body; the source body never passes; no-store but for a 404/410 with its own cache-control', async () => {
    for (const status of [400, 403, 404, 410, 429, 500, 503]) {
      const answer = await proxy(ecamo, src(`/status/${status}`));
      assert.equal(answer.status, status);
      assert.equal(answer.body, `${status} (from upstream)`);
      assert.equal(answer.header('content-type'), 'text/plain');
      assert.equal(answer.header('x-ecamo-error'), 'source-response');
      assert.equal(answer.header('x-ecamo-error-origin'), 'source');
      assert.equal(answer.header('cache-control'), status === 404 || status === 410 ? 'max-age=5' : 'no-store');
      assert.equal(answer.header('expires'), 'Wed, 21 Oct 2037 07:28:00 GMT');
      assert.equal(answer.header('last-modified'), 'Wed, 21 Oct 2015 07:28:00 GMT');
      assert.equal(answer.header('vary'), 'Accept');
      assert.equal(answer.header('etag'), undefined);
      for (const name of Object.keys(SOURCE_EXTRAS)) assert.equal(answer.header(name), undefined, name);
    }
  });

  it('other non-200 source statuses (204, 206, 301, 304) become 400', async () => {
    for (const status of [201, 204, 206, 301, 304]) {
      const answer = await proxy(ecamo, src(`/status/${status}`));
      assert.equal(answer.status, 400, String(status));
      assert.ok(answer.body.startsWith(`${status} (from upstream`), answer.body);
      assert.equal(answer.header('content-type'), 'text/plain');
      assert.equal(answer.header('x-ecamo-error'), 'source-response');
      assert.equal(answer.header('x-ecamo-error-origin'), 'source');
      assert.equal(answer.header('etag'), undefined);
      assert.equal(answer.header('location'), undefined);
    }
  });

  it('a source error without cache-control is no-store, not the image default (our addition)', async () => {
    const answer = await proxy(ecamo, src('/status-bare/404'));
    assert.equal(answer.status, 404);
    assert.equal(answer.body, '404 (from upstream)');
    assert.equal(answer.header('cache-control'), 'no-store');
  });

  it('only GET and HEAD: anything else is 405 with Allow', async () => {
    const path = await ecamo.proxyPath(src('/img.png'));
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const) {
      const answer = await ecamo.get(path, { host: CANONICAL_HOST, method });
      assert.equal(answer.status, 405, method);
      assert.match(answer.header('allow')!, /^GET, HEAD$/);
    }
    const redirectPath = await ecamo.signer.url(src('/img.png'));
    const post = await ecamo.get(redirectPath, { method: 'POST', headers: { cookie: ecamo.cookie } });
    assert.equal(post.status, 405);
    assert.equal(post.header('allow'), 'GET, HEAD');
  });

  it('a request already carrying ecamo Via is refused as a loop', async () => {
    const sourceUrl = src('/img.png');
    for (const via of ['1.1 ecamo', '1.0 proxy.corp, 1.1 ecamo']) {
      for (const answer of [await proxy(ecamo, sourceUrl, { headers: { via } }), await redirect(ecamo, sourceUrl, { headers: { via } })]) {
        assert.ok(answer.status >= 400 && answer.status < 500, `status ${answer.status}`);
        assert.equal(answer.header('x-ecamo-error'), 'loop-detected');
        assert.equal(answer.header('location'), undefined);
      }
    }
    assert.equal(requestsFor(sourceUrl).length, 0);
    // Someone else's Via is no loop.
    assert.equal((await proxy(ecamo, sourceUrl, { headers: { via: '1.1 varnish' } })).status, 200);

    // ecamo pointed at itself: the inner request is refused as a loop (400; without the Via check
    // it would be a 404, as it arrives with Host 127.0.0.1:port), the outer one reports that source error.
    const looped = await proxy(ecamo, `${ecamo.url}${await ecamo.proxyPath(src('/img.png'))}`);
    assert.equal(looped.status, 400);
    assert.equal(looped.header('x-ecamo-error'), 'source-response');
    assert.equal(looped.body, '400 (from upstream)');
  });

  it('JWKS at /.well-known/jwks.json on the canonical host: public fields only', async () => {
    const answer = await ecamo.get('/.well-known/jwks.json', { host: CANONICAL_HOST });
    assert.equal(answer.status, 200);
    assert.match(answer.header('content-type')!, /json/);
    const { keys } = JSON.parse(answer.body) as { keys: Record<string, unknown>[] };
    assert.equal(keys.length, 1);
    const [key] = keys;
    assert.deepEqual(Object.keys(key!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    assert.equal(key!.kid, ecamo.ecamoKey.kid);
    assert.equal(key!.x, ecamo.ecamoKey.publicJwk.x);
    assert.equal('d' in key!, false);
    assert.equal(answer.body.includes(String(ecamo.ecamoKey.privateJwk.d)), false);
    // Only the canonical origin speaks for ecamo.
    assert.equal((await ecamo.get('/.well-known/jwks.json', { host: SERVICE_HOST })).status, 404);
  });
});

describe('docs/protocol.md §10: Error codes', () => {
  it('each code has its status, x-ecamo-error and body "Error: <code>"', async () => {
    const restricted = await startEcamo({
      ECAMO_SERVICE_HOST_REGEXP: '^wiki\\.test$',
      ECAMO_SOURCE_BLOCKED_REGEXP: '/blocked',
      ECAMO_MAX_LENGTH: '10',
    });
    try {
      const onCanonical = async (sourceUrl: string): Promise<Answer> => proxy(restricted, sourceUrl);
      const sourceUrl = src('/img.png');
      const now = Math.floor(Date.now() / 1000);
      const cases: [string, number, () => Promise<Answer>][] = [
        ['bad-request', 400, async () => restricted.get((await restricted.proxyPath(sourceUrl)).replace(/\/p\/[^?]+/, '/p/AAAA='), { host: CANONICAL_HOST })],
        ['missing-claim', 400, async () => restricted.get(`/.ecamo/v1/r/${await urlToken(restricted, {})}`)],
        ['url', 400, async () => restricted.get(`/.ecamo/v1/r/${await urlToken(restricted, { 'ecamo:url': 'gopher://x/' })}`)],
        ['token-deserialization', 400, async () => restricted.get('/.ecamo/v1/r/garbage')],
        ['invalid-token', 401, async () => restricted.get(`/.ecamo/v1/p/${urlDigest(sourceUrl)}?t=garbage`, { host: CANONICAL_HOST })],
        ['jwt', 401, async () => restricted.get(`/.ecamo/v1/r/${await urlToken(restricted, { 'ecamo:url': sourceUrl, exp: now - 300 })}`)],
        ['unknown-key', 401, async () => restricted.get(`/.ecamo/v1/r/${await urlToken(restricted, { 'ecamo:url': sourceUrl }, { kid: 'nope' })}`)],
        ['unallowed-service-host', 403, async () => restricted.get('/.ecamo/v1/r/garbage', { host: 'evil.test' })],
        ['unallowed-source', 403, async () => redirect(restricted, src('/blocked.png'))],
        ['source-response-too-large', 403, async () => onCanonical(src('/length/11'))],
        ['unallowed-content-type', 403, async () => onCanonical(src('/type?t=text%2Fhtml'))],
        ['source-request', 502, async () => onCanonical('http://127.0.0.1:1/img.png')],
      ];
      for (const [code, status, make] of cases) {
        const answer = await make();
        assertEcamoError(answer, status, code);
        assert.match(answer.header('content-type')!, /^text\/plain/, code);
      }
    } finally {
      await restricted.close();
    }
  });
});

describe('docs/protocol.md §11: Configuration as the protocol sees it (secure mode)', () => {
  let secure: Ecamo;
  let key: GeneratedKey;
  const HTTPS_SERVICE = `https://${SERVICE_HOST}`;
  const HTTPS_CANONICAL = `https://${CANONICAL_HOST}`;

  before(async () => {
    key = await generateKey('svc-s');
    secure = await startEcamo({
      ECAMO_INSECURE: 'false',
      ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`${HTTPS_SERVICE} svc-s`]: key.publicJwk }),
    });
  });
  after(() => secure.close());

  it('without ECAMO_INSECURE the service origin is https and the cookie is __Host-ecamo_token', async () => {
    assert.equal(secure.config.authCookie, '__Host-ecamo_token');
    const signer = await createSigner({ origin: HTTPS_SERVICE, kid: 'svc-s', privateJwk: key.privateJwk });
    const cookie = await signer.authCookie({ canonicalOrigin: HTTPS_CANONICAL, ttlSeconds: 600 });
    assert.equal(cookie.name, '__Host-ecamo_token');

    const sourceUrl = src('/img.png');
    const path = await signer.url(sourceUrl, { sendToken: true });
    const answer = await secure.get(path, { headers: { cookie: `__Host-ecamo_token=${cookie.token}` } });
    assertNoCache302(answer);
    assert.equal(answer.header('x-ecamo-action'), 'redirect-to-canonical');
    const location = new URL(answer.header('location')!);
    assert.equal(location.origin, HTTPS_CANONICAL);

    // The insecure-mode name is no auth cookie here.
    const wrongName = await secure.get(path, { headers: { cookie: `ecamo_token=${cookie.token}` } });
    assertRedirectToSource(wrongName, sourceUrl, 'auth-cookie-missing');

    // iss http://wiki.test is not the https service origin; aud http://ecamo.test is not the canonical origin.
    const privateKey = (await importJWK(key.privateJwk, 'ES256')) as CryptoKey;
    const httpIss = await new SignJWT({ iss: `http://${SERVICE_HOST}`, 'ecamo:url': sourceUrl }).setProtectedHeader({ alg: 'ES256', kid: 'svc-s' }).sign(privateKey);
    assertEcamoError(await secure.get(`/.ecamo/v1/r/${httpIss}`, { headers: { cookie: `__Host-ecamo_token=${cookie.token}` } }), 401, 'jwt');
    const httpAud = await new SignJWT({ iss: HTTPS_SERVICE, aud: `http://${CANONICAL_HOST}` })
      .setProtectedHeader({ alg: 'ES256', kid: 'svc-s' })
      .setExpirationTime('5m')
      .sign(privateKey);
    assert.equal((await secure.get(path, { headers: { cookie: `__Host-ecamo_token=${httpAud}` } })).status, 401);

    // The proxy token carries the https service origin; the ID token is issued by https://canonical.
    const { payload } = await jwtVerify(location.searchParams.get('t')!, await importJWK(secure.ecamoKey.publicJwk, 'ES256'));
    assert.equal(payload['ecamo:svc'], HTTPS_SERVICE);
    const proxied = await secure.get(location.pathname + location.search, { host: CANONICAL_HOST });
    assert.equal(proxied.status, 200);
    const authorization = requestsFor(sourceUrl)[0]!.headers.authorization!;
    const idToken = await jwtVerify(authorization.slice('Bearer '.length), await importJWK(secure.ecamoKey.publicJwk, 'ES256'), {
      issuer: HTTPS_CANONICAL,
      audience: source.origin,
    });
    assert.equal(idToken.payload['ecamo:svc'], HTTPS_SERVICE);
  });
});
