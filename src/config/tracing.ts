import { ConfigError } from './errors.js';
import { code, optional, readSettings, row, type Env } from './setting.js';

/**
 * OpenTelemetry traces (src/tracing/), from the standard `OTEL_*` variables.
 * Tracing is on only when an OTLP endpoint is given: without one nothing of
 * the SDK is loaded.
 */
export interface TracingSettings {
  /** Where spans are posted: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, or OTEL_EXPORTER_OTLP_ENDPOINT with `/v1/traces`. */
  readonly url: string;
  readonly protocol: 'http/protobuf' | 'http/json';
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly serviceName: string;
  /** OTEL_RESOURCE_ATTRIBUTES */
  readonly resourceAttributes: Readonly<Record<string, string>>;
  readonly sampler: TracingSampler;
}

export interface TracingSampler {
  /** Whether a span with a traced parent follows its parent's decision (the `parentbased_` samplers). */
  readonly parentBased: boolean;
  /** The share of new traces sampled: 1 for `always_on`, 0 for `always_off`, OTEL_TRACES_SAMPLER_ARG for `traceidratio`. */
  readonly ratio: number;
}

interface SamplerKind {
  readonly parentBased: boolean;
  readonly ratio: number | 'argument';
}

const SAMPLERS = {
  always_on: { parentBased: false, ratio: 1 },
  always_off: { parentBased: false, ratio: 0 },
  traceidratio: { parentBased: false, ratio: 'argument' },
  parentbased_always_on: { parentBased: true, ratio: 1 },
  parentbased_always_off: { parentBased: true, ratio: 0 },
  parentbased_traceidratio: { parentBased: true, ratio: 'argument' },
} as const satisfies Readonly<Record<string, SamplerKind>>;

type Protocol = TracingSettings['protocol'];
const PROTOCOLS: readonly Protocol[] = ['http/protobuf', 'http/json'];

/** `key=value,key2=value2` with percent-encoded values (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES). */
function parseList(text: string, name: string): Readonly<Record<string, string>> {
  const entries: Record<string, string> = {};
  for (const item of text.split(',')) {
    if (item.trim() === '') continue;
    const equals = item.indexOf('=');
    const key = item.slice(0, equals).trim();
    if (equals <= 0 || key === '') throw new ConfigError(name, 'must be a list of key=value pairs separated by commas');
    try {
      entries[key] = decodeURIComponent(item.slice(equals + 1).trim());
    } catch {
      throw new ConfigError(name, `has a badly percent-encoded value for "${key}"`);
    }
  }
  return Object.freeze(entries);
}

function parseUrl(text: string, name: string): URL {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new ConfigError(name, `must be an http(s) URL, got "${text}"`);
  return url;
}

function parseProtocol(text: string, name: string): Protocol {
  const protocol = PROTOCOLS.find((known) => known === text);
  if (protocol === undefined) throw new ConfigError(name, `must be http/protobuf or http/json (grpc is not supported), got "${text}"`);
  return protocol;
}

function parseTimeout(text: string, name: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new ConfigError(name, `must be a whole number of milliseconds, got "${text}"`);
  return Number(text);
}

const NO_ENTRIES: Readonly<Record<string, string>> = Object.freeze({});
const traces = 'the `traces`-specific variable wins over the general one';

/**
 * The standard OTEL_* variables ecamo reads (any other is ignored), one row
 * each; docs/configuration.md's tracing table is generated from them. Values
 * are trimmed, as the OpenTelemetry SDKs do.
 */
