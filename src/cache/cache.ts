import { EcamoError } from '../errors.js';
import { validHeaderValue } from '../upstream/header-value.js';
import type { SourceBody, SourceFetch, SourceHeaders, SourceResponse } from '../upstream/fetch.js';
import type { AcceptClass } from './accept-class.js';
import { Admission, admissionWindow } from './admission.js';
import { keepForMs, makeEntry, type CacheEntry, type PrepareAnswer } from './entry.js';
import { MemoryTier, type Stored, type VaryMarker } from './memory.js';
import { TeeBody } from './tee.js';
import type { SharedTierTrace } from './trace.js';
import {
  clockedPolicies,
  keptAnswer,
  refreshed,
  validatorsFor,
  variesOnAccept,
  type PolicyClass,
  type SourceQuery,
  type ValidatorHeaders,
} from './policy.js';

/** What `x-ecamo-cache` and the access log say about a proxied answer. */
export type CacheStatus = 'hit' | 'miss' | 'revalidated' | 'bypass';

/**
 * The cache key: source URL, service origin and send-token flag, as an edge
 * cache keys what it fetched with credentials. An answer fetched with the ID
 * token for one service is never served to another.
 */
export function cacheKey(url: string, serviceOrigin: string, sendToken: boolean): string {
  return `${sendToken ? '1' : '0'} ${serviceOrigin} ${url}`;
}

/** Where entries are kept besides this process (Redis), shared by every instance. */
export interface SharedTier {
  /** Undefined on a miss, a value not written for `key` and `url` or not sound, or an unreachable store: never throws. */
  get(key: string, url: string, trace: SharedTierTrace | undefined): Promise<Stored | undefined>;
  /** Fire and forget: a store that is down only loses the write. */
  set(key: string, value: Stored, keepMs: number): void;
}

export interface CacheOptions {
  /** Bytes of the memory tier. */
  readonly maxBytes: number;
  /** Larger bodies are streamed and never kept. */
  readonly maxEntryBytes: number;
  /** Requests an image takes before a copy is kept (see Admission). */
  readonly minUses: number;
  /** ECAMO_MAX_LENGTH: nothing longer is kept either (it is not served whole). */
  readonly maxLength: number;
  /** How long a request waits for another's source fetch (ECAMO_TIMEOUT). */
  readonly timeoutMs: number;
  readonly defaultCacheControl: string;
  readonly prepare: PrepareAnswer;
  readonly shared?: SharedTier;
  /**
   * The time (ms since the epoch) freshness, ages and how long entries are kept are reckoned by:
   * default Date.now. Tests pass a clock they move, rather than wait for an entry to go stale.
   */
  readonly now?: () => number;
}

/** One proxied request on a miss, as the cache needs it. */
export interface CacheRequest {
  readonly key: string;
  /** What `admission` said: 'keep', or 'look' (what is kept may be used, nothing new is kept). */
  readonly admission: Exclude<Admitted, 'stream'>;
  readonly query: SourceQuery;
  /** The request's trace, when it is traced: told of the shared tier's lookups. */
  readonly trace?: SharedTierTrace | undefined;
  /** Starts a source fetch, conditional when validators are given. */
  fetch(validators: ValidatorHeaders | undefined): SourceFetch;
  /**
   * The 200 to serve and keep, its bytes checked (http/content-check.ts); throws
   * the client's error for one that must not be served (type, bytes, declared length).
   */
  admit(source: SourceResponse): Promise<SourceResponse>;
}

