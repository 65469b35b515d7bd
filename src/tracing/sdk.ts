/**
 * The OpenTelemetry side of src/tracing/, loaded only when tracing is on
 * (index.ts startTracing). One TracerProvider per server, never registered
 * as the global one; spans are batched and posted over OTLP/HTTP.
 *
 * What a span may hold: routes as templates, status codes, ecamo's error
 * codes, cache results, byte counts, the client's address, and source URLs
 * without their query (origin and path, cut as log lines cut them). Never a
 * request path of ecamo (it holds the URL token, the camo digest), a query
 * (the proxy token), a header value (cookies, Authorization) or an error
 * message (it may quote any of these).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { ENDPOINT_PATHS } from '@ecamo/protocol';
import { defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
} from '@opentelemetry/sdk-trace';
import type { TracingSampler, TracingSettings } from '../config/tracing.js';
import { EcamoError } from '../errors.js';
import type { ExchangeObserver } from '../upstream/exchange.js';
import type { RequestOutcome, RequestTrace, Tracing } from './index.js';

/** `http.route` of each of http/router.ts's routes. */
const ROUTE_TEMPLATES: Readonly<Record<string, string>> = {
  index: '/',
  health: '/healthz',
  jwks: ENDPOINT_PATHS.jwks,
  redirect: `/{prefix}${ENDPOINT_PATHS.redirect}{url_token}`,
  proxy: `/{prefix}${ENDPOINT_PATHS.proxy}{digest}`,
  camo: '/{digest}/{encoded_url}',
};

/** As http/request-record.ts cuts source URLs in log lines. */
const SOURCE_URL_CHARS = 1000;

const propagator = new W3CTraceContextPropagator();

/** A source URL as a span shows it: origin and path, no query (it may hold the source's own credentials). */
function sourceUrlForSpan(url: URL): string {
  const shown = url.origin + url.pathname;
  return shown.length <= SOURCE_URL_CHARS ? shown : `${shown.slice(0, SOURCE_URL_CHARS)}...`;
}

/** An error's kind, never its message. */
function errorType(error: unknown): string {
  if (error instanceof EcamoError) return error.code;
  return error instanceof Error ? error.name : 'unknown';
}

function samplerOf(settings: TracingSampler): Sampler {
  const root = settings.ratio >= 1 ? new AlwaysOnSampler() : settings.ratio <= 0 ? new AlwaysOffSampler() : new TraceIdRatioBasedSampler(settings.ratio);
  return settings.parentBased ? new ParentBasedSampler({ root }) : root;
}

async function exporterOf(settings: TracingSettings): Promise<BatchSpanProcessor> {
  const { OTLPTraceExporter } =
    settings.protocol === 'http/json' ? await import('@opentelemetry/exporter-trace-otlp-http') : await import('@opentelemetry/exporter-trace-otlp-proto');
  return new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: settings.url, headers: { ...settings.headers }, timeoutMillis: settings.timeoutMs }) });
}

export async function createTracing(settings: TracingSettings): Promise<Tracing> {
  const provider = new TracerProvider({
    // With workers, each process exports its own spans: the pid tells them apart.
    resource: resourceFromAttributes({ ...settings.resourceAttributes, 'service.name': settings.serviceName, 'process.pid': process.pid }),
    sampler: samplerOf(settings.sampler),
    spanProcessors: [await exporterOf(settings)],
  });
  const tracer = provider.getTracer('ecamo');
  return {
    requestStarted: (method, headers) => new ServerTrace(tracer, method, headers),
    shutdown: () => provider.shutdown(),
  };
}

class ServerTrace implements RequestTrace {
  readonly #tracer: Tracer;
  readonly #span: Span;
  /** The parent of this request's child spans. */
  readonly #context: Context;
  readonly #method: string;
  #hops = 0;

  constructor(tracer: Tracer, method: string | undefined, headers: IncomingHttpHeaders) {
    this.#tracer = tracer;
    // Semantic conventions: a method the server does not know is `_OTHER` (any other is answered 405).
    this.#method = method === 'GET' || method === 'HEAD' ? method : '_OTHER';
    const parent = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
    this.#span = tracer.startSpan(this.#method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': this.#method } }, parent);
    this.#context = trace.setSpan(ROOT_CONTEXT, this.#span);
  }

