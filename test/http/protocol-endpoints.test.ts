/**
 * docs/protocol.md §2, §3: the endpoints and the service origin of a request, against a real ecamo and real
 * sources on 127.0.0.1. Every status, header and error code the protocol names
 * is asserted; one `describe` per section.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { urlDigest } from '../../src/tokens/digest.js';
import { CANONICAL_HOST, CANONICAL_ORIGIN, SERVICE_HOST, startEcamo, type Ecamo } from '../helpers/harness.js';
import { PNG, src, redirect, assertEcamoError, assertNoCache302, startProtocolWorld, stopProtocolWorld } from '../helpers/protocol-world.js';

let ecamo: Ecamo;

before(async () => {
  ({ ecamo } = await startProtocolWorld());
});

after(stopProtocolWorld);

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
      assert.deepEqual(proxied.bytes, PNG);
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