/** What a request on a miss gets. A source failure (or a refused 200) rejects with its EcamoError instead. */
export type Obtained =
  | { readonly kind: 'entry'; readonly entry: CacheEntry; readonly status: Exclude<CacheStatus, 'bypass'> }
  /**
   * A 200 for the request that fetched it to stream: kept on the way when
   * the rules allow (`miss`; the waiting requests get it once complete),
   * else not (`bypass`; the waiting requests fetch on their own).
   */
  | {
      readonly kind: 'stream';
      readonly source: SourceResponse;
      readonly body: TeeBody;
      readonly status: 'miss';
      /** What requests waiting on the same fetch get, when the body has ended. */
      readonly forOthers: Promise<Obtained>;
    }
  | { readonly kind: 'stream'; readonly source: SourceResponse; readonly body: SourceBody; readonly status: 'bypass' }
  /** The source answered something else than 200: passed on, never stored. */
  | { readonly kind: 'source-error'; readonly statusCode: number; readonly headers: SourceHeaders }
  /** Waited for another request's fetch, whose answer cannot be shared: fetch on your own. */
  | { readonly kind: 'pass' };

/** A place in a fetch; `leave` when the client goes away before the answer. */
export interface Ticket {
  readonly outcome: Promise<Obtained>;
  leave(): void;
}

const PASS: Obtained = Object.freeze({ kind: 'pass' });

/**
 * How a request the memory tier could not answer goes on: `keep` (asked for often enough: fetched
 * through `obtain`, kept), `look` (not yet, but a stale entry or the shared tier may serve it:
 * through `obtain`, nothing new kept) or `stream` (straight from the source, past the cache).
 */
export type Admitted = 'keep' | 'look' | 'stream';

/** Where the variant of an answer that varies on Accept lives: one per class, so at most three per key. */
function variantKey(key: string, variant: AcceptClass): string {
  return `${key}\n${variant}`;
}

/**
 * Source answers kept in memory (and in a shared tier when there is one),
 * reused while HTTP's rules for a shared cache allow, and one source fetch at
 * a time per request. The caller checks every token before it asks.
 */
export class ImageCache {
  /** The cache's clock (CacheOptions.now): whoever answers from an entry reads `Age` by it too. */
  readonly now: () => number;
  readonly #options: CacheOptions;
  readonly #policies: PolicyClass;
  readonly #memory: MemoryTier;
  readonly #admission: Admission;
  readonly #flights = new Map<string, Flight>();

  constructor(options: CacheOptions) {
    this.#options = options;
    this.now = options.now ?? Date.now;
    this.#policies = clockedPolicies(this.now);
    this.#memory = new MemoryTier(options.maxBytes, this.now);
    this.#admission = new Admission(options.minUses, admissionWindow(options.maxBytes));
  }

