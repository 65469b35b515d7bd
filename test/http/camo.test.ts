/**
 * camo-format URLs (ECAMO_CAMO_KEY) against a real ecamo and a real source on
 * 127.0.0.1: the three encodings, key rotation, every refusal of the issue's
 * "bad input" list with the source receiving nothing, and the proxy
 * endpoint's policies applied to camo requests too.
 */
import assert from 'node:assert/strict';
import { createHmac, createSecretKey } from 'node:crypto';
import type http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { verifyCamoUrl } from '../../src/tokens/camo-url.js';
import { camoPath, camoQueryPath, VECTORS } from '../helpers/camo.js';
import { PNG } from '../helpers/images.js';
import { getFrom } from '../helpers/peers.js';
import { count } from '../helpers/prometheus.js';
import { CANONICAL_HOST, fetchAnswer, SERVICE_HOST, startEcamo, startSource, type Answer, type Ecamo, type GetOptions, type Source } from '../helpers/harness.js';

const KEY = VECTORS.key;
const OLD_KEY = VECTORS.oldKey;
const CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

describe('camo URL verification (unit, fixed vectors)', () => {
  const keys = [createSecretKey(KEY, 'utf8')];
  const [, hexDigest, hexUrl] = VECTORS.hexPath.split('/') as [string, string, string];
  const [, base64Digest, base64Url] = VECTORS.base64Path.split('/') as [string, string, string];

  it('accepts the hex path, the base64url path and the query form of the vector', () => {
    assert.equal(verifyCamoUrl(keys, hexDigest, { in: 'path', text: hexUrl }), VECTORS.url);
    assert.equal(verifyCamoUrl(keys, hexDigest.toUpperCase(), { in: 'path', text: hexUrl.toUpperCase() }), VECTORS.url);
    assert.equal(verifyCamoUrl(keys, base64Digest, { in: 'path', text: base64Url }), VECTORS.url);
    assert.equal(verifyCamoUrl(keys, hexDigest, { in: 'query', values: [VECTORS.url] }), VECTORS.url);
    assert.equal(verifyCamoUrl(keys, base64Digest, { in: 'query', values: [VECTORS.url] }), VECTORS.url);
  });

  it('tries every key (rotation)', () => {
    const rotated = [createSecretKey('newer key', 'utf8'), createSecretKey(OLD_KEY, 'utf8')];
    assert.equal(verifyCamoUrl(rotated, VECTORS.oldKeyHexDigest, { in: 'path', text: hexUrl }), VECTORS.url);
    assert.throws(() => verifyCamoUrl(rotated, hexDigest, { in: 'path', text: hexUrl }), { code: 'invalid-token' });
  });

  it('malformed parts are bad-request, a digest of another URL or key is invalid-token', () => {
    const cases: [string, string, Parameters<typeof verifyCamoUrl>[2], string][] = [
      ['odd-length hex URL', hexDigest, { in: 'path', text: hexUrl.slice(0, -1) }, 'bad-request'],
      ['non-hex URL', hexDigest, { in: 'path', text: `${hexUrl.slice(0, -2)}zz` }, 'bad-request'],
      ['non-hex digest', `${hexDigest.slice(0, -2)}zz`, { in: 'path', text: hexUrl }, 'bad-request'],
      ['digest one byte short', hexDigest.slice(0, -2), { in: 'path', text: hexUrl }, 'bad-request'],
      ['digest one byte long', `${hexDigest}00`, { in: 'path', text: hexUrl }, 'bad-request'],
      ['empty URL', hexDigest, { in: 'path', text: '' }, 'bad-request'],
      ['base64 digest with a hex URL', base64Digest, { in: 'path', text: hexUrl }, 'bad-request'],
      ['hex digest with a base64 URL', hexDigest, { in: 'path', text: base64Url }, 'bad-request'],
      ['padded base64 URL', base64Digest, { in: 'path', text: `${base64Url}=` }, 'bad-request'],
      ['non-canonical base64 digest', `${base64Digest.slice(0, -1)}5`, { in: 'path', text: base64Url }, 'bad-request'],
      ['url given twice', hexDigest, { in: 'query', values: [VECTORS.url, VECTORS.url] }, 'bad-request'],
      ['URL bytes that are not UTF-8', createHmac('sha1', KEY).update(Buffer.from([0xff])).digest('hex'), { in: 'path', text: 'ff' }, 'bad-request'],
      ['digest of another URL', hexDigest, { in: 'path', text: Buffer.from(`${VECTORS.url}x`).toString('hex') }, 'invalid-token'],
      ['digest under another key', VECTORS.oldKeyHexDigest, { in: 'path', text: hexUrl }, 'invalid-token'],
    ];
    for (const [name, digest, url, code] of cases) {
      assert.throws(() => verifyCamoUrl(keys, digest, url), { code }, name);
    }
  });
});

