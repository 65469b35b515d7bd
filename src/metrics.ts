/**
 * Prometheus metrics of one process, served on the admin listener
 * (`ECAMO_ADMIN_BIND`, see http/admin.ts); with workers, the primary sums the
 * workers' registries into one scrape.
 *
 * Adding a metric: declare it as a field below, created with
 * `registers: [this.registry]` and a name starting `ecamo_`. On the request
 * path, record through tallies (`TalliedCounter.tally(labels)`, created once
 * per label set, here or on first use): a tally is a plain number added to,
 * read at scrape time, where prom-client's own label children hash and check
 * their labels on every call (about half a microsecond each). Elsewhere the
 * usual prom-client calls are fine.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric, type MetricValueWithName } from 'prom-client';

/** Outcomes of a token check that reached the signature */
export type VerificationOutcome = 'valid' | 'invalid';
export type TokenKind = 'url' | 'cookie' | 'proxy';
/** What a check can be of: the three tokens, and the HMAC of a camo-format URL. */
export type VerifiedKind = TokenKind | 'camo';
/** Caches of the token service: verified tokens by kind, and proxy tokens issued. */
export type TokenCache = TokenKind | 'issued-proxy';
/** A proxied answer's `x-ecamo-cache` (cache/cache.ts CacheStatus; metrics.ts imports nothing of src/). */
export type CacheOutcome = 'hit' | 'miss' | 'revalidated' | 'bypass';
export type ReloadOutcome = 'success' | 'failure';
/** Forwarding headers removed from requests of peers that are not trusted proxies (http/client-address.ts). */
export type IgnoredForwardingHeader = 'sec-x-ecamo-service-host' | 'x-forwarded-for' | 'x-forwarded-other';

type Increment = { inc(value?: number): void };

/** One label set's count, kept as a number on the request path. */
class Tally<T extends string> implements Increment {
  value = 0;
  constructor(readonly labels: Readonly<Record<T, string>>) {}

  inc(by = 1): void {
    this.value += by;
  }
}

/** A counter whose label sets are tallies, read when scraped (with anything recorded the usual way). */
export class TalliedCounter<T extends string> extends Counter<T> {
  // Not a #private field: Counter's constructor calls reset() before this class's fields exist,
  // when this is still undefined.
  private readonly tallies: Tally<T>[] | undefined = [];

  tally(labels: Readonly<Record<T, string>>): Increment {
    const tally = new Tally(labels);
    this.tallies?.push(tally);
    return tally;
  }

  override async get(): ReturnType<Counter<T>['get']> {
    const recorded = await super.get();
    return { ...recorded, values: [...recorded.values, ...(this.tallies ?? []).map((tally) => ({ labels: tally.labels, value: tally.value }))] };
  }

  /** Registry.resetMetrics() */
  override reset(): void {
    super.reset();
    for (const tally of this.tallies ?? []) tally.value = 0;
  }
}

/** One label set's histogram: a count per bucket (not cumulative; the last is above every bound), sum and count. */
class HistogramTally {
  readonly perBucket: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    /** The value of the histogram's one label. */
    readonly label: string,
    private readonly bounds: readonly number[],
  ) {
    this.perBucket = new Float64Array(bounds.length + 1);
  }

  reset(): void {
    this.perBucket.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  observe(value: number): void {
    let bucket = 0;
    for (const bound of this.bounds) {
      if (value <= bound) break;
      bucket++;
    }
    this.perBucket[bucket] = (this.perBucket[bucket] ?? 0) + 1;
    this.sum += value;
    this.count++;
  }
}

/**
 * A histogram with one label, recorded in tallies: the library bypass this
 * file keeps, for its measured cost. prom-client's Histogram hashes and checks
 * the labels on every observation: about 0.4-0.6 µs of CPU against 0.06 µs
 * here (`node dist/bench/metrics-observe.js`, Node 20 and 26), and every
 * request records one, so its own would be 1-2 % of a redirect request
 * (30-40 µs, docs/performance.md). It cannot be fed counts, so this is a
 * metric of its own, cast to `Metric` (a union of prom-client's four classes)
 * to be registered: the few members its Registry reads of any metric (name,
 * help, get() when there is no getForPromString(), reset()) and the values it
 * writes out, shaped as its Histogram shapes them. test/ops/metrics.test.ts
 * holds the text format, the cluster sums and the reset to prom-client's.
 */