  /**
   * A fresh entry from memory (the whole hit path, synchronous); else the
   * request is counted (see Admission) and told how it goes on. One lookup
   * of the memory tier either way: a miss looked it up twice.
   */
  lookup(key: string, variant: AcceptClass, now: number): CacheEntry | Admitted {
    const entry = this.#stored(key, variant);
    if (entry !== undefined && entry.freshUntil > now) return entry;
    if (this.#admission.use(key)) return 'keep';
    return this.#options.shared !== undefined || entry !== undefined ? 'look' : 'stream';
  }

  /** Joins the fetch in flight for this request, or starts one. */
  obtain(request: CacheRequest): Ticket {
    const flightKey = variantKey(request.key, request.query.variant);
    const current = this.#flights.get(flightKey);
    if (current !== undefined) return current.follow(this.#options.timeoutMs);
    const flight = new Flight(() => this.#flights.delete(flightKey));
    this.#flights.set(flightKey, flight);
    return flight.lead(this.#run(request, flight));
  }

  /**
   * How many requests wait on the fetch in flight for this request, besides the one fetching (0
   * when none is in flight): what a test waits for before it lets a held source answer.
   */
  waitingOn(key: string, variant: AcceptClass): number {
    return this.#flights.get(variantKey(key, variant))?.followers ?? 0;
  }

  get memoryBytes(): number {
    return this.#memory.bytes;
  }

  get memoryEntries(): number {
    return this.#memory.size;
  }

  #stored(key: string, variant: AcceptClass): CacheEntry | undefined {
    const stored = this.#memory.get(key);
    if (stored === undefined || !('variesOnAccept' in stored)) return stored;
    const entry = this.#memory.get(variantKey(key, variant));
    return entry === undefined || 'variesOnAccept' in entry ? undefined : entry;
  }

  async #sharedStored(key: string, url: string, variant: AcceptClass, trace: SharedTierTrace | undefined): Promise<CacheEntry | undefined> {
    const shared = this.#options.shared;
    if (shared === undefined) return undefined;
    const stored = await shared.get(key, url, trace);
    if (stored === undefined || !('variesOnAccept' in stored)) return stored;
    const entry = await shared.get(variantKey(key, variant), url, trace);
    return entry === undefined || 'variesOnAccept' in entry ? undefined : entry;
  }

  #keep(key: string, variant: AcceptClass, entry: CacheEntry, memoryOnly: boolean): void {
    const now = this.now();
    const keepMs = keepForMs(entry, now);
    const shared = memoryOnly ? undefined : this.#options.shared;
    if (variesOnAccept(entry.headers)) {
      const marker: VaryMarker = { variesOnAccept: true, until: now + keepMs };
      const at = variantKey(key, variant);
      this.#memory.set(key, marker, keepMs);
      this.#memory.set(at, entry, keepMs);
      shared?.set(key, marker, keepMs);
      shared?.set(at, entry, keepMs);
    } else {
      this.#memory.set(key, entry, keepMs);
      shared?.set(key, entry, keepMs);
    }
  }

  async #run(request: CacheRequest, flight: Flight): Promise<Obtained> {
    const { key, query } = request;
    const options = this.#options;
    const inMemory = this.#stored(key, query.variant);
    if (inMemory !== undefined && inMemory.freshUntil > this.now()) return { kind: 'entry', entry: inMemory, status: 'hit' };
    // Missing or stale here: another instance may have fetched or revalidated it since.
    const shared = await this.#sharedStored(key, query.url, query.variant, request.trace);
    if (shared !== undefined && shared.freshUntil > this.now()) {
      this.#keep(key, query.variant, shared, true);
      return { kind: 'entry', entry: shared, status: 'hit' };
    }
    const stale = inMemory ?? shared;

    const validators = stale === undefined ? undefined : validatorsFor(stale.policy, query);
    let source = await flight.fetch(request, validators);
    if (stale !== undefined && validators !== undefined && source.statusCode === 304) {
      source.body.discard();
      const update = refreshed(stale.policy, stale.headers, query, singleValues(source.headers));
      if (update !== undefined) {
        const entry = makeEntry(query.url, stale.body, update.headers, update.policy, options.prepare, this.now());
        this.#keep(key, query.variant, entry, false);
        return { kind: 'entry', entry, status: 'revalidated' };
      }
      // A 304 for other bytes than ours: start over, unconditionally.
      source = await flight.fetch(request, undefined);
    }

    if (source.statusCode !== 200) {
      source.body.discard();
      return { kind: 'source-error', statusCode: source.statusCode, headers: source.headers };
    }
    try {
      source = await request.admit(source);
    } catch (error) {
      source.body.discard();
      throw error;
    }
    // Not asked for often enough yet to be worth a copy: streamed, and nothing of it worked out.
    if (request.admission === 'look' && stale === undefined) return { kind: 'stream', source, body: source.body, status: 'bypass' };

    const kept = keptAnswer(query, singleValues(source.headers), options.defaultCacheControl, this.#policies);
    const declared = declaredLength(source.headers);
    const room = Math.min(options.maxEntryBytes, options.maxLength);
    if (kept === undefined || (declared !== undefined && declared > room)) {
      return { kind: 'stream', source, body: source.body, status: 'bypass' };
    }
    const { headers, policy } = kept;
    const tee = new TeeBody(source.body, room, () => flight.othersWait());
    const forOthers = tee.kept.then((body): Obtained => {
      // Undefined: it outgrew the room. A length other than declared: never kept, never shared.
      if (body === undefined || (declared !== undefined && body.length !== declared)) return PASS;
      const entry = makeEntry(query.url, body, headers, policy, options.prepare, this.now());
      this.#keep(key, query.variant, entry, false);
      return { kind: 'entry', entry, status: 'miss' };
    });
    return { kind: 'stream', source, body: tee, status: 'miss', forOthers };
  }
}

/**
 * One source fetch and the requests waiting for it: the leader, which
 * fetches and may stream the body as it comes, and followers, which get the
 * kept copy (or the same error) once the fetch is over. It stays joinable
 * until then; when nobody wants its result any more, the source is let go,
 * as a lone request's would be.
 */
class Flight {
  #leader: 'waiting' | 'streaming' | 'gone' = 'waiting';
  #followers = 0;
  #current: SourceFetch | undefined;
  readonly #forFollowers: Promise<Obtained>;
  #share!: (outcome: Obtained | Promise<Obtained>) => void;
  #done = false;