let source: Source;
let ecamo: Ecamo;
let counter = 0;

/** The source: behaviour by path. Only /allowed/... on 127.0.0.1 may be fetched (ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP). */
function sourceHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://source.invalid').pathname;
  switch (path) {
    case '/allowed/img.png':
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length, etag: '"v1"', 'set-cookie': 'a=b' }).end(PNG);
      return;
    case '/allowed/charset.png':
      res.writeHead(200, { 'content-type': 'image/png; charset=binary' }).end(PNG);
      return;
    case '/allowed/page.html':
      res.writeHead(200, { 'content-type': 'text/html' }).end('<script>alert(1)</script>');
      return;
    case '/allowed/listed-type.png':
      res.writeHead(200, { 'content-type': 'image/png, text/html' }).end(PNG);
      return;
    case '/allowed/huge.png':
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 5000 }).end(Buffer.concat([PNG, Buffer.alloc(5000 - PNG.length)]));
      return;
    case '/allowed/missing.png':
      res.writeHead(404, { 'content-type': 'text/plain' }).end('nope');
      return;
    case '/allowed/hop':
      res.writeHead(302, { location: '/allowed/img.png' }).end();
      return;
    case '/allowed/two-hops':
      res.writeHead(302, { location: '/allowed/hop' }).end();
      return;
    case '/allowed/to-blocked':
      res.writeHead(302, { location: '/allowed/blocked.png' }).end();
      return;
    case '/allowed/to-private':
      res.writeHead(302, { location: `http://localhost:${source.port}/allowed/img.png` }).end();
      return;
    default:
      res.writeHead(500).end();
  }
}

/** A unique source URL on the allowed loopback source. */
function allowed(path: string): string {
  return `${source.origin}/allowed/${path}?n=${++counter}`;
}

function onCanonical(path: string, options: GetOptions = {}): Promise<Answer> {
  return ecamo.get(path, { ...options, host: CANONICAL_HOST });
}

before(async () => {
  source = await startSource(sourceHandler);
  ecamo = await startEcamo({
    ECAMO_CAMO_KEY: `${KEY},${OLD_KEY}`,
    ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://127\\.0\\.0\\.1:\\d+/allowed/',
    ECAMO_SOURCE_BLOCKED_REGEXP: '/allowed/blocked',
    ECAMO_MAX_LENGTH: '1000',
    ECAMO_MAX_REDIRECTS: '1',
    ECAMO_DEFAULT_SURROGATE_CONTROL: 'max-age=60',
    ECAMO_ADMIN_BIND: '127.0.0.1:0',
  });
});

after(async () => {
  await ecamo?.close();
  await source?.close();
});

