/**
 * Hostile input against a real ecamo: dangerous source URLs: schemes ecamo
 * must never send a browser to, private addresses in every spelling, redirects
 * to them. Each refusal must be a 4xx/5xx ecamo chose (never a 500 or a
 * crash), carry the right `x-ecamo-error` and show no stack trace; each
 * suite's last hook checks that the server is still healthy and logged no bug.
 *
 * Everything stays on 127.0.0.1 / ::1: the only names used are `localhost`
 * (hosts file) and Host-header-only names that nothing resolves.
 */
import assert from 'node:assert/strict';
import dns from 'node:dns';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { urlDigest } from '../../src/tokens/digest.js';
import { CANONICAL_HOST, SERVICE_ORIGIN, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { PNG, now, startWatchedEcamo, assertHealthyThenClose, assertRefused, es256, jws } from '../helpers/hostile.js';

describe('non-http(s) source URLs', () => {
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];

  before(async () => {
    ({ ecamo, logs } = await startWatchedEcamo());
  });

  // Whatever the tests above sent, the server must still be healthy: checked once they are done.
  after(() => assertHealthyThenClose(ecamo, logs));

  const BAD_URLS = [
    'javascript:alert(document.cookie)',
    'JAVASCRIPT:alert(1)',
    ' javascript:alert(1)',
    'java\tscript:alert(1)',
    '\x00javascript:alert(1)',
    'data:image/svg+xml,<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    'data:text/html,<script>alert(1)</script>',
    'file:///etc/passwd',
    'ftp://127.0.0.1/x.png',
    'ws://127.0.0.1/x',
    'blob:http://wiki.test/0f0f0f0f-0000-0000-0000-000000000000',
    'about:blank',
    'vbscript:msgbox(1)',
    '/relative.png',
    '//127.0.0.1/x.png',
    'x.png',
    '',
    'http://',
    'http://user:secret@127.0.0.1/x.png',
    'https://:secret@127.0.0.1/x.png',
  ];

  const urlToken = (url: string): string =>
    jws({ alg: 'ES256', kid: ecamo.serviceKey.kid }, { iss: SERVICE_ORIGIN, 'ecamo:url': url }, (input) => es256(ecamo.serviceKey.privateJwk, input));

  test('the redirect endpoint refuses them with 400 url and never sets Location', async () => {
    for (const url of BAD_URLS) {
      const path = `/${ecamo.config.prefix}/v1/r/${urlToken(url)}`;
      const variants: [string, Record<string, string>][] = [
        ['document', { 'sec-fetch-dest': 'document' }],
        ['no cookie', {}],
        ['image with cookie', { 'sec-fetch-dest': 'image', cookie: ecamo.cookie }],
      ];
      for (const [label, headers] of variants) {
        assertRefused(await ecamo.get(path, { headers }), 400, 'url', `${JSON.stringify(url)} (${label})`);
      }
    }
  });

  test('a proxy token carrying one is refused before any redirect to the source', async () => {
    for (const url of BAD_URLS) {
      const token = jws(
        { alg: 'ES256', kid: ecamo.ecamoKey.kid },
        { iss: 'ecamo:s', aud: 'ecamo:p', exp: now() + 45, 'ecamo:svc': SERVICE_ORIGIN, 'ecamo:url': url, 'ecamo:tok': false },
        (input) => es256(ecamo.ecamoKey.privateJwk, input),
      );
      const answer = await ecamo.get(`/${ecamo.config.prefix}/v1/p/${urlDigest(url)}?t=${token}`, { host: CANONICAL_HOST, headers: { 'sec-fetch-dest': 'document' } });
      assertRefused(answer, 401, 'invalid-token', JSON.stringify(url));
    }
  });

  test('newlines in ecamo:url cannot inject headers into the redirect to the source', async () => {
    const url = 'http://127.0.0.1:1/x.png\r\nSet-Cookie: pwned=1\r\nX-Injected: 1';
    const answer = await ecamo.get(`/${ecamo.config.prefix}/v1/r/${urlToken(url)}`, { headers: { 'sec-fetch-dest': 'document' } });
    assert.equal(answer.status, 302);
    assert.equal(answer.header('x-ecamo-action'), 'redirect-to-source');
    assert.equal(answer.header('set-cookie'), undefined);
    assert.equal(answer.header('x-injected'), undefined);
    assert.equal(answer.header('location'), new URL(url).href);
    assert.doesNotMatch(answer.header('location')!, /[\r\n ]/);
  });

});

