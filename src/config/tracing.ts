import { ConfigError } from './errors.js';

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

const SAMPLERS: Readonly<Record<string, { readonly parentBased: boolean; readonly ratio: number | 'argument' }>> = {
  always_on: { parentBased: false, ratio: 1 },
  always_off: { parentBased: false, ratio: 0 },
  traceidratio: { parentBased: false, ratio: 'argument' },
  parentbased_always_on: { parentBased: true, ratio: 1 },
  parentbased_always_off: { parentBased: true, ratio: 0 },
  parentbased_traceidratio: { parentBased: true, ratio: 'argument' },
};

const PROTOCOLS: ReadonlySet<string> = new Set(['http/protobuf', 'http/json']);

type Env = Readonly<Record<string, string | undefined>>;

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** The traces-specific variable when set, else the general one: `[name, value]`. */
function either(env: Env, specific: string, general: string): [string, string | undefined] {
  const value = optional(env, specific);
  return value === undefined ? [general, optional(env, general)] : [specific, value];
}

/** `key=value,key2=value2` with percent-encoded values (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES). */
function parseList(name: string, text: string | undefined): Record<string, string> {
  const entries: Record<string, string> = {};
  if (text === undefined) return entries;
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
  return entries;
}

function parseUrl(name: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(name, `must be an http(s) URL, got "${text}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(name, `must be an http(s) URL, got "${text}"`);
  return url;
}

function parseSampler(env: Env): TracingSampler {
  const name = optional(env, 'OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on';
  const sampler = SAMPLERS[name];
  if (sampler === undefined) throw new ConfigError('OTEL_TRACES_SAMPLER', `must be one of ${Object.keys(SAMPLERS).join(', ')}, got "${name}"`);
  if (sampler.ratio !== 'argument') return Object.freeze({ parentBased: sampler.parentBased, ratio: sampler.ratio });
  const argument = optional(env, 'OTEL_TRACES_SAMPLER_ARG') ?? '1';
  const ratio = Number(argument);
  if (!/^\d*\.?\d+$/.test(argument) || ratio > 1) throw new ConfigError('OTEL_TRACES_SAMPLER_ARG', `must be a number from 0 to 1, got "${argument}"`);
  return Object.freeze({ parentBased: sampler.parentBased, ratio });
}

/**
 * The tracing settings, or undefined when tracing is off: no endpoint, or
 * OTEL_SDK_DISABLED=true, or OTEL_TRACES_EXPORTER=none. Only OTLP over HTTP is
 * spoken; any other exporter or protocol is a ConfigError.
 */
export function loadTracingSettings(env: Env): TracingSettings | undefined {
  const disabled = optional(env, 'OTEL_SDK_DISABLED');
  if (disabled !== undefined && !/^(true|false)$/i.test(disabled)) throw new ConfigError('OTEL_SDK_DISABLED', `must be true or false, got "${disabled}"`);
  const exporter = optional(env, 'OTEL_TRACES_EXPORTER') ?? 'otlp';
  if (exporter !== 'otlp' && exporter !== 'none') throw new ConfigError('OTEL_TRACES_EXPORTER', `must be otlp or none, got "${exporter}"`);

  const [protocolName, protocol = 'http/protobuf'] = either(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL');
  if (!PROTOCOLS.has(protocol)) throw new ConfigError(protocolName, `must be http/protobuf or http/json (grpc is not supported), got "${protocol}"`);
  const [headersName, headersText] = either(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'OTEL_EXPORTER_OTLP_HEADERS');
  const headers = parseList(headersName, headersText);
  const [timeoutName, timeoutText = '10000'] = either(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT');
  if (!/^\d+$/.test(timeoutText) || Number(timeoutText) < 1) throw new ConfigError(timeoutName, `must be a whole number of milliseconds, got "${timeoutText}"`);
  const resourceAttributes = parseList('OTEL_RESOURCE_ATTRIBUTES', optional(env, 'OTEL_RESOURCE_ATTRIBUTES'));
  const sampler = parseSampler(env);

  const tracesEndpoint = optional(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const endpoint = optional(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const url =
    tracesEndpoint !== undefined
      ? parseUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', tracesEndpoint).href
      : endpoint === undefined
        ? undefined
        : new URL('v1/traces', parseUrl('OTEL_EXPORTER_OTLP_ENDPOINT', endpoint).href.replace(/\/?$/, '/')).href;
  if (url === undefined || exporter === 'none' || disabled?.toLowerCase() === 'true') return undefined;

  return Object.freeze({
    url,
    protocol: protocol as TracingSettings['protocol'],
    headers: Object.freeze(headers),
    timeoutMs: Number(timeoutText),
    serviceName: optional(env, 'OTEL_SERVICE_NAME') ?? resourceAttributes['service.name'] ?? 'ecamo',
    resourceAttributes: Object.freeze(resourceAttributes),
    sampler,
  });
}
