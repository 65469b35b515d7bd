/**
 * OpenTelemetry traces, off unless OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set
 * (config/tracing.ts). The SDK and the exporter live in sdk.ts, imported only
 * by startTracing: with tracing off nothing of OpenTelemetry is loaded, and
 * the request path pays one `undefined` check per hook (`record.trace`).
 *
 * Parents are passed by hand (the request's RequestTrace travels on its
 * record, and to the fetcher with the source request) rather than found in
 * an async context: no AsyncLocalStorage is installed, and no global of the
 * OpenTelemetry API is set, so that ecamo inside someone else's process
 * (`ecamo/server`) leaves their tracing alone.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { TracingSettings } from '../config/tracing.js';
import type { HopObserver } from '../upstream/fetch.js';

/** What a request did, as its record holds it when it ends (http/request-record.ts). */
export interface RequestOutcome {
  readonly route: string;
  readonly client: string;
  readonly action: string | undefined;
  readonly error: string | undefined;
  readonly source: string | undefined;
  readonly sourceStatus: number | undefined;
  readonly cache: string | undefined;
  readonly bytes: number;
}

/**
 * One request's server span: the parent of its source hops, its steps and its
 * lookups in the response cache's shared tier. It is passed to the cache as
 * the cache's own SharedTierTrace (cache/trace.ts), which it matches in shape:
 * cache/ imports nothing of tracing/, nor tracing/ of cache/.
 */
export interface RequestTrace extends HopObserver {
  /** Work of the request that may take time (a token verification, a Redis call), as a child span. */
  step<T>(name: string, work: () => Promise<T>): Promise<T>;
  /** One GET of the response cache's shared tier in Redis, as a client span; `found` names its reply (`found`, `none`, `unavailable`). */
  sharedGet<T>(get: () => Promise<T>, found: (reply: T) => string): Promise<T>;
  /** Ends the server span with what the request did; `status` undefined when the client left before any answer. */
  end(outcome: RequestOutcome, status: number | undefined): void;
}

export interface Tracing {
  /** Starts a request's server span, continuing the client's W3C traceparent when it sent one. */
  requestStarted(method: string | undefined, headers: IncomingHttpHeaders): RequestTrace;
  /** Exports the spans still held, and stops. */
  shutdown(): Promise<void>;
}

/** `work()`, as a child span of the request's when it is traced. */
export function traced<T>(trace: RequestTrace | undefined, name: string, work: () => Promise<T>): Promise<T> {
  return trace === undefined ? work() : trace.step(name, work);
}

/** Loads the SDK and the exporter the settings name. */
export async function startTracing(settings: TracingSettings): Promise<Tracing> {
  const { createTracing } = await import('./sdk.js');
  return createTracing(settings);
}
