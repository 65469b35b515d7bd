import { LRUCache } from 'lru-cache';

export interface VerifiedCacheLimits {
  /** Sum of the entries' estimated sizes (keys, values, bookkeeping). */
  readonly maxBytes: number;
  /** A larger entry is not stored at all: caching it would cost more than verifying it again. */
  readonly maxEntryBytes: number;
  /** No entry is served for longer than this, whatever its token's `exp` says. */
  readonly maxTtlMs: number;
}

export interface VerifiedCacheStats {
  readonly entries: number;
  readonly bytes: number;
  readonly maxBytes: number;
}

/**
 * What an entry costs besides its key and value characters: the map slot,
 * lru-cache's index arrays and the value's object header. An estimate; what
 * matters is that it grows with what an attacker controls (the strings).
 */
const ENTRY_OVERHEAD_BYTES = 160;

const WALL_CLOCK = { now: (): number => Date.now() };

/**
 * A least-recently-used cache of verified results (verified tokens, issued
 * proxy tokens), keyed by the exact token string so that no other spelling
 * of a token can hit, and bounded by bytes rather than by entry count: with
 * an entry count, thousands of 30 KB tokens took hundreds of MB.
 */
export class VerifiedCache<V extends string | number | object> {
  readonly #cache: LRUCache<string, V>;
  readonly #limits: VerifiedCacheLimits;
  readonly #sizeOfValue: (value: V) => number;

  /** `sizeOfValue`: the value's size in bytes, strings counted one byte a character (tokens and URLs are ASCII). */
  constructor(limits: VerifiedCacheLimits, sizeOfValue: (value: V) => number) {
    this.#limits = limits;
    this.#sizeOfValue = sizeOfValue;
    this.#cache = new LRUCache<string, V>({
      maxSize: limits.maxBytes,
      maxEntrySize: limits.maxEntryBytes,
      ttl: limits.maxTtlMs,
      // Expiry by the clock the verifier reads a token's exp against (and that tests can mock), not
      // performance.now(): after the wall clock moves ahead, an entry must not outlive its token. Read on
      // every lookup rather than cached for a millisecond behind a timer.
      perf: WALL_CLOCK,
      ttlResolution: 0,
    });
  }

  get(key: string): V | undefined {
    return this.#cache.get(key);
  }

  /** Empties the cache (the keys changed: what was verified may no longer hold). */
  clear(): void {
    this.#cache.clear();
  }

  /** Stores `value` until `expiresAtMs` (epoch ms; undefined: never expires), at most for maxTtlMs. */
  set(key: string, value: V, expiresAtMs: number | undefined, now: number = Date.now()): void {
    const size = key.length + this.#sizeOfValue(value) + ENTRY_OVERHEAD_BYTES;
    if (size > this.#limits.maxEntryBytes) return;
    const ttl = Math.min(this.#limits.maxTtlMs, (expiresAtMs ?? Number.POSITIVE_INFINITY) - now);
    // NaN (an exp that is not a number) fails this test too.
    if (!(ttl >= 1)) return;
    this.#cache.set(key, value, { size, ttl: Math.floor(ttl) });
  }

  get entries(): number {
    return this.#cache.size;
  }

  get bytes(): number {
    return this.#cache.calculatedSize;
  }

  stats(): VerifiedCacheStats {
    return { entries: this.#cache.size, bytes: this.#cache.calculatedSize, maxBytes: this.#limits.maxBytes };
  }
}
