/**
 * The admin listener (ECAMO_ADMIN_BIND): metrics that move with traffic,
 * liveness and readiness probes, and a public port that shows none of it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { generateKey } from '../../src/config/generate-key.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { CANONICAL_HOST, fetchAnswer, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { count, sample } from '../helpers/prometheus.js';
import { paddedPng } from '../helpers/images.js';
import { fetchThroughEcamo, IMAGE } from '../helpers/wire.js';

let source: Source;
let ecamo: Ecamo;
let releaseSlow: (() => void) | undefined;
const SLOW_IMAGE = paddedPng(5008);

before(async () => {
  source = await startSource((req, res) => {
    if (req.url === '/slow.png') {
      // Past the window ecamo reads before it answers: the answer has begun when the source waits.
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': SLOW_IMAGE.length });
      res.write(SLOW_IMAGE.subarray(0, 5000));
      releaseSlow = () => res.end(SLOW_IMAGE.subarray(5000));
      return;
    }
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': IMAGE.length }).end(IMAGE);
  });
  ecamo = await startEcamo({ ECAMO_ADMIN_BIND: '127.0.0.1:0' });
});

after(async () => {
  await ecamo.close();
  await source.close();
});

async function scrape(target: Ecamo = ecamo): Promise<string> {
  const answer = await fetchAnswer(`${target.server.adminUrl}/metrics`);
  assert.equal(answer.status, 200);
  assert.match(answer.header('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return answer.body;
}

describe('admin listener: /metrics', () => {
  it('counts requests by route, status and error code, bytes, source answers, token checks and cache lookups', async () => {
    const before = await scrape();
    const image = await fetchThroughEcamo(ecamo, `${source.origin}/img.png?metrics`);
    assert.equal(image.status, 200);
    const refused = await ecamo.get('/.ecamo/v1/p/abc?t=forged', { host: CANONICAL_HOST });
    assert.equal(refused.header('x-ecamo-error'), 'invalid-token');
    const afterwards = await scrape();

    const moved = (name: string, labels: Record<string, string> = {}): number => count(afterwards, name, labels) - count(before, name, labels);
    assert.equal(moved('ecamo_requests_total', { route: 'redirect', status: '302', error: '' }), 1);
    assert.equal(moved('ecamo_requests_total', { route: 'proxy', status: '200', error: '' }), 1);
    assert.equal(moved('ecamo_requests_total', { route: 'proxy', status: '401', error: 'invalid-token' }), 1);
    assert.equal(moved('ecamo_streamed_bytes_total'), IMAGE.length);
    assert.equal(moved('ecamo_source_request_duration_seconds_count', { status: '200' }), 1);
    assert.equal(moved('ecamo_token_verifications_total', { kind: 'url', outcome: 'valid' }), 1);
    assert.equal(moved('ecamo_token_verifications_total', { kind: 'cookie', outcome: 'valid' }) + moved('ecamo_token_cache_lookups_total', { cache: 'cookie', outcome: 'hit' }), 1);
    assert.equal(moved('ecamo_token_verifications_total', { kind: 'proxy', outcome: 'valid' }), 1);
    assert.equal(moved('ecamo_token_verifications_total', { kind: 'proxy', outcome: 'invalid' }), 1);
    assert.equal(moved('ecamo_token_cache_lookups_total', { cache: 'proxy', outcome: 'miss' }), 2);
    assert.equal(moved('ecamo_token_cache_lookups_total', { cache: 'issued-proxy', outcome: 'miss' }), 1);

    // The same URL token again (a page viewed twice): the redirect endpoint answers from its caches.
    const urlPath = await ecamo.signer.url(`${source.origin}/img.png?cached`);
    const first = await ecamo.get(urlPath, { headers: { cookie: ecamo.cookie } });
    const second = await ecamo.get(urlPath, { headers: { cookie: ecamo.cookie } });
    assert.deepEqual([first.status, second.header('location')], [302, first.header('location')]);
    const third = await scrape();
    const movedSince = (name: string, labels: Record<string, string>): number => count(third, name, labels) - count(afterwards, name, labels);
    assert.equal(movedSince('ecamo_token_cache_lookups_total', { cache: 'url', outcome: 'miss' }), 1);
    assert.equal(movedSince('ecamo_token_cache_lookups_total', { cache: 'url', outcome: 'hit' }), 1);
    assert.equal(movedSince('ecamo_token_cache_lookups_total', { cache: 'issued-proxy', outcome: 'hit' }), 1);
  });

  it('counts proxied answers by x-ecamo-cache outcome, and shows what the response cache holds', async () => {
    const before = await scrape();
    const path = await ecamo.proxyPath(`${source.origin}/img.png?response-cache`);
    const first = await fetchAnswer(`${ecamo.url}${path}`, { host: CANONICAL_HOST });
    const afterMiss = await scrape();
    const second = await fetchAnswer(`${ecamo.url}${path}`, { host: CANONICAL_HOST });
    const afterHit = await scrape();
    assert.deepEqual([first.status, first.header('x-ecamo-cache')], [200, 'miss']);
    assert.deepEqual([second.status, second.header('x-ecamo-cache')], [200, 'hit']);
    const moved = (from: string, to: string, outcome: string): number => count(to, 'ecamo_cache_responses_total', { outcome }) - count(from, 'ecamo_cache_responses_total', { outcome });
    assert.deepEqual([moved(before, afterMiss, 'miss'), moved(before, afterMiss, 'hit')], [1, 0]);
    assert.deepEqual([moved(afterMiss, afterHit, 'miss'), moved(afterMiss, afterHit, 'hit')], [0, 1]);
    for (const outcome of ['revalidated', 'bypass']) assert.notEqual(sample(afterHit, 'ecamo_cache_responses_total', { outcome }), undefined, `${outcome} is exported`);
    const cache = ecamo.server.app.cache!;
    assert.equal(sample(afterHit, 'ecamo_cache_memory_entries'), cache.memoryEntries);
    assert.equal(sample(afterHit, 'ecamo_cache_memory_bytes'), cache.memoryBytes);
    assert.ok(sample(afterMiss, 'ecamo_cache_memory_entries')! > (sample(before, 'ecamo_cache_memory_entries') ?? 0));
    assert.ok(cache.memoryBytes > IMAGE.length);
  });

  it('shows requests in flight, key reloads, a failed source, and Node process metrics', async () => {
    const path = await ecamo.proxyPath(`${source.origin}/slow.png`);
    const response = await request(`${ecamo.url}${path}`, { headers: { host: CANONICAL_HOST } });
    assert.equal(response.statusCode, 200);
    const during = await scrape();
    assert.equal(sample(during, 'ecamo_requests_in_flight'), 1);
    releaseSlow!();
    assert.deepEqual(Buffer.from(await response.body.arrayBuffer()), SLOW_IMAGE);

    const unreachable = await fetchAnswer(`${ecamo.url}${await ecamo.proxyPath('http://127.0.0.1:1/gone.png')}`, { host: CANONICAL_HOST });
    assert.equal(unreachable.status, 502);
    const text = await scrape();
    assert.equal(sample(text, 'ecamo_requests_in_flight'), 0);
    assert.equal(count(text, 'ecamo_source_request_duration_seconds_count', { status: 'error' }), 1);
    assert.equal(count(text, 'ecamo_requests_total', { route: 'proxy', status: '502', error: 'source-request' }), 1);
    assert.equal(sample(text, 'ecamo_key_reloads_total', { outcome: 'success' }), 0);
    assert.equal(sample(text, 'ecamo_key_reloads_total', { outcome: 'failure' }), 0);
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      assert.notEqual(sample(text, name), undefined, `${name} is exported`);
    }
  });

  it('answers probes on the admin port; unknown paths 404 and other methods 405', async () => {
    const health = await fetchAnswer(`${ecamo.server.adminUrl}/healthz`);
    assert.deepEqual([health.status, health.body], [200, 'ok']);
    const ready = await fetchAnswer(`${ecamo.server.adminUrl}/readyz`);
    assert.deepEqual([ready.status, ready.body], [200, 'ready']);
    const unknown = await fetchAnswer(`${ecamo.server.adminUrl}/nothing`);
    assert.deepEqual([unknown.status, unknown.header('x-ecamo-error')], [404, 'not-found']);
    const post = await fetchAnswer(`${ecamo.server.adminUrl}/metrics`, { method: 'POST' });
    assert.deepEqual([post.status, post.header('x-ecamo-error')], [405, 'method-not-allowed']);
  });

  it('the public port keeps /healthz and answers 404 for /metrics and /readyz', async () => {
    assert.deepEqual([(await ecamo.get('/healthz')).status, (await ecamo.get('/healthz')).body], [200, 'ok']);
    for (const path of ['/metrics', '/readyz']) {
      for (const host of [CANONICAL_HOST, 'wiki.test']) {
        const answer = await ecamo.get(path, { host });
        assert.deepEqual([answer.status, answer.header('x-ecamo-error')], [404, 'not-found'], `${path} on ${host}`);
      }
    }
  });
});

describe('admin listener: /readyz during drain', () => {
  it('turns 503 once close() starts while /healthz stays 200, and the admin port closes with the server', async () => {
    const draining = await startEcamo({ ECAMO_ADMIN_BIND: '127.0.0.1:0' });
    const adminUrl = draining.server.adminUrl!;
    assert.equal((await fetchAnswer(`${adminUrl}/readyz`)).status, 200);
    // A response in flight holds the drain open long enough to probe it.
    let finish: () => void = () => {};
    const held = await startSource((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.write(SLOW_IMAGE.subarray(0, 5000));
      finish = () => res.end(SLOW_IMAGE.subarray(5000));
    });
    const response = await request(`${draining.url}${await draining.proxyPath(`${held.origin}/held.png`)}`, { headers: { host: CANONICAL_HOST } });
    const closed = draining.server.close(60_000);
    assert.equal(draining.server.draining, true);
    const probe = await fetchAnswer(`${adminUrl}/readyz`);
    assert.deepEqual([probe.status, probe.body], [503, 'not ready']);
    assert.equal((await fetchAnswer(`${adminUrl}/healthz`)).status, 200);
    finish();
    assert.deepEqual(Buffer.from(await response.body.arrayBuffer()), SLOW_IMAGE);
    await closed;
    await assert.rejects(fetchAnswer(`${adminUrl}/healthz`), 'the admin listener is closed after the drain');
    await held.close();
  });
});

describe('ECAMO_ADMIN_BIND configuration', () => {
  let keys: Record<string, string>;
  before(async () => {
    const key = await generateKey('k');
    keys = { ECAMO_CANONICAL_HOST: 'ecamo.example', ECAMO_PRIVATE_KEYS: JSON.stringify({ k: key.privateJwk }), ECAMO_SERVICE_PUBLIC_KEYS: '{}' };
  });
  const base = (overrides: Record<string, string>) => loadConfig({ ...keys, ...overrides });
  it('is off by default and takes host:port', async () => {
    assert.equal((await base({})).adminBind, undefined);
    assert.deepEqual((await base({ ECAMO_ADMIN_BIND: '127.0.0.1:9090' })).adminBind, { host: '127.0.0.1', port: 9090 });
    assert.deepEqual((await base({ ECAMO_ADMIN_BIND: ':9090' })).adminBind, { host: '::', port: 9090 });
  });
  it('refuses the public listener address, or a port it already covers', async () => {
    for (const [admin, bind] of [
      ['127.0.0.1:3000', '127.0.0.1:3000'],
      ['0.0.0.0:3000', '127.0.0.1:3000'],
      ['127.0.0.1:3000', '[::]:3000'],
      ['[::1]:8080', ':8080'],
    ] as const) {
      await assert.rejects(base({ ECAMO_ADMIN_BIND: admin, ECAMO_BIND: bind }), (error: unknown) => error instanceof ConfigError && error.variable === 'ECAMO_ADMIN_BIND', `${admin} with ${bind}`);
    }
    assert.deepEqual((await base({ ECAMO_ADMIN_BIND: '127.0.0.1:3000', ECAMO_BIND: '127.0.0.2:3000' })).adminBind, { host: '127.0.0.1', port: 3000 });
  });
  it('refuses what is not host:port', async () => {
    await assert.rejects(base({ ECAMO_ADMIN_BIND: '9090' }), (error: unknown) => error instanceof ConfigError && error.variable === 'ECAMO_ADMIN_BIND');
  });
});
