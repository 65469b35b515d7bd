/**
 * What ecamo remembers of a request: nothing, unless the request is admitted.
 * A URL token is cached only once the auth cookie has been checked, a proxy
 * token only once the policy and the digest passed, and tokens of more than
 * a few KB never.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TokenService } from '../../src/tokens/token-service.js';
import type { VerifiedCacheStats } from '../../src/tokens/verified-cache.js';
import { CANONICAL_HOST, startEcamo, type Ecamo } from '../helpers/harness.js';

let ecamo: Ecamo;
let counter = 0;

before(async () => {
  ecamo = await startEcamo({ ECAMO_SOURCE_BLOCKED_REGEXP: '/blocked' });
});

after(async () => {
  await ecamo.close();
});

function tokens(): TokenService {
  return ecamo.server.app.tokens;
}

/** Nothing connects to these: the redirect endpoint never fetches, and the proxy requests below are refused. */
function sourceUrl(path = '/img.png'): string {
  return `http://127.0.0.1:9${path}?n=${++counter}`;
}

describe('caching only what is admitted', () => {
  it('a URL token is not cached when the request goes to the source or its cookie is refused; it is once the cookie passes', async () => {
    const start = tokens().cacheStats().urlTokens.entries;
    const paths = await Promise.all(Array.from({ length: 10 }, () => ecamo.signer.url(sourceUrl())));
    for (const path of paths) {
      assert.equal((await ecamo.get(path)).header('x-ecamo-reason'), 'auth-cookie-missing');
      assert.equal((await ecamo.get(path, { headers: { cookie: ecamo.cookie, 'sec-fetch-dest': 'document' } })).header('x-ecamo-reason'), 'src-fetch-dest');
      assert.equal((await ecamo.get(path, { headers: { cookie: `${ecamo.config.authCookie}=garbage` } })).status, 401);
    }
    assert.equal(tokens().cacheStats().urlTokens.entries, start);
    assert.equal(tokens().cacheStats().authCookies.entries, 0);

    for (const path of paths) assert.equal((await ecamo.get(path, { headers: { cookie: ecamo.cookie } })).header('x-ecamo-action'), 'redirect-to-canonical');
    assert.equal(tokens().cacheStats().urlTokens.entries, start + 10);
    assert.equal(tokens().cacheStats().authCookies.entries, 1);
  });

  it('a URL token of more than a few KB is served but never cached, nor is the proxy token issued for it', async () => {
    const before = tokens().cacheStats();
    const path = await ecamo.signer.url(sourceUrl(`/${'x'.repeat(6000)}.png`));
    for (let i = 0; i < 3; i++) assert.equal((await ecamo.get(path, { headers: { cookie: ecamo.cookie } })).header('x-ecamo-action'), 'redirect-to-canonical');
    const afterwards = tokens().cacheStats();
    assert.equal(afterwards.urlTokens.entries, before.urlTokens.entries);
    assert.equal(afterwards.issuedProxyTokens.entries, before.issuedProxyTokens.entries);
  });

  it('a proxy token is cached only for a request that passes the policy and the digest', async () => {
    const start = tokens().cacheStats().proxyTokens.entries;
    const blocked = await ecamo.proxyPath(sourceUrl('/blocked.png'));
    assert.equal((await ecamo.get(blocked, { host: CANONICAL_HOST })).header('x-ecamo-error'), 'unallowed-source');
    const otherDigest = (await ecamo.proxyPath(sourceUrl())).replace(/\/p\/[^?]+/, `/p/${'A'.repeat(64)}`);
    assert.equal((await ecamo.get(otherDigest, { host: CANONICAL_HOST })).header('x-ecamo-error'), 'invalid-token');
    assert.equal(tokens().cacheStats().proxyTokens.entries, start);

    // Admitted (a document navigation is answered without a fetch): cached from its second admission on.
    const admitted = await ecamo.proxyPath(sourceUrl());
    for (const admissions of [1, 2]) {
      assert.equal((await ecamo.get(admitted, { host: CANONICAL_HOST, headers: { 'sec-fetch-dest': 'document' } })).header('x-ecamo-action'), 'redirect-to-source');
      assert.equal(tokens().cacheStats().proxyTokens.entries, start + admissions - 1, `after ${admissions} admissions`);
    }
  });

  it('every cache reports its bytes, within its budget', () => {
    for (const [name, stats] of Object.entries<VerifiedCacheStats>(tokens().cacheStats())) {
      assert.ok(stats.bytes <= stats.maxBytes, `${name}: ${stats.bytes} of ${stats.maxBytes}`);
      assert.ok(stats.maxBytes <= 16 * 1024 * 1024, name);
    }
  });
});
