import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { generateKey } from '../../src/config/generate-key.js';
import { createSigner, type Signer } from '../../src/signer/index.js';
import { signedInThePast } from '../helpers/clock.js';
import { CANONICAL_HOST, CANONICAL_ORIGIN, SERVICE_HOST, SERVICE_ORIGIN, startEcamo, type Ecamo, type Source } from '../helpers/harness.js';
import { fetchThroughEcamo, IMAGE, startImageSource } from '../helpers/wire.js';

function tokenOf(path: string): string {
  const match = /^\/[^/]+\/v1\/r\/([^/]+)$/.exec(path);
  assert.ok(match, path);
  return match[1]!;
}

describe('createSigner (unit)', () => {
  let signer: Signer;
  before(async () => {
    const key = await generateKey('svc-1');
    signer = await createSigner({ origin: 'https://wiki.example', kid: key.kid, privateJwk: key.privateJwk });
  });

  test('url: /{prefix}/v1/r/{token} with iss, normalised ecamo:url and no exp by default', async () => {
    const path = await signer.url('HTTPS://Img.Example/a b.png');
    assert.match(path, /^\/\.ecamo\/v1\/r\//);
    const token = tokenOf(path);
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'ES256', kid: 'svc-1' });
    assert.deepEqual(decodeJwt(token), { iss: 'https://wiki.example', 'ecamo:url': 'https://img.example/a%20b.png' });
  });

  test('url options: send-token, prefix, ttl', async () => {
    const before = Math.floor(Date.now() / 1000);
    const path = await signer.url(new URL('http://img.example/x'), { sendToken: true, prefix: 'img-proxy', ttlSeconds: 3600 });
    assert.match(path, /^\/img-proxy\/v1\/r\//);
    const claims = decodeJwt(tokenOf(path));
    assert.equal(claims['ecamo:send-token'], true);
    assert.ok(claims.exp! >= before + 3600 && claims.exp! <= before + 3601);
  });

  test('url refuses what ecamo would refuse', async () => {
    await assert.rejects(signer.url('ftp://img.example/x'), /http or https/);
    await assert.rejects(signer.url('https://user:pw@img.example/x'), /credentials/);
    await assert.rejects(signer.url('/relative.png'), TypeError);
    await assert.rejects(signer.url('https://img.example/x', { prefix: 'a/b' }), /one path segment/);
    await assert.rejects(signer.url('https://img.example/x', { ttlSeconds: 0 }), /positive/);
    await assert.rejects(signer.url('https://img.example/x', { ttlSeconds: 1.5 }), /positive/);
  });

  test('authCookie: __Host- cookie (Secure, Path=/, no Domain, HttpOnly, SameSite=Lax) with Max-Age = token lifetime', async () => {
    const cookie = await signer.authCookie({ canonicalOrigin: 'https://ecamo.example/', ttlSeconds: 300, subject: 'user-hash' });
    assert.equal(cookie.name, '__Host-ecamo_token');
    assert.equal(cookie.setCookie, `__Host-ecamo_token=${cookie.token}; Path=/; Max-Age=300; HttpOnly; SameSite=Lax; Secure`);
    assert.doesNotMatch(cookie.setCookie, /Domain/i);
    const claims = decodeJwt(cookie.token);
    assert.equal(claims.iss, 'https://wiki.example');
    assert.equal(claims.aud, 'https://ecamo.example');
    assert.equal(claims.sub, 'user-hash');
    assert.equal(claims.exp, cookie.expiresAt);
    assert.equal(claims.exp - claims.iat!, 300);
    assert.deepEqual(decodeProtectedHeader(cookie.token), { alg: 'ES256', kid: 'svc-1' });
  });

  test('authCookie: insecure mode and custom names', async () => {
    const plain = await signer.authCookie({ canonicalOrigin: 'http://localhost:3000', ttlSeconds: 60, insecure: true });
    assert.equal(plain.setCookie, `ecamo_token=${plain.token}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax`);
    const named = await signer.authCookie({ canonicalOrigin: 'https://ecamo.example', ttlSeconds: 60, cookieName: 'img_auth' });
    assert.match(named.setCookie, /^img_auth=[^;]+; Path=\/; Max-Age=60; HttpOnly; SameSite=Lax; Secure$/);
    await assert.rejects(signer.authCookie({ canonicalOrigin: 'http://x', ttlSeconds: 60, insecure: true, cookieName: '__Host-x' }), /Secure/);
    await assert.rejects(signer.authCookie({ canonicalOrigin: 'https://x', ttlSeconds: 60, cookieName: 'a;b' }), /cookie name/);
    await assert.rejects(signer.authCookie({ canonicalOrigin: 'https://x', ttlSeconds: -1 }), /positive/);
    await assert.rejects(signer.authCookie({ canonicalOrigin: 'mailto:x@y', ttlSeconds: 60 }), /http\(s\)/);
  });

  test('createSigner checks its options', async () => {
    const key = await generateKey('k');
    await assert.rejects(createSigner({ origin: 'https://wiki.example/', kid: 'k', privateJwk: key.privateJwk }), /bare origin/);
    await assert.rejects(createSigner({ origin: 'https://wiki.example', kid: 'a b', privateJwk: key.privateJwk }), /kid/);
    await assert.rejects(createSigner({ origin: 'https://wiki.example', kid: 'k', privateJwk: key.publicJwk }), /private EC P-256/);
  });
});

