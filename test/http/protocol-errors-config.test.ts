/**
 * docs/protocol.md §10, §11: error codes, and configuration as the protocol sees it, against a real ecamo and real
 * sources on 127.0.0.1. Every status, header and error code the protocol names
 * is asserted; one `describe` per section.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { importJWK, jwtVerify, SignJWT, type CryptoKey } from 'jose';
import { generateKey, type GeneratedKey } from '../../src/config/generate-key.js';
import { createSigner } from '../../src/signer/index.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { verifyMintedProxyToken } from '../helpers/proxy-tokens.js';
import { CANONICAL_HOST, SERVICE_HOST, startEcamo, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { src, requestsFor, urlToken, redirect, proxy, assertEcamoError, assertNoCache302, assertRedirectToSource, startProtocolWorld, stopProtocolWorld } from '../helpers/protocol-world.js';

let source: Source;

before(async () => {
  ({ source } = await startProtocolWorld());
});

after(stopProtocolWorld);

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
    const { payload } = await verifyMintedProxyToken(location.searchParams.get('t')!, secure.ecamoKey);
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