  hop(url: URL, headers: Record<string, string>): ExchangeObserver {
    const attributes: Record<string, string | number> = {
      'http.request.method': 'GET',
      'url.full': sourceUrlForSpan(url),
      'server.address': url.hostname,
      'server.port': url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
    };
    // Redirect hops, and a fetch again after a revalidation, count as resends.
    if (this.#hops > 0) attributes['http.request.resend_count'] = this.#hops;
    this.#hops++;
    const span = this.#tracer.startSpan('GET', { kind: SpanKind.CLIENT, attributes }, this.#context);
    propagator.inject(trace.setSpan(this.#context, span), headers, defaultTextMapSetter);
    return new HopTrace(span);
  }

  step<T>(name: string, work: () => Promise<T>): Promise<T> {
    return childSpan(this.#tracer.startSpan(name, undefined, this.#context), work);
  }

  sharedGet<T>(get: () => Promise<T>, found: (reply: T) => string): Promise<T> {
    // Semantic conventions for a database call, with no query text: the Redis key is a digest of the source URL.
    const attributes = { 'db.system.name': 'redis', 'db.operation.name': 'GET' };
    const span = this.#tracer.startSpan('redis GET', { kind: SpanKind.CLIENT, attributes }, this.#context);
    return childSpan(span, get, (reply) => span.setAttribute('ecamo.cache.shared', found(reply)));
  }

  end(outcome: RequestOutcome, status: number | undefined): void {
    const span = this.#span;
    const route = ROUTE_TEMPLATES[outcome.route];
    if (route !== undefined) {
      span.updateName(`${this.#method} ${route}`);
      span.setAttribute('http.route', route);
    }
    span.setAttribute('ecamo.route', outcome.route);
    if (status !== undefined) span.setAttribute('http.response.status_code', status);
    span.setAttribute('http.response.body.size', outcome.bytes);
    span.setAttribute('client.address', outcome.client);
    if (outcome.action !== undefined) span.setAttribute('ecamo.action', outcome.action);
    if (outcome.error !== undefined) span.setAttribute('ecamo.error', outcome.error);
    if (outcome.cache !== undefined) span.setAttribute('ecamo.cache', outcome.cache);
    const source = outcome.source === undefined || !URL.canParse(outcome.source) ? undefined : new URL(outcome.source);
    if (source !== undefined) span.setAttribute('ecamo.source.url', sourceUrlForSpan(source));
    if (outcome.sourceStatus !== undefined) span.setAttribute('ecamo.source.status_code', outcome.sourceStatus);
    // Semantic conventions: a server span is an error for a 5xx only (a 4xx is the client's).
    if (status !== undefined && status >= 500) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.setAttribute('error.type', outcome.error ?? String(status));
    }
    span.end();
  }
}

/** `work()` as `span`, which ends with it: an error (by its kind, never its message) when it throws; `done` sees what it returns. */
async function childSpan<T>(span: Span, work: () => Promise<T>, done?: (result: T) => void): Promise<T> {
  try {
    const result = await work();
    done?.(result);
    return result;
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR });
    span.setAttribute('error.type', errorType(error));
    throw error;
  } finally {
    span.end();
  }
}

/** One request to a source: a client span from sending it to the end (or abandonment) of its body. */
class HopTrace implements ExchangeObserver {
  #ended = false;

  constructor(private readonly span: Span) {}

  answered(statusCode: number): void {
    this.span.setAttribute('http.response.status_code', statusCode);
    if (statusCode >= 400) {
      this.span.setStatus({ code: SpanStatusCode.ERROR });
      this.span.setAttribute('error.type', String(statusCode));
    }
  }

  ended(bytes: number, error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.span.setAttribute('http.response.body.size', bytes);
    if (error !== undefined) {
      this.span.setStatus({ code: SpanStatusCode.ERROR });
      this.span.setAttribute('error.type', errorType(error));
    }
    this.span.end();
  }
}
