/**
 * docs/protocol.md §6, §7: the redirect and proxy endpoints, step by step, against a real ecamo and real
 * sources on 127.0.0.1. Every status, header and error code the protocol names
 * is asserted; one `describe` per section.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { generateKey } from '../../src/config/generate-key.js';
import { PROXY_TOKEN_ALGS } from '../../src/config/load.js';
import { signProxyToken } from '../../src/tokens/proxy-token.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { CANONICAL_HOST, CANONICAL_ORIGIN, SERVICE_HOST, SERVICE_ORIGIN, startEcamo, type Ecamo, type Source } from '../helpers/harness.js';
import { signingKeyOf } from '../helpers/proxy-tokens.js';
import { PNG, withTrailingBits, src, requestsFor, urlToken, redirect, followCanonical, proxy, assertEcamoError, assertNoCache302, assertRedirectToSource, startProtocolWorld, stopProtocolWorld } from '../helpers/protocol-world.js';

let source: Source;
let ecamo: Ecamo;

before(async () => {
  ({ source, ecamo } = await startProtocolWorld());
});

after(stopProtocolWorld);

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
    const expired = await signProxyToken(claims, key, 45, 'HS256', Math.floor(Date.now() / 1000) - 3600);
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
    // Minted as ecamo mints them (HS256 and ES256) under a key ecamo does not have, or a service's key.
    const strangerKey = await signingKeyOf((await generateKey()).privateJwk, key.kid);
    const serviceKey = await signingKeyOf(ecamo.serviceKey.privateJwk, ecamo.serviceKey.kid);
    const strangers = [];
    for (const signing of [strangerKey, serviceKey]) {
      for (const alg of PROXY_TOKEN_ALGS) strangers.push(await signProxyToken(claims, signing, 45, alg));
    }
    const urlTokenInstead = (await ecamo.signer.url(sourceUrl)).split('/').pop()!;

    const paths = [
      `/.ecamo/v1/p/${digest}`,
      `/.ecamo/v1/p/${digest}?t=`,
      `/.ecamo/v1/p/${digest}?t=garbage`,
      `/.ecamo/v1/p/${digest}?t=a.b.c`,
      ...[expired, wrongIss, wrongAud, noExp, ...strangers, urlTokenInstead].map((t) => `/.ecamo/v1/p/${digest}?t=${t}`),
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
    assert.deepEqual(answer.bytes, PNG);
    assert.equal(requestsFor(sourceUrl).length, 1);
  });
});
