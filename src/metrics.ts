/**
 * Prometheus metrics of one process, served on the admin listener
 * (`ECAMO_ADMIN_BIND`, see http/admin.ts); with workers, the primary sums the
 * workers' registries into one scrape.
 *
 * Adding a metric: declare it as a field below, created in the constructor
 * with `registers: [this.registry]` and a name starting `ecamo_`. When its
 * label values are known up front, create the label children here too
 * (`counter.labels(...)`) and record through them: the request path then
 * looks nothing up by label at run time.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Outcomes of a token check that reached the signature */
export type VerificationOutcome = 'valid' | 'invalid';
export type TokenKind = 'url' | 'cookie' | 'proxy';
/** What a check can be of: the three tokens, and the HMAC of a camo-format URL. */
export type VerifiedKind = TokenKind | 'camo';
/** Caches of the token service: verified tokens by kind, and proxy tokens issued. */
export type TokenCache = TokenKind | 'issued-proxy';
export type ReloadOutcome = 'success' | 'failure';
/** Forwarding headers removed from requests of peers that are not trusted proxies (http/client-address.ts). */
export type IgnoredForwardingHeader = 'sec-x-ecamo-service-host' | 'x-forwarded-for' | 'x-forwarded-other';

type Increment = { inc(value?: number): void };
type Observe = { observe(value: number): void };

/** Seconds; sources answer in milliseconds to the fetch timeout (10 s by default). */
const SOURCE_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'ecamo_requests_total',
    help: 'Requests answered, by route, status and x-ecamo-error code (empty when none).',
    labelNames: ['route', 'status', 'error'] as const,
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: 'ecamo_requests_in_flight',
    help: 'Requests received and not yet answered or abandoned.',
    registers: [this.registry],
  });
  readonly streamedBytes = new Counter({
    name: 'ecamo_streamed_bytes_total',
    help: 'Source body bytes sent to clients.',
    registers: [this.registry],
  });
  readonly sourceDuration = new Histogram({
    name: 'ecamo_source_request_duration_seconds',
    help: 'Time from starting a source fetch to its response headers (or its failure), by source status ("error" when none came).',
    labelNames: ['status'] as const,
    buckets: SOURCE_DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly tokenVerifications = new Counter({
    name: 'ecamo_token_verifications_total',
    help: 'Token checks that were not answered from a cache, by token kind and outcome.',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly cacheLookups = new Counter({
    name: 'ecamo_token_cache_lookups_total',
    help: 'Lookups in the token caches, by cache and outcome (hit or miss).',
    labelNames: ['cache', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly keyReloads = new Counter({
    name: 'ecamo_key_reloads_total',
    help: 'Re-reads of the key files (SIGHUP), by outcome; a failure keeps the previous keys.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly tlsReloads = new Counter({
    name: 'ecamo_tls_reloads_total',
    help: 'Re-reads of the TLS certificate and key (SIGHUP), by outcome; a failure keeps the previous ones.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly forwardingIgnored = new Counter({
    name: 'ecamo_forwarding_headers_ignored_total',
    help: 'Forwarding headers (sec-x-ecamo-service-host, X-Forwarded-*) ignored because the peer is not in ECAMO_TRUSTED_PROXIES.',
    labelNames: ['header'] as const,
    registers: [this.registry],
  });
  readonly quarantineTrips = new Counter({
    name: 'ecamo_quarantine_trips_total',
    help: 'Client addresses put in quarantine (ECAMO_QUARANTINE_FAILURES refused credentials within the window).',
    registers: [this.registry],
  });

  readonly #forwardingIgnored: Readonly<Record<IgnoredForwardingHeader, Increment>>;
  readonly #verifications: Readonly<Record<VerifiedKind, Readonly<Record<VerificationOutcome, Increment>>>>;
  readonly #lookups: Readonly<Record<TokenCache, { readonly hit: Increment; readonly miss: Increment }>>;
  /** route → status → error → child, filled as combinations occur (a few dozen in practice). */
  readonly #requestChildren = new Map<string, Map<number, Map<string, Increment>>>();
  readonly #sourceChildren = new Map<number | 'error', Observe>();

  /** `processMetrics`: Node's default metrics (event loop, heap, GC, CPU, fds) as well. */
  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry });
    const verification = (kind: VerifiedKind) =>
      Object.freeze({ valid: this.tokenVerifications.labels(kind, 'valid'), invalid: this.tokenVerifications.labels(kind, 'invalid') });
    this.#verifications = Object.freeze({ url: verification('url'), cookie: verification('cookie'), proxy: verification('proxy'), camo: verification('camo') });
    const lookup = (cache: TokenCache) => Object.freeze({ hit: this.cacheLookups.labels(cache, 'hit'), miss: this.cacheLookups.labels(cache, 'miss') });
    this.#lookups = Object.freeze({ url: lookup('url'), cookie: lookup('cookie'), proxy: lookup('proxy'), 'issued-proxy': lookup('issued-proxy') });
    this.#forwardingIgnored = Object.freeze({
      'sec-x-ecamo-service-host': this.forwardingIgnored.labels('sec-x-ecamo-service-host'),
      'x-forwarded-for': this.forwardingIgnored.labels('x-forwarded-for'),
      'x-forwarded-other': this.forwardingIgnored.labels('x-forwarded-other'),
    });
    // Present from the first scrape, so that rate() and alerts see zeros rather than nothing.
    for (const outcome of ['success', 'failure'] as const) {
      this.keyReloads.labels(outcome).inc(0);
      this.tlsReloads.labels(outcome).inc(0);
    }
  }

  requestAnswered(route: string, status: number, error: string | undefined, bytes: number): void {
    let byStatus = this.#requestChildren.get(route);
    if (byStatus === undefined) this.#requestChildren.set(route, (byStatus = new Map()));
    let byError = byStatus.get(status);
    if (byError === undefined) byStatus.set(status, (byError = new Map()));
    const code = error ?? '';
    let child = byError.get(code);
    if (child === undefined) byError.set(code, (child = this.requests.labels(route, String(status), code)));
    child.inc();
    if (bytes > 0) this.streamedBytes.inc(bytes);
  }

  sourceAnswered(status: number | 'error', seconds: number): void {
    let child = this.#sourceChildren.get(status);
    if (child === undefined) this.#sourceChildren.set(status, (child = this.sourceDuration.labels(String(status))));
    child.observe(seconds);
  }

  forwardingHeaderIgnored(header: IgnoredForwardingHeader): void {
    this.#forwardingIgnored[header].inc();
  }

  /** `ecamo_redis_available` (1 or 0), read at scrape time; only when ECAMO_REDIS_URL is set. */
  watchRedis(available: () => boolean): void {
    new Gauge({
      name: 'ecamo_redis_available',
      help: 'Whether the Redis of ECAMO_REDIS_URL is connected (1) or its state falls back to this process (0).',
      registers: [this.registry],
      collect() {
        this.set(available() ? 1 : 0);
      },
    });
  }

  tokenVerified(kind: VerifiedKind, outcome: VerificationOutcome): void {
    this.#verifications[kind][outcome].inc();
  }

  cacheLookup(cache: TokenCache, hit: boolean): void {
    const children = this.#lookups[cache];
    (hit ? children.hit : children.miss).inc();
  }
}