describe('private-address guard with no private allowance', () => {
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];
  let source: Source;
  let source6: Source | undefined;

  before(async () => {
    ({ ecamo, logs } = await startWatchedEcamo({ ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '' }));
    assert.equal(ecamo.config.privateSourceAllowedRegexp, undefined);
    const handler: http.RequestListener = (_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
    source = await startSource(handler);
    try {
      source6 = await startSource(handler, '::1');
    } catch {
      source6 = undefined; // no IPv6 loopback: [::1] is still checked, just not counted
    }
  });

  // Whatever the tests above sent, the server must still be healthy: checked once they are done.
  after(() => assertHealthyThenClose(ecamo, logs, source, source6));

  test('every spelling of this machine is refused and the listener receives nothing', async () => {
    const port = source.port;
    const urls = [
      `http://127.0.0.1:${port}/img.png`,
      `http://localhost:${port}/img.png`,
      `http://LOCALHOST:${port}/img.png`,
      `http://127.1:${port}/img.png`,
      `http://2130706433:${port}/img.png`,
      `http://0x7f000001:${port}/img.png`,
      `http://0177.0.0.1:${port}/img.png`,
      `http://0x7f.0.0.1:${port}/img.png`,
      `http://127.0.0.1.:${port}/img.png`,
      `http://127.255.255.254:${port}/img.png`,
      `http://0.0.0.0:${port}/img.png`,
      `http://0:${port}/img.png`,
      `http://[::ffff:127.0.0.1]:${port}/img.png`,
      `http://[::ffff:7f00:1]:${port}/img.png`,
      `http://[::127.0.0.1]:${port}/img.png`,
      `http://[::]:${port}/img.png`,
      `http://[::1]:${source6?.port ?? port}/img.png`,
      `https://127.0.0.1:${port}/img.png`,
    ];
    for (const url of urls) {
      assertRefused(await ecamo.get(await ecamo.proxyPath(url), { host: CANONICAL_HOST }), 403, 'unallowed-source', url);
    }
    assert.equal(source.requests.length, 0);
    assert.equal(source6?.requests.length ?? 0, 0);
  });

  // `127.0.0.1.nip.io`-style names: public DNS that answers with a private address.
  // The resolver is scripted in-process (dns.lookup, which the guard calls), so no
  // query leaves this machine; anything unscripted fails as not found.
  test('a public-looking name that resolves to loopback (nip.io style, DNS rebinding) is refused', async (t) => {
    const answers: Record<string, { address: string; family: number }[]> = {
      '127.0.0.1.nip.io': [{ address: '127.0.0.1', family: 4 }],
      'img.rebind.example.com': [{ address: '93.184.216.34', family: 4 }, { address: '127.0.0.1', family: 4 }],
      'v6.rebind.example.com': [{ address: '::ffff:127.0.0.1', family: 6 }],
    };
    const asked: string[] = [];
    t.mock.method(dns, 'lookup', ((hostname: string, _options: unknown, callback: (error: Error | null, addresses: unknown[]) => void) => {
      asked.push(hostname);
      const answer = answers[hostname];
      process.nextTick(() =>
        answer === undefined ? callback(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []) : callback(null, answer),
      );
    }) as unknown as typeof dns.lookup);
    for (const host of Object.keys(answers)) {
      const url = `http://${host}:${source.port}/img.png`;
      assertRefused(await ecamo.get(await ecamo.proxyPath(url), { host: CANONICAL_HOST }), 403, 'unallowed-source', url);
    }
    assert.deepEqual(asked, Object.keys(answers), 'each name went through the scripted resolver');
    assert.equal(source.requests.length, 0);
  });

  test('the full browser flow ends in the same refusal', async () => {
    const path = await ecamo.signer.url(`http://localhost:${source.port}/img.png`);
    const redirect = await ecamo.get(path, { headers: { cookie: ecamo.cookie } });
    assert.equal(redirect.status, 302);
    const location = new URL(redirect.header('location')!);
    assertRefused(await ecamo.get(`${location.pathname}${location.search}`, { host: CANONICAL_HOST }), 403, 'unallowed-source', 'browser flow');
    assert.equal(source.requests.length, 0);
  });

});

describe('redirects from an allowed private source are re-checked hop by hop', () => {
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];
  let target: Source;
  let first: Source;
  let location = '';

  before(async () => {
    target = await startSource((_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
    first = await startSource((_req, res) => void res.writeHead(302, { location }).end());
    ({ ecamo, logs } = await startWatchedEcamo({
      // Only the first URL itself may be private.
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${first.port}/start$`,
      ECAMO_MAX_REDIRECTS: '3',
    }));
  });

  // Whatever the tests above sent, the server must still be healthy: checked once they are done.
  after(() => assertHealthyThenClose(ecamo, logs, first, target));

  test('a hop to a private address is 403 unallowed-source; only the first hop is fetched', async () => {
    const hops = [
      `http://127.0.0.1:${target.port}/img.png`,
      `http://localhost:${target.port}/img.png`,
      `http://[::ffff:127.0.0.1]:${target.port}/img.png`,
      `http://2130706433:${target.port}/img.png`,
      `http://0.0.0.0:${target.port}/img.png`,
      '/other', // same private host, but not the allowed URL
      `http://127.0.0.1:${first.port}/start?again`, // not exactly the allowed URL either
    ];
    for (const hop of hops) {
      location = hop;
      const fetched = first.requests.length;
      assertRefused(await ecamo.get(await ecamo.proxyPath(`http://127.0.0.1:${first.port}/start`), { host: CANONICAL_HOST }), 403, 'unallowed-source', hop);
      assert.equal(first.requests.length, fetched + 1, `${hop}: only the first hop`);
    }
    assert.equal(target.requests.length, 0);
  });

  test('a hop to another scheme or with credentials is refused', async () => {
    for (const hop of ['file:///etc/passwd', 'javascript:alert(1)', 'ftp://127.0.0.1/x', `http://user:pw@127.0.0.1:${target.port}/img.png`]) {
      location = hop;
      assertRefused(await ecamo.get(await ecamo.proxyPath(`http://127.0.0.1:${first.port}/start`), { host: CANONICAL_HOST }), 403, 'unallowed-source', hop);
    }
    assert.equal(target.requests.length, 0);
  });

});
