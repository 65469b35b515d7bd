/**
 * The metrics module: values recorded through tallies come out in the
 * Prometheus text as prom-client writes its own metrics, and sum across
 * workers as prom-client's cluster aggregation sums them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregatorRegistry } from 'prom-client';
import { Metrics } from '../../src/metrics.js';
import { count, sample } from '../helpers/prometheus.js';

const SOURCE = 'ecamo_source_request_duration_seconds';

function record(metrics: Metrics): void {
  metrics.requestAnswered('proxy', 200, undefined, 100);
  metrics.requestAnswered('proxy', 200, undefined, 50);
  metrics.requestAnswered('redirect', 401, 'jwt', 0);
  metrics.sourceAnswered(200, 0.003);
  metrics.sourceAnswered(200, 0.2);
  metrics.sourceAnswered(200, 99);
  metrics.sourceAnswered('error', 10);
  metrics.tokenVerified('proxy', 'invalid');
  metrics.cacheLookup('url', true);
  metrics.requestTimed('proxy', 0.0004);
  metrics.requestTimed('proxy', 0.2);
}

test('tallied counters and the source histogram in the text format', async () => {
  const metrics = new Metrics();
  record(metrics);
  const text = await metrics.registry.metrics();
  assert.equal(sample(text, 'ecamo_requests_total', { route: 'proxy', status: '200', error: '' }), 2);
  assert.equal(sample(text, 'ecamo_requests_total', { route: 'redirect', status: '401', error: 'jwt' }), 1);
  assert.equal(sample(text, 'ecamo_streamed_bytes_total'), 150);
  assert.equal(sample(text, 'ecamo_token_verifications_total', { kind: 'proxy', outcome: 'invalid' }), 1);
  assert.equal(sample(text, 'ecamo_token_verifications_total', { kind: 'proxy', outcome: 'valid' }), 0, 'known label sets are there from the start');
  assert.equal(sample(text, 'ecamo_token_cache_lookups_total', { cache: 'url', outcome: 'hit' }), 1);
  assert.match(text, new RegExp(`# TYPE ${SOURCE} histogram`));
  const bucket = (le: string, status = '200'): number | undefined => sample(text, `${SOURCE}_bucket`, { le, status });
  assert.deepEqual([bucket('0.005'), bucket('0.1'), bucket('0.25'), bucket('30'), bucket('+Inf')], [1, 1, 2, 2, 3], 'cumulative, the slowest only in +Inf');
  assert.equal(sample(text, `${SOURCE}_count`, { status: '200' }), 3);
  assert.equal(sample(text, `${SOURCE}_sum`, { status: '200' }), 0.003 + 0.2 + 99);
  assert.deepEqual([bucket('5', 'error'), bucket('10', 'error'), sample(text, `${SOURCE}_count`, { status: 'error' })], [0, 1, 1], 'a bound is inclusive');
  const requestBucket = (le: string): number | undefined => sample(text, 'ecamo_request_duration_seconds_bucket', { le, route: 'proxy' });
  assert.deepEqual([requestBucket('0.0005'), requestBucket('0.1'), requestBucket('0.25'), requestBucket('+Inf')], [1, 1, 2, 2], 'the request histogram, by route');
});

test('ecamo_ready follows the readiness it watches, read at scrape time', async () => {
  const metrics = new Metrics();
  let ready = false;
  metrics.watchReadiness(() => ready);
  assert.equal(sample(await metrics.registry.metrics(), 'ecamo_ready'), 0);
  ready = true;
  assert.equal(sample(await metrics.registry.metrics(), 'ecamo_ready'), 1);
});

test('two workers\' registries sum as the primary sums them', async () => {
  const [first, second] = [new Metrics(), new Metrics()];
  record(first);
  record(second);
  second.requestAnswered('proxy', 200, undefined, 1);
  const summed = await AggregatorRegistry.aggregate([await first.registry.getMetricsAsJSON(), await second.registry.getMetricsAsJSON()]).metrics();
  assert.equal(count(summed, 'ecamo_requests_total', { route: 'proxy', status: '200', error: '' }), 5);
  assert.equal(count(summed, `${SOURCE}_bucket`, { le: '0.25', status: '200' }), 4);
  assert.equal(count(summed, `${SOURCE}_count`, { status: '200' }), 6);
  assert.equal(count(summed, 'ecamo_streamed_bytes_total'), 301);
});

test('resetMetrics empties the tallies too', async () => {
  const metrics = new Metrics();
  record(metrics);
  metrics.registry.resetMetrics();
  const text = await metrics.registry.metrics();
  assert.equal(count(text, `${SOURCE}_count`, { status: '200' }), 0);
  assert.equal(count(text, 'ecamo_requests_total', { route: 'proxy', status: '200', error: '' }), 0);
  assert.equal(count(text, 'ecamo_token_verifications_total', { kind: 'proxy', outcome: 'invalid' }), 0);
});