class TalliedHistogram {
  readonly name: string;
  readonly help: string;
  readonly #labelName: string;
  readonly #bounds: readonly number[];
  readonly #tallies: HistogramTally[] = [];

  constructor(registry: Registry, options: { name: string; help: string; labelName: string; bounds: readonly number[] }) {
    this.name = options.name;
    this.help = options.help;
    this.#labelName = options.labelName;
    this.#bounds = options.bounds;
    registry.registerMetric(this as unknown as Metric);
  }

  tally(label: string): HistogramTally {
    const tally = new HistogramTally(label, this.#bounds);
    this.#tallies.push(tally);
    return tally;
  }

  /** prom-client's registry awaits get(); the tallies are at hand. */
  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: MetricValueWithName<string>[] }> {
    const values: MetricValueWithName<string>[] = [];
    for (const tally of this.#tallies) {
      const label = { [this.#labelName]: tally.label };
      let cumulative = 0;
      this.#bounds.forEach((bound, bucket) => {
        cumulative += tally.perBucket[bucket] ?? 0;
        values.push({ labels: { le: bound, ...label }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...label }, value: tally.count, metricName: `${this.name}_bucket` });
      values.push({ labels: label, value: tally.sum, metricName: `${this.name}_sum` });
      values.push({ labels: label, value: tally.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values });
  }

  /** Registry.resetMetrics() */
  reset(): void {
    for (const tally of this.#tallies) tally.reset();
  }
}

/** Seconds; sources answer in milliseconds to the fetch timeout (10 s by default). */
const SOURCE_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Seconds; a cached image is answered in well under a millisecond, a large body takes as long as the client reads. */
const REQUEST_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly registry = new Registry();

  readonly requests = new TalliedCounter({
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
  readonly requestDuration = new TalliedHistogram(this.registry, {
    name: 'ecamo_request_duration_seconds',
    help: 'Time from receiving a request to the end of its answer (its last byte sent, or the connection closed), by route.',
    labelName: 'route',
    bounds: REQUEST_DURATION_BUCKETS,
  });
  readonly sourceDuration = new TalliedHistogram(this.registry, {
    name: 'ecamo_source_request_duration_seconds',
    help: 'Time from starting a source fetch to its response headers (or its failure), by source status ("error" when none came).',
    labelName: 'status',
    bounds: SOURCE_DURATION_BUCKETS,
  });
  readonly tokenVerifications = new TalliedCounter({
    name: 'ecamo_token_verifications_total',
    help: 'Token checks that were not answered from a cache, by token kind and outcome.',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly cacheLookups = new TalliedCounter({
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

  readonly forwardingIgnored = new TalliedCounter({
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

  readonly cacheResponses = new TalliedCounter({
    name: 'ecamo_cache_responses_total',
    help: 'Proxied answers by how the response cache took part (x-ecamo-cache: hit, miss, revalidated, bypass).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly #cacheResponses: Readonly<Record<CacheOutcome, Increment>>;
  readonly #forwardingIgnored: Readonly<Record<IgnoredForwardingHeader, Increment>>;
  readonly #verifications: Readonly<Record<VerifiedKind, Readonly<Record<VerificationOutcome, Increment>>>>;
  readonly #lookups: Readonly<Record<TokenCache, { readonly hit: Increment; readonly miss: Increment }>>;
  /** route → status → error → tally, filled as combinations occur (a few dozen in practice). */
  readonly #requestTallies = new Map<string, Map<number, Map<string, Increment>>>();
  readonly #sourceTallies = new Map<number | 'error', HistogramTally>();
  readonly #requestDurationTallies = new Map<string, HistogramTally>();

  /** `processMetrics`: Node's default metrics (event loop, heap, GC, CPU, fds) as well. */
  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry });
    const verification = (kind: VerifiedKind) =>
      Object.freeze({ valid: this.tokenVerifications.tally({ kind, outcome: 'valid' }), invalid: this.tokenVerifications.tally({ kind, outcome: 'invalid' }) });
    this.#verifications = Object.freeze({ url: verification('url'), cookie: verification('cookie'), proxy: verification('proxy'), camo: verification('camo') });
    const lookup = (cache: TokenCache) =>
      Object.freeze({ hit: this.cacheLookups.tally({ cache, outcome: 'hit' }), miss: this.cacheLookups.tally({ cache, outcome: 'miss' }) });
    this.#lookups = Object.freeze({ url: lookup('url'), cookie: lookup('cookie'), proxy: lookup('proxy'), 'issued-proxy': lookup('issued-proxy') });
    this.#forwardingIgnored = Object.freeze({
      'sec-x-ecamo-service-host': this.forwardingIgnored.tally({ header: 'sec-x-ecamo-service-host' }),
      'x-forwarded-for': this.forwardingIgnored.tally({ header: 'x-forwarded-for' }),
      'x-forwarded-other': this.forwardingIgnored.tally({ header: 'x-forwarded-other' }),
    });
    this.#cacheResponses = Object.freeze({
      hit: this.cacheResponses.tally({ outcome: 'hit' }),
      miss: this.cacheResponses.tally({ outcome: 'miss' }),
      revalidated: this.cacheResponses.tally({ outcome: 'revalidated' }),
      bypass: this.cacheResponses.tally({ outcome: 'bypass' }),
    });
    // Present from the first scrape, so that rate() and alerts see zeros rather than nothing.
    for (const outcome of ['success', 'failure'] as const) {
      this.keyReloads.labels(outcome).inc(0);
      this.tlsReloads.labels(outcome).inc(0);
    }
  }

  requestAnswered(route: string, status: number, error: string | undefined, bytes: number): void {
    let byStatus = this.#requestTallies.get(route);
    if (byStatus === undefined) this.#requestTallies.set(route, (byStatus = new Map<number, Map<string, Increment>>()));
    let byError = byStatus.get(status);
    if (byError === undefined) byStatus.set(status, (byError = new Map<string, Increment>()));
    const code = error ?? '';
    let tally = byError.get(code);
    if (tally === undefined) byError.set(code, (tally = this.requests.tally({ route, status: String(status), error: code })));
    tally.inc();
    if (bytes > 0) this.streamedBytes.inc(bytes);
  }

  /** A request's answer ended (or its connection closed) `seconds` after it arrived. */
  requestTimed(route: string, seconds: number): void {
    let tally = this.#requestDurationTallies.get(route);
    if (tally === undefined) this.#requestDurationTallies.set(route, (tally = this.requestDuration.tally(route)));
    tally.observe(seconds);
  }

  sourceAnswered(status: number | 'error', seconds: number): void {
    let tally = this.#sourceTallies.get(status);
    if (tally === undefined) this.#sourceTallies.set(status, (tally = this.sourceDuration.tally(String(status))));
    tally.observe(seconds);
  }

  forwardingHeaderIgnored(header: IgnoredForwardingHeader): void {
    this.#forwardingIgnored[header].inc();
  }

  /** `ecamo_redis_available` (1 or 0), read at scrape time; only when ECAMO_REDIS_URL is set. */
  watchRedis(available: () => boolean): void {
    this.#flag('ecamo_redis_available', 'Whether the Redis of ECAMO_REDIS_URL is connected (1) or its state falls back to this process (0).', available);
  }

  /** `ecamo_ready` (1 or 0; with workers, summed: the workers ready), read at scrape time. */
  watchReadiness(ready: () => boolean): void {
    this.#flag('ecamo_ready', 'Whether this process would answer /readyz with 200: keys loaded, listening, not draining (with workers: how many are).', ready);
  }

  /** A gauge of 1 while `isSet()`, else 0, read at scrape time. */
  #flag(name: string, help: string, isSet: () => boolean): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(isSet() ? 1 : 0);
      },
    });
  }

  cacheAnswered(outcome: CacheOutcome): void {
    this.#cacheResponses[outcome].inc();
  }

  /** `ecamo_cache_memory_bytes` and `_entries`, read at scrape time; only with the response cache on. */
  watchResponseCache(memory: { readonly memoryBytes: number; readonly memoryEntries: number }): void {
    new Gauge({
      name: 'ecamo_cache_memory_bytes',
      help: 'Bytes held by the response cache in this process (entries with their bookkeeping), at most ECAMO_CACHE_MAX_BYTES.',
      registers: [this.registry],
      collect() {
        this.set(memory.memoryBytes);
      },
    });
    new Gauge({
      name: 'ecamo_cache_memory_entries',
      help: 'Entries held by the response cache in this process.',
      registers: [this.registry],
      collect() {
        this.set(memory.memoryEntries);
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
