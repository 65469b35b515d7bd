/**
 * route(): what each request target asks for. The router is the only place
 * tokens are cut out of a request, so it is pinned here for every route and
 * for the malformed targets a client can send: it never decodes percent
 * escapes, never resolves dot segments, and cuts the path at the first `?`.
 * Whatever it hands on is checked again by its handler (a token by the
 * verifier, a digest by assertDigestMatches). Methods are not the router's
 * business (it sees only the target): dispatch refuses them, as
 * test/http/hostile-requests.test.ts shows on every path.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { route, type Route } from '../../src/http/router.js';

const DIGEST = 'x'.repeat(64);
const NONE: Route = { kind: 'none' };

function assertRoutes(cases: readonly (readonly [string, Route])[]): void {
  for (const [target, expected] of cases) assert.deepEqual(route(target), expected, JSON.stringify(target.slice(0, 120)));
}

describe('route', () => {
  test('the fixed paths, with or without a query', () => {
    assertRoutes([
      ['/', { kind: 'index' }],
      ['/?anything=1', { kind: 'index' }],
      ['/healthz', { kind: 'health' }],
      ['/healthz?', { kind: 'health' }],
      ['/.well-known/jwks.json', { kind: 'jwks' }],
      ['/.well-known/jwks.json?x=1', { kind: 'jwks' }],
    ]);
  });

  test('the fixed paths match exactly: no other case, trailing slash or extra segment', () => {
    assertRoutes([
      ['/healthz/', NONE],
      ['/HEALTHZ', NONE],
      ['//healthz', NONE],
      // Two segments are the camo form; the camo handler refuses a digest that is none.
      ['/healthz/x', { kind: 'camo', digest: 'healthz', url: { in: 'path', text: 'x' } }],
      ['/.well-known/%6Awks.json', { kind: 'camo', digest: '.well-known', url: { in: 'path', text: '%6Awks.json' } }],
      ['/.well-known/jwks.json/', NONE],
      ['/.well-known//jwks.json', NONE],
      ['/.well-known/./jwks.json', NONE],
      ['', NONE],
      ['*', NONE],
      ['http://evil.test/', NONE],
      ['http://evil.test/healthz', NONE],
    ]);
  });

  test('redirect: /{any prefix}/v1/r/{token}, the token as sent', () => {
    assertRoutes([
      ['/ecamo/v1/r/abc.def.ghi', { kind: 'redirect', token: 'abc.def.ghi' }],
      ['/other-prefix/v1/r/abc', { kind: 'redirect', token: 'abc' }],
      ['/ecamo/v1/r/abc?t=zzz&x=1', { kind: 'redirect', token: 'abc' }],
      ['/ecamo/v1/r/abc?def/ghi', { kind: 'redirect', token: 'abc' }],
    ]);
  });

  test('proxy: /{any prefix}/v1/p/{digest}?t={token}, the first t, query-decoded', () => {
    assertRoutes([
      [`/ecamo/v1/p/${DIGEST}?t=a.b.c`, { kind: 'proxy', digest: DIGEST, token: 'a.b.c' }],
      [`/ecamo/v1/p/${DIGEST}`, { kind: 'proxy', digest: DIGEST, token: undefined }],
      [`/ecamo/v1/p/${DIGEST}?`, { kind: 'proxy', digest: DIGEST, token: undefined }],
      [`/ecamo/v1/p/${DIGEST}?t=`, { kind: 'proxy', digest: DIGEST, token: '' }],
      [`/ecamo/v1/p/${DIGEST}?x=1&t=first&t=second`, { kind: 'proxy', digest: DIGEST, token: 'first' }],
      [`/ecamo/v1/p/${DIGEST}?T=upper`, { kind: 'proxy', digest: DIGEST, token: undefined }],
      // Query decoding: a token is base64url, so these only ever turn a forgery into another forgery.
      [`/ecamo/v1/p/${DIGEST}?t=a%2Eb`, { kind: 'proxy', digest: DIGEST, token: 'a.b' }],
      [`/ecamo/v1/p/${DIGEST}?t=a+b`, { kind: 'proxy', digest: DIGEST, token: 'a b' }],
      [`/ecamo/v1/p/${DIGEST}?t=a%zz`, { kind: 'proxy', digest: DIGEST, token: 'a%zz' }],
    ]);
  });

  test('proxy: a plain ?t= query is read without URLSearchParams, and always as URLSearchParams reads it', () => {
    const queries = ['t=eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.c2ln_-', 't=', 't', '', 't=a&t=b', 'x=1&t=a', 't=a&x=1', 't=a+b', 't=a%2Bb', 't=%65yJ',
      't=%zz', 't=a=b', 'T=a', 'tt=a', ' t=a', 't=caf\u00e9', 't=a;b', 't=a#b', '&&t=x'];
    for (const query of queries) {
      const routed = route(`/ecamo/v1/p/${DIGEST}?${query}`);
      assert.deepEqual(routed, { kind: 'proxy', digest: DIGEST, token: new URLSearchParams(query).get('t') ?? undefined }, JSON.stringify(query));
    }
  });

  test('camo: /{digest}/{encoded URL}, and /{digest}?url=... only with a url parameter', () => {
    assertRoutes([
      [`/${DIGEST}/68747470`, { kind: 'camo', digest: DIGEST, url: { in: 'path', text: '68747470' } }],
      [`/${DIGEST}/68747470?x=1`, { kind: 'camo', digest: DIGEST, url: { in: 'path', text: '68747470' } }],
      [`/${DIGEST}?url=http%3A%2F%2Fa.test%2F`, { kind: 'camo', digest: DIGEST, url: { in: 'query', values: ['http://a.test/'] } }],
      [`/${DIGEST}?url=a&url=b`, { kind: 'camo', digest: DIGEST, url: { in: 'query', values: ['a', 'b'] } }],
      [`/${DIGEST}?url=`, { kind: 'camo', digest: DIGEST, url: { in: 'query', values: [''] } }],
      [`/${DIGEST}`, NONE],
      [`/${DIGEST}?x=1`, NONE],
      ['/favicon.ico', NONE],
      ['/robots.txt?x=1', NONE],
    ]);
  });

  test('percent escapes are never decoded in the path: an encoded slash stays inside its segment', () => {
    assertRoutes([
      ['/ecamo/v1/r/a%2Fb', { kind: 'redirect', token: 'a%2Fb' }],
      ['/ecamo/v1/r/a%2fb%2E%2E', { kind: 'redirect', token: 'a%2fb%2E%2E' }],
      ['/ecamo/v1/r/%00', { kind: 'redirect', token: '%00' }],
      [`/ecamo/v1/p/${DIGEST}%2F?t=a`, { kind: 'proxy', digest: `${DIGEST}%2F`, token: 'a' }],
      // The whole path as one encoded segment is no route at all...
      ['/ecamo%2Fv1%2Fr%2Fabc', NONE],
      // ...and with a url parameter it is a camo URL whose "digest" the camo handler refuses.
      ['/ecamo%2Fv1%2Fr%2Fabc?url=x', { kind: 'camo', digest: 'ecamo%2Fv1%2Fr%2Fabc', url: { in: 'query', values: ['x'] } }],
      ['/ecamo\\v1\\r\\abc', NONE],
    ]);
  });

  test('dot segments are not resolved: they are segments like any other', () => {
    assertRoutes([
      ['/ecamo/v1/r/..', { kind: 'redirect', token: '..' }],
      ['/ecamo/v1/r/.', { kind: 'redirect', token: '.' }],
      ['/ecamo/v1/r/../../healthz', NONE],
      ['/ecamo/v1/./r/abc', NONE],
      ['/ecamo/v1/r/abc/..', NONE],
      ['/ecamo/v1/r/x/../p/y', NONE],
      // Two segments: the camo form, whose digest the camo handler refuses.
      ['/../healthz', { kind: 'camo', digest: '..', url: { in: 'path', text: 'healthz' } }],
      ['/./healthz', { kind: 'camo', digest: '.', url: { in: 'path', text: 'healthz' } }],
    ]);
  });

  test('empty segments match nothing', () => {
    assertRoutes([
      ['//v1/r/abc', NONE],
      ['/ecamo//v1/r/abc', NONE],
      ['/ecamo/v1//r/abc', NONE],
      ['/ecamo/v1/r/', NONE],
      ['/ecamo/v1/r//', NONE],
      ['/ecamo/v1/r/abc/', NONE],
      [`/ecamo/v1/p/?t=abc`, NONE],
      [`/ecamo/v1/p//${DIGEST}?t=abc`, NONE],
      [`//${DIGEST}`, NONE],
      [`/${DIGEST}/`, NONE],
      [`/${DIGEST}//68747470`, NONE],
    ]);
  });

  test('other versions and kinds are unknown paths', () => {
    assertRoutes([
      ['/ecamo/v2/r/abc', NONE],
      ['/ecamo/V1/r/abc', NONE],
      ['/ecamo/v1/R/abc', NONE],
      ['/ecamo/v1/x/abc', NONE],
      ['/v1/r/abc', NONE],
      ['/a/b/ecamo/v1/r/abc', NONE],
    ]);
  });

  test('the redirect and proxy paths are exactly what /{one segment}/v1/r|p/{one segment} matches, over every path of up to six pieces', () => {
    const pieces = ['/', 'a', 'v1', '/v1', '/r/', '/p/', 'r', 'p', '.'];
    const redirect = /^\/[^/]+\/v1\/r\/([^/]+)$/;
    const proxy = /^\/[^/]+\/v1\/p\/([^/]+)$/;
    let paths = [''];
    for (let length = 1; length <= 6; length++) {
      paths = paths.flatMap((path) => pieces.map((piece) => path + piece));
      for (const path of paths) {
        const routed = route(path);
        const token = redirect.exec(path)?.[1];
        const digest = proxy.exec(path)?.[1];
        if (token !== undefined) assert.deepEqual(routed, { kind: 'redirect', token }, path);
        else if (digest !== undefined) assert.deepEqual(routed, { kind: 'proxy', digest, token: undefined }, path);
        else assert.ok(routed.kind !== 'redirect' && routed.kind !== 'proxy', path);
      }
    }
  });

  test('overlong targets are routed like short ones, in time linear in their length', () => {
    const token = 'A'.repeat(1024 * 1024);
    assert.deepEqual(route(`/ecamo/v1/r/${token}`), { kind: 'redirect', token });
    assert.deepEqual(route(`/ecamo/v1/p/${DIGEST}?t=${token}`), { kind: 'proxy', digest: DIGEST, token });
    // Shapes that make a backtracking pattern retry at every position: a test that hangs here fails by its timeout.
    assertRoutes([
      [`/${'a/'.repeat(200_000)}`, NONE],
      [`/ecamo/v1/r/${'a'.repeat(200_000)}/`, NONE],
      [`/${'/'.repeat(200_000)}x`, NONE],
      [`/${'?'.repeat(200_000)}`, { kind: 'index' }],
    ]);
  });
});