describe('camo URLs on the canonical host', () => {
  it('serves the image for the hex path, the base64url path and the query form, with the proxy endpoint headers', async () => {
    for (const [name, path] of [
      ['hex', (url: string) => camoPath(KEY, url)],
      ['base64', (url: string) => camoPath(KEY, url, 'base64')],
      ['query', (url: string) => camoQueryPath(KEY, url)],
    ] as const) {
      const url = allowed('img.png');
      const before = source.requests.length;
      const answer = await onCanonical(path(url));
      assert.equal(answer.status, 200, `${name}: ${answer.header('x-ecamo-error')}`);
      assert.deepEqual(answer.bytes, PNG, name);
      assert.equal(answer.header('content-type'), 'image/png');
      assert.equal(answer.header('etag'), '"v1"');
      assert.equal(answer.header('set-cookie'), undefined);
      assert.equal(answer.header('content-security-policy'), CSP);
      assert.equal(answer.header('x-content-type-options'), 'nosniff');
      assert.equal(answer.header('x-frame-options'), 'deny');
      assert.equal(answer.header('cache-control'), 'public, max-age=3600');
      assert.equal(answer.header('surrogate-control'), 'max-age=60');
      assert.equal(answer.header('x-ecamo-source'), url);
      assert.equal(source.requests.length, before + 1, name);
      const request = source.requests.at(-1)!;
      assert.equal(request.url, new URL(url).pathname + new URL(url).search);
      assert.equal(request.headers.authorization, undefined, `${name}: camo URLs never carry an ID token`);
      assert.equal(request.headers.via, '1.1 ecamo');
    }
  });

  it('accepts URLs signed with any ECAMO_CAMO_KEY (rotation), refuses other keys', async () => {
    const url = allowed('img.png');
    assert.equal((await onCanonical(camoPath(OLD_KEY, url))).status, 200);
    const before = source.requests.length;
    const refused = await onCanonical(camoPath('not a configured key', url));
    assert.equal(refused.status, 401);
    assert.equal(refused.header('x-ecamo-error'), 'invalid-token');
    assert.equal(source.requests.length, before);
  });

  it('HEAD answers the headers only', async () => {
    const answer = await onCanonical(camoPath(KEY, allowed('img.png')), { method: 'HEAD' });
    assert.equal(answer.status, 200);
    assert.equal(answer.header('content-length'), String(PNG.length));
    assert.equal(answer.bytes.length, 0);
  });

  it('is off the canonical host a 404, like the proxy endpoint', async () => {
    const before = source.requests.length;
    const answer = await ecamo.get(camoPath(KEY, allowed('img.png')), { host: SERVICE_HOST });
    assert.equal(answer.status, 404);
    assert.equal(answer.header('x-ecamo-error'), 'not-found');
    assert.equal(source.requests.length, before);
  });

  it('leaves unknown one-segment paths unknown (404), and other methods 405', async () => {
    assert.equal((await onCanonical('/favicon.ico')).header('x-ecamo-error'), 'not-found');
    assert.equal((await onCanonical(camoPath(KEY, allowed('img.png')), { method: 'POST' })).status, 405);
  });

  it('a document navigation goes to the source itself, as on the proxy endpoint', async () => {
    const url = allowed('img.png');
    const answer = await onCanonical(camoPath(KEY, url), { headers: { 'sec-fetch-dest': 'document' } });
    assert.equal(answer.status, 302);
    assert.equal(answer.header('location'), url);
  });

  it('refuses a request that already came through an ecamo', async () => {
    const answer = await onCanonical(camoPath(KEY, allowed('img.png')), { headers: { via: '1.1 ecamo' } });
    assert.equal(answer.status, 400);
    assert.equal(answer.header('x-ecamo-error'), 'loop-detected');
  });
});

describe('camo URLs: bad input is a clean 4xx and the source receives nothing', () => {
  const signedHex = (url: string): string => camoPath(KEY, url);
  const cases: [string, () => string, number, string][] = [
    ['wrong digest', () => `/${'0'.repeat(40)}/${Buffer.from(allowed('img.png')).toString('hex')}`, 401, 'invalid-token'],
    ['wrong key', () => camoPath('wrong key', allowed('img.png')), 401, 'invalid-token'],
    ['digest of another URL', () => `${signedHex(allowed('img.png')).split('/').slice(0, 2).join('/')}/${Buffer.from(allowed('img.png')).toString('hex')}`, 401, 'invalid-token'],
    ['odd-length hex', () => signedHex(allowed('img.png')).slice(0, -1), 400, 'bad-request'],
    ['non-hex URL', () => `${signedHex(allowed('img.png')).slice(0, -2)}zz`, 400, 'bad-request'],
    ['digest of the wrong length', () => signedHex(allowed('img.png')).replace(/^\/../, '/'), 400, 'bad-request'],
    ['digest of the wrong length, query form', () => camoQueryPath(KEY, allowed('img.png')).replace(/^\/../, '/'), 400, 'bad-request'],
    ['url query parameter given twice', () => `${camoQueryPath(KEY, allowed('img.png'))}&url=${encodeURIComponent(allowed('img.png'))}`, 400, 'bad-request'],
    ['relative URL', () => signedHex('/allowed/img.png'), 400, 'url'],
    ['not http(s)', () => signedHex(`ftp://127.0.0.1:${source.port}/allowed/img.png`), 400, 'url'],
    ['javascript: URL', () => signedHex('javascript:alert(1)'), 400, 'url'],
    ['URL with credentials', () => signedHex(`http://user:pw@127.0.0.1:${source.port}/allowed/img.png`), 400, 'url'],
    ['private target: 127.1', () => signedHex(`http://127.1:${source.port}/img.png`), 403, 'unallowed-source'],
    ['private target: localhost', () => signedHex(`http://localhost:${source.port}/allowed/img.png`), 403, 'unallowed-source'],
    ['private target: [::ffff:127.0.0.1]', () => signedHex(`http://[::ffff:127.0.0.1]:${source.port}/allowed/img.png`), 403, 'unallowed-source'],
    ['private target, query form', () => camoQueryPath(KEY, `http://localhost:${source.port}/allowed/img.png`), 403, 'unallowed-source'],
    ['ECAMO_SOURCE_BLOCKED_REGEXP', () => signedHex(allowed('blocked.png')), 403, 'unallowed-source'],
  ];
  for (const [name, path, status, code] of cases) {
    it(name, async () => {
      const before = source.requests.length;
      const answer = await onCanonical(path());
      assert.equal(answer.status, status, `${name}: ${answer.header('x-ecamo-error')}`);
      assert.equal(answer.header('x-ecamo-error'), code);
      assert.equal(answer.body, `Error: ${code}`);
      assert.equal(source.requests.length, before, `${name}: the source received a request`);
    });
  }
});