export const TRACING_SETTINGS = {
  endpoint: optional('OTEL_EXPORTER_OTLP_ENDPOINT', {
    shown: 'unset (off)',
    trim: true,
    doc: 'Base URL of the collector; spans go to `{endpoint}/v1/traces`. Setting it (or the next one) turns tracing on.',
    see: { title: 'Observability', href: 'observability.md#traces-opentelemetry' },
    parse: parseUrl,
  }),
  tracesEndpoint: optional('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', {
    trim: true,
    doc: 'Full URL spans are posted to, used as given; wins over the one above.',
    parse: parseUrl,
  }),
  protocol: row<Protocol>('OTEL_EXPORTER_OTLP_PROTOCOL', {
    shown: code('http/protobuf'),
    unset: 'http/protobuf',
    trim: true,
    doc: '`http/protobuf` or `http/json`. `grpc` is not supported (a configuration error).',
    parse: parseProtocol,
  }),
  tracesProtocol: optional('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', {
    trim: true,
    doc: `As \`OTEL_EXPORTER_OTLP_PROTOCOL\`; ${traces}.`,
    parse: parseProtocol,
  }),
  headers: row('OTEL_EXPORTER_OTLP_HEADERS', {
    shown: 'none',
    unset: NO_ENTRIES,
    trim: true,
    doc: "`key=value,key2=value2` (values percent-encoded) sent with every export, e.g. a collector's API key.",
    parse: parseList,
  }),
  tracesHeaders: optional('OTEL_EXPORTER_OTLP_TRACES_HEADERS', {
    trim: true,
    doc: `As \`OTEL_EXPORTER_OTLP_HEADERS\`; ${traces}.`,
    parse: parseList,
  }),
  timeoutMs: row('OTEL_EXPORTER_OTLP_TIMEOUT', {
    shown: code(10000),
    unset: 10_000,
    trim: true,
    doc: 'Milliseconds an export may take.',
    parse: parseTimeout,
  }),
  tracesTimeoutMs: optional('OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', {
    trim: true,
    doc: `As \`OTEL_EXPORTER_OTLP_TIMEOUT\`; ${traces}.`,
    parse: parseTimeout,
  }),
  serviceName: optional('OTEL_SERVICE_NAME', {
    shown: code('ecamo'),
    trim: true,
    doc: '`service.name` of the resource (else the `service.name` of `OTEL_RESOURCE_ATTRIBUTES`).',
    parse: (text) => text,
  }),
  resourceAttributes: row('OTEL_RESOURCE_ATTRIBUTES', {
    shown: 'none',
    unset: NO_ENTRIES,
    trim: true,
    doc: 'More resource attributes, `key=value,...` (`deployment.environment=prod`). ecamo adds `process.pid`.',
    parse: parseList,
  }),
  sampler: row<SamplerKind>('OTEL_TRACES_SAMPLER', {
    shown: code('parentbased_always_on'),
    unset: SAMPLERS.parentbased_always_on,
    trim: true,
    doc: `${Object.keys(SAMPLERS).map((name) => code(name)).join(', ')}. Parent-based samplers follow the sampled flag of the client's \`traceparent\`.`,
    parse(text, name) {
      if (!Object.hasOwn(SAMPLERS, text)) throw new ConfigError(name, `must be one of ${Object.keys(SAMPLERS).join(', ')}, got "${text}"`);
      return SAMPLERS[text as keyof typeof SAMPLERS];
    },
  }),
  samplerArgument: row('OTEL_TRACES_SAMPLER_ARG', {
    shown: code(1),
    unset: 1,
    trim: true,
    doc: 'The ratio (0 to 1) of the `traceidratio` samplers.',
    parse(text, name) {
      if (!/^\d*\.?\d+$/.test(text) || Number(text) > 1) throw new ConfigError(name, `must be a number from 0 to 1, got "${text}"`);
      return Number(text);
    },
  }),
  exporter: row<'otlp' | 'none'>('OTEL_TRACES_EXPORTER', {
    shown: code('otlp'),
    unset: 'otlp',
    trim: true,
    doc: '`none` turns tracing off; anything else but `otlp` is refused.',
    parse(text, name) {
      if (text !== 'otlp' && text !== 'none') throw new ConfigError(name, `must be otlp or none, got "${text}"`);
      return text;
    },
  }),
  disabled: row('OTEL_SDK_DISABLED', {
    shown: code('false'),
    unset: false,
    trim: true,
    doc: '`true` turns tracing off.',
    parse(text, name) {
      if (!/^(true|false)$/i.test(text)) throw new ConfigError(name, `must be true or false, got "${text}"`);
      return text.toLowerCase() === 'true';
    },
  }),
} as const;

/**
 * The tracing settings, or undefined when tracing is off: no endpoint, or
 * OTEL_SDK_DISABLED=true, or OTEL_TRACES_EXPORTER=none. Every row is checked
 * even while tracing is off: the operator meant something by a value.
 */
export function loadTracingSettings(env: Env): TracingSettings | undefined {
  const values = readSettings(TRACING_SETTINGS, env);
  const url = values.tracesEndpoint?.href ?? (values.endpoint === undefined ? undefined : new URL('v1/traces', values.endpoint.href.replace(/\/?$/, '/')).href);
  if (url === undefined || values.exporter === 'none' || values.disabled) return undefined;
  const { sampler } = values;
  return Object.freeze({
    url,
    protocol: values.tracesProtocol ?? values.protocol,
    headers: values.tracesHeaders ?? values.headers,
    timeoutMs: values.tracesTimeoutMs ?? values.timeoutMs,
    serviceName: values.serviceName ?? values.resourceAttributes['service.name'] ?? 'ecamo',
    resourceAttributes: values.resourceAttributes,
    sampler: Object.freeze({ parentBased: sampler.parentBased, ratio: sampler.ratio === 'argument' ? values.samplerArgument : sampler.ratio }),
  });
}