describe('round trip: SDK-signed tokens against a real ecamo', () => {
  let ecamo: Ecamo;
  let source: Source;
  before(async () => {
    ecamo = await startEcamo();
    source = await startImageSource();
  });
  after(async () => {
    await Promise.all([ecamo.close(), source.close()]);
  });

  async function redirect(signer: Signer, sourceUrl: string, cookieToken: string, host = SERVICE_HOST) {
    return ecamo.get(await signer.url(sourceUrl), { host, headers: { cookie: `${ecamo.config.authCookie}=${cookieToken}` } });
  }

  async function serviceSigner(origin = SERVICE_ORIGIN, privateJwk = ecamo.serviceKey.privateJwk, kid = ecamo.serviceKey.kid) {
    return createSigner({ origin, kid, privateJwk });
  }

  test('accepted: redirect to the canonical origin, then the image', async () => {
    const signer = await serviceSigner();
    const cookie = await signer.authCookie({ canonicalOrigin: CANONICAL_ORIGIN, ttlSeconds: 60, insecure: true });
    assert.equal(cookie.name, ecamo.config.authCookie);
    const answer = await redirect(signer, `${source.origin}/cat.png`, cookie.token);
    assert.equal(answer.status, 302);
    assert.equal(answer.header('x-ecamo-action'), 'redirect-to-canonical');
    assert.ok(answer.header('location')!.startsWith(`${CANONICAL_ORIGIN}/.ecamo/v1/p/`));
    const image = await fetchThroughEcamo(ecamo, `${source.origin}/cat.png`);
    assert.equal(image.status, 200);
    assert.deepEqual(image.bytes, IMAGE);
  });

  test('secure mode: https origins and the __Host- cookie', async () => {
    const key = await generateKey('svc-s');
    const secure = await startEcamo({
      ECAMO_INSECURE: 'false',
      ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`https://${SERVICE_HOST} ${key.kid}`]: key.publicJwk }),
    });
    try {
      const signer = await createSigner({ origin: `https://${SERVICE_HOST}`, kid: key.kid, privateJwk: key.privateJwk });
      const cookie = await signer.authCookie({ canonicalOrigin: `https://${CANONICAL_HOST}`, ttlSeconds: 60 });
      assert.equal(cookie.name, secure.config.authCookie);
      const answer = await secure.get(await signer.url(`${source.origin}/cat.png`), { headers: { cookie: `${cookie.name}=${cookie.token}` } });
      assert.equal(answer.status, 302);
      assert.ok(answer.header('location')!.startsWith(`https://${CANONICAL_HOST}/.ecamo/v1/p/`));
    } finally {
      await secure.close();
    }
  });

  test('foreign key under the right kid: 401 invalid-token', async () => {
    const foreign = await generateKey(ecamo.serviceKey.kid);
    const signer = await serviceSigner(SERVICE_ORIGIN, foreign.privateJwk);
    const answer = await ecamo.get(await signer.url(`${source.origin}/x.png`));
    assert.equal(answer.status, 401);
    assert.equal(answer.header('x-ecamo-error'), 'invalid-token');
    const good = await serviceSigner();
    const cookie = await signer.authCookie({ canonicalOrigin: CANONICAL_ORIGIN, ttlSeconds: 60, insecure: true });
    const withForeignCookie = await redirect(good, `${source.origin}/x.png`, cookie.token);
    assert.equal(withForeignCookie.status, 401);
    assert.equal(withForeignCookie.header('x-ecamo-error'), 'invalid-token');
  });

  test('unknown kid: 401 unknown-key', async () => {
    const signer = await serviceSigner(SERVICE_ORIGIN, ecamo.serviceKey.privateJwk, 'svc-2');
    const answer = await ecamo.get(await signer.url(`${source.origin}/x.png`));
    assert.equal(answer.status, 401);
    assert.equal(answer.header('x-ecamo-error'), 'unknown-key');
  });

  test('wrong origin: iss of another origin is refused (jwt), and another host has no key (unknown-key)', async () => {
    const signer = await serviceSigner('http://other.test');
    const onWiki = await ecamo.get(await signer.url(`${source.origin}/x.png`));
    assert.equal(onWiki.status, 401);
    assert.equal(onWiki.header('x-ecamo-error'), 'jwt');
    const onOther = await ecamo.get(await signer.url(`${source.origin}/x.png`), { host: 'other.test' });
    assert.equal(onOther.status, 401);
    assert.equal(onOther.header('x-ecamo-error'), 'unknown-key');
  });

  test('cookie for the wrong canonical origin: 401 jwt', async () => {
    const signer = await serviceSigner();
    const cookie = await signer.authCookie({ canonicalOrigin: `https://${CANONICAL_HOST}`, ttlSeconds: 60, insecure: true });
    const answer = await redirect(signer, `${source.origin}/x.png`, cookie.token);
    assert.equal(answer.status, 401);
    assert.equal(answer.header('x-ecamo-error'), 'jwt');
  });

  test('expired URL token and expired cookie: 401 jwt', async () => {
    const signer = await serviceSigner();
    const fresh = await signer.authCookie({ canonicalOrigin: CANONICAL_ORIGIN, ttlSeconds: 60, insecure: true });
    const oldUrl = await signedInThePast(3600, () => signer.url(`${source.origin}/x.png`, { ttlSeconds: 60 }));
    const urlAnswer = await ecamo.get(oldUrl, { headers: { cookie: `${fresh.name}=${fresh.token}` } });
    assert.equal(urlAnswer.status, 401);
    assert.equal(urlAnswer.header('x-ecamo-error'), 'jwt');

    const oldCookie = await signedInThePast(3600, () => signer.authCookie({ canonicalOrigin: CANONICAL_ORIGIN, ttlSeconds: 60, insecure: true }));
    const cookieAnswer = await redirect(signer, `${source.origin}/x.png`, oldCookie.token);
    assert.equal(cookieAnswer.status, 401);
    assert.equal(cookieAnswer.header('x-ecamo-error'), 'jwt');
  });
});