describe('camo URLs: the proxy endpoint policies on what the source answers', () => {
  const cases: [string, string, number, string | undefined][] = [
    ['content-type parameters are dropped', 'charset.png', 200, undefined],
    ['content-type not on the allow-list', 'page.html', 403, 'unallowed-content-type'],
    ['a content-type list is not a media type', 'listed-type.png', 403, 'unallowed-content-type'],
    ['declared length over ECAMO_MAX_LENGTH', 'huge.png', 403, 'source-response-too-large'],
    ['source error passed on', 'missing.png', 404, 'source-response'],
    ['one redirect followed (ECAMO_MAX_REDIRECTS=1)', 'hop', 200, undefined],
    ['a second redirect is not followed', 'two-hops', 400, 'source-response'],
    ['a redirect hop to a private address is refused', 'to-private', 403, 'unallowed-source'],
    ['a redirect hop that ECAMO_SOURCE_BLOCKED_REGEXP matches is refused', 'to-blocked', 403, 'unallowed-source'],
  ];
  for (const [name, path, status, code] of cases) {
    it(name, async () => {
      const answer = await onCanonical(camoPath(KEY, allowed(path)));
      assert.equal(answer.status, status, `${name}: ${answer.header('x-ecamo-error')}`);
      assert.equal(answer.header('x-ecamo-error'), code);
      assert.ok(!source.requests.some((request) => request.url?.startsWith('/allowed/blocked')), 'a blocked URL never reaches the source');
      if (status === 200) {
        assert.deepEqual(answer.bytes, PNG);
        assert.equal(answer.header('content-type'), 'image/png');
      }
    });
  }
});

describe('camo URLs and the cache', () => {
  it('one entry per source URL whatever the camo form or key, checked on every request, apart from Ecamo-token requests', async () => {
    const url = allowed('img.png');
    const before = source.requests.length;
    const first = await onCanonical(camoPath(KEY, url));
    assert.equal(first.status, 200);
    assert.equal(first.header('x-ecamo-cache'), 'miss');
    for (const path of [camoPath(KEY, url), camoPath(KEY, url, 'base64'), camoQueryPath(KEY, url), camoPath(OLD_KEY, url)]) {
      const again = await onCanonical(path);
      assert.equal(again.status, 200, path);
      assert.equal(again.header('x-ecamo-cache'), 'hit', path);
      assert.deepEqual(again.bytes, PNG);
      assert.equal(again.header('content-security-policy'), CSP);
    }
    assert.equal(source.requests.length, before + 1, 'the source was asked once');
    const forged = await onCanonical(camoPath('wrong key', url));
    assert.equal(forged.status, 401, 'a cached URL still needs its digest');
    assert.equal(forged.header('x-ecamo-cache'), undefined);
    // The proxy endpoint names a service origin: its entry is its own.
    const viaToken = await onCanonical(await ecamo.proxyPath(url));
    assert.equal(viaToken.status, 200);
    assert.equal(viaToken.header('x-ecamo-cache'), 'miss');
    assert.equal(source.requests.length, before + 2);
  });
});

