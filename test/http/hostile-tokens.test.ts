/**
 * Hostile input against a real ecamo: forged and malformed tokens of every
 * kind, presented where each token kind is expected. Each refusal must be a
 * 4xx/5xx ecamo chose (never a 500 or a crash), carry the right `x-ecamo-
 * error` and show no stack trace; each suite's last hook checks that the
 * server is still healthy and logged no bug. The table of forgeries is
 * test/helpers/forgeries.ts.
 *
 * Everything stays on 127.0.0.1 / ::1: the only names used are `localhost`
 * (hosts file) and Host-header-only names that nothing resolves.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { urlDigest } from '../../src/tokens/digest.js';
import { CANONICAL_HOST, CANONICAL_ORIGIN, SERVICE_ORIGIN, startSource, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { FORGERIES, genuine, type ForgeryTarget, type TokenCode } from '../helpers/forgeries.js';
import { PNG, now, startWatchedEcamo, assertHealthyThenClose, assertRefused, rawExchange, es256, jws } from '../helpers/hostile.js';

/** One of the three tokens ecamo verifies, with how to present it and what a genuine one gets. */
interface TokenKind extends ForgeryTarget {
  readonly name: string;
  present(token: string): Promise<Answer>;
  assertAccepted(answer: Answer): void;
  /** What a token refused with `code` (as the URL token endpoint names it) answers on this endpoint. */
  refusal(code: TokenCode | 'missing-claim' | 'url'): readonly [number, string];
}

