/**
 * The verified-token caches as TokenService uses them: an entry is served
 * only until its token's exp (on a mocked clock), only for the kind, service
 * origin and audience it was verified for, and never once the key set it was
 * verified under has been replaced, not even by a verification that was
 * under way when the keys changed.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { loadEcamoKeys, loadServicePublicKeys, type KeySet } from '../../src/config/keys.js';
import { loadConfig } from '../../src/config/load.js';
import { EcamoError, type EcamoErrorCode } from '../../src/errors.js';
import { Metrics, type TokenKind } from '../../src/metrics.js';
import { signProxyToken } from '../../src/tokens/proxy-token.js';
import { TokenService } from '../../src/tokens/token-service.js';
import { ecamoKey, secondKey, serviceKey } from '../config/fixture.js';
import { es256, jws } from '../helpers/hostile.js';
import { claimsOf } from '../helpers/proxy-tokens.js';

const S1 = 'https://wiki.example';
const S2 = 'https://other.example';
const C1 = 'https://ecamo.example';
const C2 = 'https://images.ecamo.example';
const IMAGE = 'https://images.example/a.png';
/** 2026-11-26T12:00:00Z on the mocked clock. */
const T = 1_795_694_400;

/** S1 and S2 hold the same key under the same kid: only the origin tells their tokens apart. */
async function newService(): Promise<{ service: TokenService; metrics: Metrics }> {
  const config = await loadConfig({
    ECAMO_CANONICAL_HOST: 'ecamo.example',
    ECAMO_PRIVATE_KEYS: JSON.stringify({ 'ecamo-1': ecamoKey.privateJwk }),
    ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`${S1} svc-1`]: serviceKey.publicJwk, [`${S2} svc-1`]: serviceKey.publicJwk }),
  });
  const metrics = new Metrics();
  return { service: new TokenService(config, metrics), metrics };
}

/** Another key set: ecamo-2 signs, and neither svc-1 nor ecamo-1 is left. */
async function rotatedKeys(): Promise<KeySet> {
  return {
    serviceKeys: await loadServicePublicKeys('TEST_SERVICE_KEYS', JSON.stringify({ [`${S1} svc-2`]: secondKey.publicJwk })),
    ecamoKeys: await loadEcamoKeys('TEST_PRIVATE_KEYS', JSON.stringify({ 'ecamo-2': secondKey.privateJwk }), 'TEST_SIGNING_KID', 'ecamo-2'),
  };
}

const signed = (claims: Record<string, unknown>): string => jws({ alg: 'ES256', kid: 'svc-1' }, claims, (input) => es256(serviceKey.privateJwk, input));
const urlToken = (claims: Record<string, unknown> = {}): string => signed({ iss: S1, 'ecamo:url': IMAGE, ...claims });
const cookie = (exp: number, claims: Record<string, unknown> = {}): string => signed({ iss: S1, aud: C1, exp, ...claims });

/** Verifications that reached the verifier (not answered from a cache), of one kind. */
async function verifications(metrics: Metrics, kind: TokenKind): Promise<number> {
  const { values } = await metrics.tokenVerifications.get();
  return values.filter((value) => value.labels.kind === kind).reduce((sum, value) => sum + value.value, 0);
}

/** A proxy token as handleProxy takes it: from the cache of remembered tokens, else verified now (a refusal as a rejection). */
async function presentProxyToken(service: TokenService, token: string): Promise<unknown> {
  return service.rememberedProxyToken(token) ?? service.verifyProxyToken(token);
}

/** A proxy token admitted twice, as handleProxy does it: verified, then remembered, the first time only noted. */
async function admitTwice(service: TokenService, token: string): Promise<void> {
  assert.equal(service.rememberProxyToken(token, await service.verifyProxyToken(token)), false, 'noted at its first admission');
  assert.equal(service.rememberProxyToken(token, await service.verifyProxyToken(token)), true, 'remembered at its second');
}