describe('camo URLs in the metrics', () => {
  it('count as route camo, and their HMAC checks as token verifications of kind camo', async () => {
    const scrape = async (): Promise<string> => (await fetchAnswer(`${ecamo.server.adminUrl}/metrics`)).body;
    const before = await scrape();
    assert.equal((await onCanonical(camoPath(KEY, allowed('img.png')))).status, 200);
    assert.equal((await onCanonical(camoPath('wrong key', allowed('img.png')))).status, 401);
    assert.equal((await onCanonical(`/${'z'.repeat(40)}/00`)).status, 400);
    const afterwards = await scrape();
    const moved = (name: string, labels: Record<string, string>): number => count(afterwards, name, labels) - count(before, name, labels);
    assert.equal(moved('ecamo_requests_total', { route: 'camo', status: '200', error: '' }), 1);
    assert.equal(moved('ecamo_requests_total', { route: 'camo', status: '401', error: 'invalid-token' }), 1);
    assert.equal(moved('ecamo_requests_total', { route: 'camo', status: '400', error: 'bad-request' }), 1);
    assert.equal(moved('ecamo_token_verifications_total', { kind: 'camo', outcome: 'valid' }), 1);
    assert.equal(moved('ecamo_token_verifications_total', { kind: 'camo', outcome: 'invalid' }), 2);
  });
});

describe('camo URLs and quarantine', () => {
  it('digests that match no key are refused credentials: enough of them quarantine the address, before any HMAC work', async () => {
    const guarded = await startEcamo({
      ECAMO_CAMO_KEY: KEY,
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://127\\.0\\.0\\.1:\\d+/allowed/',
      ECAMO_QUARANTINE_FAILURES: '3',
      ECAMO_QUARANTINE_WINDOW: '60',
      ECAMO_QUARANTINE_PERIOD: '600',
    });
    try {
      const attacker = '127.0.0.5';
      const before = source.requests.length;
      // Malformed camo paths are bad requests, not refused credentials: they do not count.
      for (let i = 0; i < 3; i++) assert.equal((await getFrom(guarded, attacker, `/${'z'.repeat(40)}/00`, { host: CANONICAL_HOST })).status, 400);
      for (let i = 0; i < 3; i++) {
        const refused = await getFrom(guarded, attacker, camoPath(`guess ${i}`, allowed('img.png')), { host: CANONICAL_HOST });
        assert.equal(refused.status, 401);
      }
      const checks = async (): Promise<number> => (await guarded.server.app.metrics.tokenVerifications.get()).values.reduce((sum, value) => sum + value.value, 0);
      const checked = await checks();
      const quarantined = await getFrom(guarded, attacker, camoPath(KEY, allowed('img.png')), { host: CANONICAL_HOST });
      assert.equal(quarantined.status, 429);
      assert.equal(quarantined.headers['x-ecamo-error'], 'quarantined');
      assert.equal(await checks(), checked, 'no HMAC was computed for the quarantined address');
      assert.equal(source.requests.length, before, 'the source received nothing');
      // Another address with a valid camo URL is served.
      const other = await getFrom(guarded, '127.0.0.6', camoPath(KEY, allowed('img.png')), { host: CANONICAL_HOST });
      assert.equal(other.status, 200);
    } finally {
      await guarded.close();
    }
  });
});

describe('ECAMO_CAMO_KEY unset', () => {
  it('camo paths stay 404, whatever key signed them', async () => {
    const plain = await startEcamo();
    try {
      const before = source.requests.length;
      for (const path of [camoPath(KEY, allowed('img.png')), camoPath(KEY, allowed('img.png'), 'base64'), camoQueryPath(KEY, allowed('img.png'))]) {
        const answer = await fetchAnswer(`${plain.url}${path}`, { host: CANONICAL_HOST });
        assert.equal(answer.status, 404);
        assert.equal(answer.header('x-ecamo-error'), 'not-found');
      }
      assert.equal(source.requests.length, before);
    } finally {
      await plain.close();
    }
  });
});