describe('forged and malformed tokens', () => {
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];
  let source: Source;
  let imageUrl: string;
  let urlPath: string;
  const kinds: TokenKind[] = [];

  before(async () => {
    ({ ecamo, logs } = await startWatchedEcamo());
    source = await startSource((_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
    imageUrl = `${source.origin}/img.png`;
    urlPath = await ecamo.signer.url(imageUrl);
    const prefix = ecamo.config.prefix;
    kinds.push(
      {
        name: 'URL token',
        kid: ecamo.serviceKey.kid,
        key: ecamo.serviceKey,
        claims: () => ({ iss: SERVICE_ORIGIN, 'ecamo:url': imageUrl }),
        requiresExp: false,
        checksAudience: false,
        alg: 'ES256',
        acceptsMac: false,
        present: (token) => ecamo.get(`/${prefix}/v1/r/${token}`, { headers: { cookie: ecamo.cookie } }),
        assertAccepted: (answer) => {
          assert.equal(answer.status, 302);
          assert.equal(answer.header('x-ecamo-action'), 'redirect-to-canonical');
        },
        refusal: (code) => [code === 'token-deserialization' || code === 'missing-claim' || code === 'url' ? 400 : 401, code],
      },
      {
        name: 'auth cookie',
        kid: ecamo.serviceKey.kid,
        key: ecamo.serviceKey,
        claims: () => ({ iss: SERVICE_ORIGIN, aud: CANONICAL_ORIGIN, iat: now(), exp: now() + 600 }),
        requiresExp: true,
        checksAudience: true,
        alg: 'ES256',
        acceptsMac: false,
        present: (token) => ecamo.get(urlPath, { headers: { cookie: `${ecamo.config.authCookie}=${token}` } }),
        assertAccepted: (answer) => {
          assert.equal(answer.status, 302);
          assert.equal(answer.header('x-ecamo-action'), 'redirect-to-canonical');
        },
        // Every failure of the cookie is a 401.
        refusal: (code) => (code === 'token-deserialization' || code === 'missing-claim' || code === 'url' ? [401, 'invalid-token'] : [401, code]),
      },
      {
        name: 'proxy token',
        kid: ecamo.ecamoKey.kid,
        key: ecamo.ecamoKey,
        claims: () => ({
          iss: 'ecamo:s',
          aud: 'ecamo:p',
          iat: now(),
          nbf: now(),
          exp: now() + 45,
          'ecamo:svc': SERVICE_ORIGIN,
          'ecamo:url': imageUrl,
          'ecamo:tok': false,
        }),
        requiresExp: true,
        checksAudience: true,
        alg: 'HS256',
        acceptsMac: true,
        present: (token) => ecamo.get(`/${prefix}/v1/p/${urlDigest(imageUrl)}?t=${encodeURIComponent(token)}`, { host: CANONICAL_HOST }),
        assertAccepted: (answer) => {
          assert.equal(answer.status, 200);
          assert.deepEqual(answer.bytes, PNG);
        },
        // Only ecamo mints these: any defect is an authentication failure.
        refusal: (code) => (code === 'token-deserialization' || code === 'missing-claim' || code === 'url' ? [401, 'invalid-token'] : [401, code]),
      },
    );
    // Proxy tokens as the reference server (and ECAMO_PROXY_TOKEN_ALG=ES256) mint them: the same table applies.
    kinds.push({ ...kinds[2]!, name: 'proxy token (ES256)', alg: 'ES256' });
  });

  // Whatever the tests above sent, the server must still be healthy: checked once they are done.
  after(() => assertHealthyThenClose(ecamo, logs, source));

  test('control: genuine tokens of each kind, built by hand, are accepted', async () => {
    for (const kind of kinds) kind.assertAccepted(await kind.present(genuine(kind)));
    // Within the leeway an expired token still passes: the leeway is what the forgery below exceeds.
    for (const kind of kinds) kind.assertAccepted(await kind.present(genuine(kind, {}, { iat: now() - 60, exp: now() - 3 })));
  });

  for (const forgery of FORGERIES.filter((row) => row.overHttp !== false)) {
    test(forgery.name, async () => {
      for (const kind of kinds) {
        if (forgery.applies !== undefined && !forgery.applies(kind)) continue;
        const fetched = source.requests.length;
        const [status, code] = kind.refusal(forgery.code);
        assertRefused(await kind.present(forgery.token(kind)), status, code, `${kind.name}: ${forgery.name}`);
        assert.equal(source.requests.length, fetched, `${kind.name}: nothing reaches the source`);
      }
    });
  }

  test('token confusion: each genuine token is refused where another kind is expected', async () => {
    const [urlKind, cookieKind, proxyKind, es256ProxyKind] = kinds as [TokenKind, TokenKind, TokenKind, TokenKind];
    const urlToken = genuine(urlKind);
    const cookieToken = genuine(cookieKind);
    const proxyToken = genuine(es256ProxyKind);
    // HS256 is refused before any key is looked up, wherever a service signs.
    assertRefused(await urlKind.present(genuine(proxyKind)), 401, 'invalid-token', 'HS256 proxy token as URL token');
    assertRefused(await cookieKind.present(genuine(proxyKind)), 401, 'invalid-token', 'HS256 proxy token as cookie');
    // A cookie has no ecamo:url; a proxy token's kid is not a service key.
    assertRefused(await urlKind.present(cookieToken), 400, 'missing-claim', 'cookie as URL token');
    assertRefused(await urlKind.present(proxyToken), 401, 'unknown-key', 'proxy token as URL token');
    // A URL token has no aud or exp; a proxy token's kid is not a service key.
    assertRefused(await cookieKind.present(urlToken), 401, 'jwt', 'URL token as cookie');
    assertRefused(await cookieKind.present(proxyToken), 401, 'unknown-key', 'proxy token as cookie');
    // Service keys never verify proxy tokens.
    assertRefused(await proxyKind.present(urlToken), 401, 'unknown-key', 'URL token as proxy token');
    assertRefused(await proxyKind.present(cookieToken), 401, 'unknown-key', 'cookie as proxy token');
    // A proxy token minted by ecamo with the service key's kid is still only checked against ecamo's keys.
    assertRefused(await proxyKind.present(jws({ alg: 'ES256', kid: urlKind.kid }, proxyKind.claims(), (i) => es256(urlKind.key.privateJwk, i))), 401, 'unknown-key', 'proxy token signed by the service');
    assertRefused(await proxyKind.present(genuine({ ...proxyKind, kid: urlKind.kid, key: urlKind.key })), 401, 'unknown-key', 'proxy token MACed under the service key');
  });

  test('claims of the wrong shape in genuinely signed tokens', async () => {
    const [urlKind, , proxyKind, es256ProxyKind] = kinds as [TokenKind, TokenKind, TokenKind, TokenKind];
    const cases: [TokenKind, Record<string, unknown>, TokenCode | 'missing-claim'][] = [
      [urlKind, { 'ecamo:url': undefined }, 'missing-claim'],
      [urlKind, { 'ecamo:url': 42 }, 'token-deserialization'],
      [urlKind, { 'ecamo:url': [imageUrl] }, 'token-deserialization'],
      [urlKind, { 'ecamo:url': { href: imageUrl } }, 'token-deserialization'],
      [urlKind, { 'ecamo:url': null }, 'token-deserialization'],
      [urlKind, { 'ecamo:send-token': 'true' }, 'token-deserialization'],
      [urlKind, { 'ecamo:send-token': 1 }, 'token-deserialization'],
      [proxyKind, { 'ecamo:url': undefined }, 'missing-claim'],
      [proxyKind, { 'ecamo:svc': undefined }, 'invalid-token'],
      [proxyKind, { 'ecamo:svc': 7 }, 'invalid-token'],
      [proxyKind, { 'ecamo:tok': 'yes' }, 'invalid-token'],
      [es256ProxyKind, { 'ecamo:svc': 7 }, 'invalid-token'],
    ];
    for (const [kind, override, code] of cases) {
      const [status, expected] = kind.refusal(code);
      assertRefused(await kind.present(genuine(kind, {}, override)), status, expected, `${kind.name} ${JSON.stringify(override)}`);
    }
  });

  test('proxy endpoint: digest and query games', async () => {
    const prefix = ecamo.config.prefix;
    const proxyKind = kinds[2]!;
    const token = genuine(proxyKind);
    const forged = jws({ alg: 'ES256', kid: proxyKind.kid }, proxyKind.claims(), () => Buffer.alloc(64));
    const fetched = source.requests.length;
    const at = (digest: string, query: string): Promise<Answer> => ecamo.get(`/${prefix}/v1/p/${digest}?${query}`, { host: CANONICAL_HOST });
    assertRefused(await at(urlDigest(imageUrl), ''), 401, 'invalid-token', 'no token');
    assertRefused(await at(urlDigest(imageUrl), 't='), 401, 'invalid-token', 'empty token');
    assertRefused(await at(urlDigest(imageUrl), `t=${forged}&t=${token}`), 401, 'invalid-token', 'forged token first');
    assertRefused(await at(urlDigest('http://127.0.0.1:1/other.png'), `t=${token}`), 401, 'invalid-token', 'digest of another URL');
    assertRefused(await at(`${urlDigest(imageUrl)}=`, `t=${token}`), 400, 'bad-request', 'padded digest');
    assertRefused(await at(urlDigest(imageUrl).replace(/.$/, '*'), `t=${token}`), 400, 'bad-request', 'non-base64url digest');
    assertRefused(await at(`${urlDigest(imageUrl).slice(0, 63)}+`, `t=${token}`), 400, 'bad-request', 'standard base64 alphabet');
    // Node's decoder would ignore the trailing bits of "B"; the strict check does not.
    assertRefused(await at(`${urlDigest(imageUrl)}AB`, `t=${token}`), 400, 'bad-request', 'non-canonical trailing bits');
    // Canonical base64url of 49 bytes: well-formed, but not the digest of the URL.
    assertRefused(await at(`${urlDigest(imageUrl)}AA`, `t=${token}`), 401, 'invalid-token', 'digest with an extra byte');
    // Off the canonical host the proxy endpoint does not exist, whatever the token.
    assertRefused(await ecamo.get(`/${prefix}/v1/p/${urlDigest(imageUrl)}?t=${token}`), 404, 'not-found', 'service host');
    assert.equal(source.requests.length, fetched);
  });

  test('a 64 KiB request line is answered 431 by the clientError handler', async () => {
    const answer = await rawExchange(ecamo.url, `GET /${ecamo.config.prefix}/v1/r/${'A'.repeat(64 * 1024)} HTTP/1.1\r\nhost: wiki.test\r\nconnection: close\r\n\r\n`);
    assertRefused(answer, 431, 'bad-request', '64 KiB path');
    const headers = await rawExchange(ecamo.url, `GET /healthz HTTP/1.1\r\nhost: wiki.test\r\nx-pad: ${'p'.repeat(64 * 1024)}\r\nconnection: close\r\n\r\n`);
    assertRefused(headers, 431, 'bad-request', '64 KiB header');
  });

});