async function assertRefused(verifying: Promise<unknown>, code: EcamoErrorCode, label: string): Promise<void> {
  await assert.rejects(verifying, (error: unknown) => error instanceof EcamoError && error.code === code, label);
}

describe('TokenService caches', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: T * 1000 }));
  afterEach(() => mock.timers.reset());

  test('an auth cookie is served from the cache until its exp, then verified again', async () => {
    const { service, metrics } = await newService();
    const token = cookie(T + 60);
    await service.verifyAuthCookie(token, S1, C1);
    mock.timers.setTime((T + 59) * 1000);
    await service.verifyAuthCookie(token, S1, C1);
    assert.equal(await verifications(metrics, 'cookie'), 1, 'the second check was a cache hit');
    // Past exp the cache has nothing; the verifier still accepts within its leeway, and does not cache it again.
    mock.timers.setTime((T + 60) * 1000 + 1);
    await service.verifyAuthCookie(token, S1, C1);
    await service.verifyAuthCookie(token, S1, C1);
    assert.equal(await verifications(metrics, 'cookie'), 3);
    mock.timers.setTime((T + 70) * 1000);
    await assertRefused(service.verifyAuthCookie(token, S1, C1), 'jwt', 'expired beyond the leeway');
  });

  test('a remembered URL token and proxy token are served until their exp, then verified again', async () => {
    const { service, metrics } = await newService();
    const token = urlToken({ exp: T + 60 });
    service.rememberUrlToken(token, S1, await service.verifyUrlToken(token, S1));
    const proxyToken = await service.issueProxyToken({ url: IMAGE, serviceOrigin: S1, sendToken: false });
    await admitTwice(service, proxyToken);
    const proxyExp = T + 45; // the default ECAMO_TOKEN_LIFETIME
    mock.timers.setTime((proxyExp - 1) * 1000);
    await service.verifyUrlToken(token, S1);
    await presentProxyToken(service, proxyToken);
    // The proxy token was verified at each of its two admissions.
    assert.deepEqual([await verifications(metrics, 'url'), await verifications(metrics, 'proxy')], [1, 2], 'both were cache hits');
    mock.timers.setTime(proxyExp * 1000 + 1);
    await presentProxyToken(service, proxyToken);
    assert.equal(await verifications(metrics, 'proxy'), 3, 'the proxy token is verified again once past its exp');
    mock.timers.setTime((T + 60) * 1000 + 1);
    await service.verifyUrlToken(token, S1);
    assert.equal(await verifications(metrics, 'url'), 2, 'the URL token is verified again once past its exp');
  });

  test('a proxy token is remembered from its second admitted request, not its first', async () => {
    const { service, metrics } = await newService();
    const first = await service.issueProxyToken({ url: IMAGE, serviceOrigin: S1, sendToken: false });
    const second = await service.issueProxyToken({ url: `${IMAGE}?2`, serviceOrigin: S1, sendToken: false });
    assert.equal(service.rememberProxyToken(first, await service.verifyProxyToken(first)), false);
    assert.equal(service.rememberProxyToken(second, await service.verifyProxyToken(second)), false);
    assert.equal(service.cacheStats().proxyTokens.entries, 0, 'nothing kept of a first admission');
    assert.equal(service.rememberedProxyToken(first), undefined);
    assert.equal(service.rememberProxyToken(first, await service.verifyProxyToken(first)), true);
    assert.deepEqual(claimsOf(service.rememberedProxyToken(first)), { url: IMAGE, serviceOrigin: S1, sendToken: false, exp: T + 45 });
    assert.equal(service.rememberedProxyToken(second), undefined, 'the other token was admitted once');
    assert.equal(await verifications(metrics, 'proxy'), 3);
  });

  test('verified proxy-token claims keep their source URL as parsed, the WHATWG form of the url claim; nothing else is enumerated', async () => {
    const { service } = await newService();
    const token = await signProxyToken({ url: 'HTTPS://Images.Example:443/a/../b.png', serviceOrigin: S1, sendToken: false }, service.keys.ecamoKeys.signing, 45);
    const claims = service.verifyProxyToken(token);
    assert.ok(!(claims instanceof Promise));
    assert.equal(claims.url, 'https://images.example/b.png');
    assert.ok(claims.sourceUrl instanceof URL);
    assert.equal(claims.sourceUrl.href, claims.url);
    assert.deepEqual(Object.keys(claims).sort(), ['exp', 'sendToken', 'serviceOrigin', 'url']);
  });

  test('an HS256 proxy token is verified at once (claims, or a throw), an ES256 one later; each counted by its outcome', async () => {
    const { service, metrics } = await newService();
    const claims = { url: IMAGE, serviceOrigin: S1, sendToken: false };
    const outcomes = async (): Promise<Record<string, number>> => {
      const { values } = await metrics.tokenVerifications.get();
      return Object.fromEntries(values.filter((value) => value.labels.kind === 'proxy').map((value) => [String(value.labels.outcome), value.value]));
    };
    const hs256 = await service.issueProxyToken(claims);
    const now = service.verifyProxyToken(hs256);
    assert.ok(!(now instanceof Promise));
    assert.deepEqual(claimsOf(now), { ...claims, exp: T + 45 });
    // One more character of MAC: 33 bytes.
    assert.throws(() => service.verifyProxyToken(`${hs256}A`), (error: unknown) => error instanceof EcamoError && error.code === 'invalid-token');
    assert.deepEqual(await outcomes(), { valid: 1, invalid: 1 });
    const es256Token = await signProxyToken(claims, service.keys.ecamoKeys.signing, 45, 'ES256');
    const later = service.verifyProxyToken(es256Token);
    assert.ok(later instanceof Promise);
    assert.deepEqual(claimsOf(await later), { ...claims, exp: T + 45 });
    const forged = `${es256Token.slice(0, -2)}${es256Token.endsWith('AA') ? 'AQ' : 'AA'}`;
    const refusal = service.verifyProxyToken(forged);
    assert.ok(refusal instanceof Promise, 'a forged ES256 signature is refused later, from the thread pool');
    await assertRefused(refusal, 'invalid-token', 'forged ES256 signature');
    assert.deepEqual(await outcomes(), { valid: 2, invalid: 2 });
  });

  test('a verified token is cached for its kind only: another kind verifies it from scratch', async () => {
    const { service, metrics } = await newService();
    // Valid both as a URL token and as a cookie: caching it as one says nothing about the other.
    const both = urlToken({ aud: C1, exp: T + 600 });
    service.rememberUrlToken(both, S1, await service.verifyUrlToken(both, S1));
    await service.verifyAuthCookie(both, S1, C1);
    assert.equal(await verifications(metrics, 'cookie'), 1, 'the URL token cache did not answer for the cookie');
    const cookieOnly = cookie(T + 600);
    await service.verifyAuthCookie(cookieOnly, S1, C1);
    await assertRefused(service.verifyUrlToken(cookieOnly, S1), 'missing-claim', 'a cached cookie as a URL token');
    const proxyToken = await service.issueProxyToken({ url: IMAGE, serviceOrigin: S1, sendToken: false });
    await admitTwice(service, proxyToken);
    await assertRefused(service.verifyUrlToken(proxyToken, S1), 'invalid-token', 'a cached proxy token (HS256) as a URL token');
    await assertRefused(service.verifyAuthCookie(proxyToken, S1, C1), 'invalid-token', 'a cached proxy token (HS256) as a cookie');
    await assertRefused(presentProxyToken(service, both), 'unknown-key', 'a cached URL token as a proxy token');
  });

  test('a verified token is cached for its service origin and audience only', async () => {
    const { service } = await newService();
    const token = urlToken();
    service.rememberUrlToken(token, S1, await service.verifyUrlToken(token, S1));
    // S2 has the same key under the same kid, so only the cache key and iss stand in the way.
    await assertRefused(service.verifyUrlToken(token, S2), 'jwt', 'URL token of S1 presented on S2');
    const token2 = cookie(T + 600);
    await service.verifyAuthCookie(token2, S1, C1);
    await assertRefused(service.verifyAuthCookie(token2, S1, C2), 'jwt', 'cookie for C1 presented to C2');
    await assertRefused(service.verifyAuthCookie(token2, S2, C1), 'jwt', 'cookie of S1 presented on S2');
  });

  test('replaceKeys: nothing verified or issued under the old keys is served from a cache', async () => {
    const { service } = await newService();
    const token = urlToken();
    service.rememberUrlToken(token, S1, await service.verifyUrlToken(token, S1));
    const cookieToken = cookie(T + 600);
    await service.verifyAuthCookie(cookieToken, S1, C1);
    const request = { url: IMAGE, serviceOrigin: S1, sendToken: false };
    const proxyToken = await service.issueProxyToken(request);
    await admitTwice(service, proxyToken);

    service.replaceKeys(await rotatedKeys());
    await assertRefused(service.verifyUrlToken(token, S1), 'unknown-key', 'URL token');
    await assertRefused(service.verifyAuthCookie(cookieToken, S1, C1), 'unknown-key', 'cookie');
    await assertRefused(presentProxyToken(service, proxyToken), 'unknown-key', 'proxy token');
    const reissued = await service.issueProxyToken(request);
    assert.notEqual(reissued, proxyToken);
    assert.equal((JSON.parse(Buffer.from(reissued.split('.')[0]!, 'base64url').toString()) as { kid: unknown }).kid, 'ecamo-2');
  });

  test('replaceKeys while a verification is under way: it finishes, but its result is not kept under the new keys', async () => {
    const { service } = await newService();
    const rotated = await rotatedKeys();
    const cookieToken = cookie(T + 600);
    const verifying = service.verifyAuthCookie(cookieToken, S1, C1);
    service.replaceKeys(rotated);
    await verifying;
    await assertRefused(service.verifyAuthCookie(cookieToken, S1, C1), 'unknown-key', 'cookie verified across the reload');
  });

  test('replaceKeys between verifying and remembering: the claims are not remembered', async () => {
    const { service } = await newService();
    const rotated = await rotatedKeys();
    const token = urlToken();
    const claims = await service.verifyUrlToken(token, S1);
    const proxyToken = await service.issueProxyToken({ url: IMAGE, serviceOrigin: S1, sendToken: false });
    assert.equal(service.rememberProxyToken(proxyToken, await service.verifyProxyToken(proxyToken)), false, 'noted at its first admission');
    const proxyClaims = await service.verifyProxyToken(proxyToken);
    service.replaceKeys(rotated);
    service.rememberUrlToken(token, S1, claims);
    assert.equal(service.rememberProxyToken(proxyToken, proxyClaims), false, 'a second admission, of claims verified under the old keys');
    await assertRefused(service.verifyUrlToken(token, S1), 'unknown-key', 'URL token remembered across the reload');
    await assertRefused(presentProxyToken(service, proxyToken), 'unknown-key', 'proxy token remembered across the reload');
  });

  test('replaceKeys while a proxy token is being signed: the token signed with the old key is not reused', async () => {
    const { service } = await newService();
    const rotated = await rotatedKeys();
    const request = { url: IMAGE, serviceOrigin: S1, sendToken: false };
    const signing = service.issueProxyToken(request);
    service.replaceKeys(rotated);
    const signedWithOldKey = await signing;
    const next = await service.issueProxyToken(request);
    assert.notEqual(next, signedWithOldKey);
    assert.equal(((await presentProxyToken(service, next)) as { url: string }).url, IMAGE, 'the new token verifies under the new keys');
  });
});
