import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { loadTracingSettings } from '../../src/config/tracing.js';
import { env } from './fixture.js';

const ENDPOINT = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector.internal:4318' };

function assertRefused(variables: Record<string, string>, variable: string): void {
  assert.throws(
    () => loadTracingSettings(variables),
    (error: unknown) => error instanceof ConfigError && error.variable === variable && error.message.startsWith(`${variable}: `) && !error.message.includes('\n'),
    `${JSON.stringify(variables)} should be refused naming ${variable}`,
  );
}

describe('tracing settings from the standard OTEL_* variables', () => {
  it('off without an endpoint, or when disabled, whatever else is set', async () => {
    assert.equal(loadTracingSettings({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), undefined);
    assert.equal(loadTracingSettings({ ...ENDPOINT, OTEL_SDK_DISABLED: 'true' }), undefined);
    assert.equal(loadTracingSettings({ ...ENDPOINT, OTEL_TRACES_EXPORTER: 'none' }), undefined);
    assert.equal((await loadConfig(env())).tracing, undefined);
  });

  it('on with an endpoint: OTLP http/protobuf to {endpoint}/v1/traces as service ecamo, parent-based always on', async () => {
    const expected = {
      url: 'http://collector.internal:4318/v1/traces',
      protocol: 'http/protobuf',
      headers: {},
      timeoutMs: 10_000,
      serviceName: 'ecamo',
      resourceAttributes: {},
      sampler: { parentBased: true, ratio: 1 },
    };
    assert.deepEqual(loadTracingSettings(ENDPOINT), expected);
    assert.deepEqual((await loadConfig(env(ENDPOINT))).tracing, expected);
    assert.equal(loadTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otlp.example/base/' })?.url, 'https://otlp.example/base/v1/traces');
  });

  it('the traces-specific variables win over the general ones; the traces endpoint is used as given', () => {
    const settings = loadTracingSettings({
      ...ENDPOINT,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces.internal:9999/otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'a=1',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'api-key=s%20cret, x-team = images',
      OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '2500',
      OTEL_SERVICE_NAME: 'images',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,service.namespace=media',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    assert.deepEqual(settings, {
      url: 'http://traces.internal:9999/otlp',
      protocol: 'http/json',
      headers: { 'api-key': 's cret', 'x-team': 'images' },
      timeoutMs: 2500,
      serviceName: 'images',
      resourceAttributes: { 'deployment.environment': 'prod', 'service.namespace': 'media' },
      sampler: { parentBased: true, ratio: 0.25 },
    });
    assert.deepEqual(loadTracingSettings({ ...ENDPOINT, OTEL_TRACES_SAMPLER: 'always_off' })?.sampler, { parentBased: false, ratio: 0 });
  });

  it('a wrong value is a ConfigError naming the variable', () => {
    assertRefused({ ...ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL');
    assertRefused({ ...ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/xml' }, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL');
    // Refused even while tracing is off: the operator meant something by it.
    assertRefused({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL');
    assertRefused({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT');
    assertRefused({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://collector/' }, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    assertRefused({ ...ENDPOINT, OTEL_TRACES_EXPORTER: 'zipkin' }, 'OTEL_TRACES_EXPORTER');
    assertRefused({ ...ENDPOINT, OTEL_TRACES_SAMPLER: 'sometimes' }, 'OTEL_TRACES_SAMPLER');
    for (const argument of ['1.5', '-0.1', 'half']) assertRefused({ ...ENDPOINT, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: argument }, 'OTEL_TRACES_SAMPLER_ARG');
    assertRefused({ ...ENDPOINT, OTEL_EXPORTER_OTLP_TIMEOUT: '10s' }, 'OTEL_EXPORTER_OTLP_TIMEOUT');
    assertRefused({ ...ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS: 'no-equals-sign' }, 'OTEL_EXPORTER_OTLP_HEADERS');
    assertRefused({ ...ENDPOINT, OTEL_RESOURCE_ATTRIBUTES: 'a=%zz' }, 'OTEL_RESOURCE_ATTRIBUTES');
    assertRefused({ ...ENDPOINT, OTEL_SDK_DISABLED: 'maybe' }, 'OTEL_SDK_DISABLED');
  });
});