  constructor(private readonly forget: () => void) {
    this.#forFollowers = new Promise<Obtained>((resolve) => (this.#share = resolve));
    this.#forFollowers.then(
      () => this.#settle(),
      () => this.#settle(),
    );
  }

  /** Whether anyone but a leader that went away still waits for the body. */
  othersWait(): boolean {
    return this.#followers > 0;
  }

  get followers(): number {
    return this.#followers;
  }

  lead(run: Promise<Obtained>): Ticket {
    const outcome = run.then(
      (obtained) => {
        if (obtained.kind === 'stream') {
          this.#share(obtained.status === 'miss' ? obtained.forOthers : PASS);
          if (this.#leader === 'gone') obtained.body.discard();
          else this.#leader = 'streaming';
        } else {
          this.#share(obtained);
          this.#leader = 'gone';
        }
        return obtained;
      },
      (error: unknown) => {
        // `run` rejected: followers adopt it and see the same failure.
        this.#share(run);
        this.#leader = 'gone';
        throw error;
      },
    );
    // The leader's client may be gone; the failure still reaches the followers.
    outcome.catch(() => {});
    return {
      outcome,
      leave: () => {
        if (this.#leader !== 'waiting') return;
        this.#leader = 'gone';
        this.#letGoIfUnwanted();
      },
    };
  }

  follow(timeoutMs: number): Ticket {
    this.#followers++;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new EcamoError('source-request', 'timed out waiting for the same source fetch', { variant: 'timeout' })), timeoutMs);
    });
    let waiting = true;
    const stopWaiting = (): boolean => {
      if (!waiting) return false;
      waiting = false;
      this.#followers--;
      return true;
    };
    const outcome = Promise.race([this.#forFollowers, timedOut]).finally(() => {
      clearTimeout(timer);
      stopWaiting();
    });
    return {
      outcome,
      leave: () => {
        if (stopWaiting()) this.#letGoIfUnwanted();
      },
    };
  }

  fetch(request: CacheRequest, validators: ValidatorHeaders | undefined): Promise<SourceResponse> {
    const fetching = request.fetch(validators);
    this.#current = fetching;
    if (this.#leader === 'gone' && this.#followers === 0) fetching.cancel();
    return fetching.response;
  }

  #letGoIfUnwanted(): void {
    if (this.#done || this.#leader === 'streaming' || this.#followers > 0) return;
    if (this.#leader === 'gone') {
      // Nobody waits any more: stop the source, and let the next request start afresh.
      this.#settle();
      this.#current?.cancel();
    }
  }

  #settle(): void {
    if (this.#done) return;
    this.#done = true;
    this.forget();
  }
}

/** Source headers as single strings; repeated or invalid values are left out, as they are for clients. */
function singleValues(headers: SourceHeaders): Record<string, string | undefined> {
  const values: Record<string, string | undefined> = {};
  for (const name of Object.keys(headers)) values[name] = validHeaderValue(headers, name);
  return values;
}

function declaredLength(headers: SourceHeaders): number | undefined {
  const value = headers['content-length'];
  return typeof value === 'string' ? Number(value) : undefined;
}
