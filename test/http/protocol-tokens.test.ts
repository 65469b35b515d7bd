/**
 * docs/protocol.md §4.2, §4.3, §4.4, §5: URL tokens, authorisation cookies, proxy tokens and the digest, against a real ecamo and real
 * sources on 127.0.0.1. Every status, header and error code the protocol names
 * is asserted; one `describe` per section.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader, importJWK, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { generateKey } from '../../src/config/generate-key.js';
import { PROXY_TOKEN_ALGS } from '../../src/config/load.js';
import { signProxyToken } from '../../src/tokens/proxy-token.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { signingKeyOf, verifyMintedProxyToken } from '../helpers/proxy-tokens.js';
import { CANONICAL_HOST, CANONICAL_ORIGIN, SERVICE_ORIGIN, startEcamo, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { OTHER_SCHEME_SERVICE_ORIGIN, OTHER_SCHEME_CANONICAL_ORIGIN, src, uniqueNumber, requestsFor, serviceKeyOf, urlToken, cookieToken, redirect, followCanonical, assertEcamoError, assertNoCache302, assertRedirectToSource, startProtocolWorld, stopProtocolWorld } from '../helpers/protocol-world.js';

let source: Source;
let ecamo: Ecamo;

before(async () => {
  ({ source, ecamo } = await startProtocolWorld());
});

after(stopProtocolWorld);

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
    const n = uniqueNumber();
    const raw = `HTTP://127.0.0.1:${source.port}/./x/../img.png?n=${n}`;
    const href = new URL(raw).href;
    assert.notEqual(raw, href);
    const token = await urlToken(ecamo, { 'ecamo:url': raw });

    const toSource = await ecamo.get(`/.ecamo/v1/r/${token}`);
    assertRedirectToSource(toSource, href, 'auth-cookie-missing');

    const answer = await ecamo.get(`/.ecamo/v1/r/${token}`, { headers: { cookie: ecamo.cookie } });
    const location = new URL(answer.header('location')!);
    assert.equal(location.pathname, `/.ecamo/v1/p/${urlDigest(href)}`);
    const { payload } = await verifyMintedProxyToken(location.searchParams.get('t')!, ecamo.ecamoKey);
    assert.equal(payload['ecamo:url'], href);

    const proxied = await followCanonical(ecamo, answer.header('location')!);
    assert.equal(proxied.status, 200);
    assert.equal(proxied.header('x-ecamo-source'), href);
    assert.equal(requestsFor(href).length, 1);
    assert.equal(requestsFor(href)[0]!.url, `/img.png?n=${n}`);
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

describe('docs/protocol.md §4.4, §5: Proxy token and digest', () => {
  it('the proxy token: HS256 under the key derived from ECAMO_SIGNING_KID, iss ecamo:s, aud ecamo:p, iat, nbf, exp = now + ECAMO_TOKEN_LIFETIME, ecamo:svc/url/tok', async () => {
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
        assert.deepEqual(header, { alg: 'HS256', kid: 'new' });
        const { payload } = await verifyMintedProxyToken(token, second);
        assert.equal(payload.aud, 'ecamo:p');
        assert.ok(payload.iat! >= before && payload.iat! <= after);
        assert.equal(payload.nbf, payload.iat);
        assert.equal(payload.exp, payload.iat! + 120);
        assert.equal(payload['ecamo:svc'], SERVICE_ORIGIN);
        assert.equal(payload['ecamo:url'], sourceUrl);
        assert.equal(payload['ecamo:tok'], sendToken);
      }

      // Every configured key verifies proxy tokens (rotation).
      const oldKey = await signingKeyOf(first.privateJwk, 'old');
      const sourceUrl = src('/img.png');
      for (const alg of PROXY_TOKEN_ALGS) {
        const token = await signProxyToken({ url: sourceUrl, serviceOrigin: SERVICE_ORIGIN, sendToken: false }, oldKey, 60, alg);
        const answer = await rotating.get(`/.ecamo/v1/p/${urlDigest(sourceUrl)}?t=${token}`, { host: CANONICAL_HOST });
        assert.equal(answer.status, 200, alg);
      }
    } finally {
      await rotating.close();
    }
  });

  it('ECAMO_TOKEN_LIFETIME defaults to 45 seconds', async () => {
    const answer = await redirect(ecamo, src('/img.png'));
    const { payload } = await verifyMintedProxyToken(new URL(answer.header('location')!).searchParams.get('t')!, ecamo.ecamoKey);
    assert.equal(payload.exp! - payload.iat!, 45);
  });

  it('DIGEST: SHA-384 of the UTF-8 URL, base64url without padding (docs/protocol.md §5 test vector)', () => {
    const digest = urlDigest('http://upstream.test.invalid/test');
    assert.equal(digest, '4NDjngsnmTsgtuEwT-xuia33YXiYq3j_4zm4XRawQwYAhbdlcbe4HybG-iDuY2pI');
    assert.equal(digest.length, 64);
  });
});
