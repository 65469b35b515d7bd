/**
 * docs/protocol.md §9: the proxy response, against a real ecamo and real
 * sources on 127.0.0.1. Every status, header and error code the protocol names
 * is asserted; one `describe` per section.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CANONICAL_HOST, SERVICE_HOST, fetchCutOff, startEcamo, type Ecamo } from '../helpers/harness.js';
import { IMAGES, paddedPng } from '../helpers/images.js';
import { CSP, PNG, PROXY_200_HEADERS, SOURCE_EXTRAS, src, requestsFor, redirect, proxy, assertEcamoError, startProtocolWorld, stopProtocolWorld } from '../helpers/protocol-world.js';

let ecamo: Ecamo;

before(async () => {
  ({ ecamo } = await startProtocolWorld());
});

after(stopProtocolWorld);

describe('docs/protocol.md §9: Proxy response', () => {
  it('200: the body streams through with the passed and added headers, and nothing else', async () => {
    const sourceUrl = src('/img.png');
    const answer = await proxy(ecamo, sourceUrl);
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.bytes, PNG);
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
      assert.ok(answer.bytes.equals(Buffer.concat([paddedPng(60), Buffer.alloc(40, 'b')])), `received ${answer.bytes.length} bytes`);

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

  it('the default allow-list holds the common image types, each served under the type its bytes show', async () => {
    // [label, the real image sent under it, the type served]
    const served: [string, string, string][] = [
      ['image/png; charset=x', 'image/png', 'image/png'],
      ['IMAGE/PNG', 'image/png', 'image/png'],
      ['image/avif', 'image/avif', 'image/avif'],
      ['image/bmp', 'image/bmp', 'image/bmp'],
      ['image/gif', 'image/gif', 'image/gif'],
      ['image/heic', 'image/heic', 'image/heic'],
      ['image/heif', 'image/heic', 'image/heic'],
      ['image/x-icon', 'image/x-icon', 'image/x-icon'],
      ['image/vnd.microsoft.icon', 'image/x-icon', 'image/x-icon'],
      ['image/jpeg', 'image/jpeg', 'image/jpeg'],
      ['image/jpg', 'image/jpeg', 'image/jpeg'],
      ['image/svg+xml; charset=utf-8', 'image/svg+xml', 'image/svg+xml'],
      ['image/tiff', 'image/tiff', 'image/tiff'],
      ['image/webp', 'image/webp', 'image/webp'],
    ];
    for (const [given, bytes, expected] of served) {
      const answer = await proxy(ecamo, src(`/type?t=${encodeURIComponent(given)}&b=${encodeURIComponent(bytes)}`));
      assert.equal(answer.status, 200, given);
      assert.equal(answer.header('content-type'), expected, given);
      assert.deepEqual(answer.bytes, IMAGES[bytes], given);
    }
  });

  it('ECAMO_CONTENT_TYPE_ALLOWED replaces the list', async () => {
    const custom = await startEcamo({ ECAMO_CONTENT_TYPE_ALLOWED: 'image/png, application/pdf' });
    try {
      assert.equal((await proxy(custom, src('/type?t=application%2Fpdf&b=application%2Fpdf'))).header('content-type'), 'application/pdf');
      assert.equal((await proxy(custom, src('/type?t=image%2Fpng'))).status, 200);
      assertEcamoError(await proxy(custom, src('/type?t=image%2Fgif&b=image%2Fgif')), 403, 'unallowed-content-type');
      // Under a label on the list, bytes of another type on it are served under theirs.
      assert.equal((await proxy(custom, src('/type?t=application%2Fpdf'))).header('content-type'), 'image/png');
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
