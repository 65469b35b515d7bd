import { LRUCache } from 'lru-cache';
import { tokenEndHash } from './sightings.js';

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

/** Slots of the count of keys by their end (256 KiB): about 1 in 5 of them in use at the proxy-token cache's 13,000 entries. */
const KEY_END_SLOTS = 65_536;

/** The slot of a key's count: by its end, a MAC or signature where keys are tokens. */
function keyEndSlot(key: string): number {
  return tokenEndHash(key) & (KEY_END_SLOTS - 1);
}

function countKey(keysByEnd: Int32Array, key: string, change: 1 | -1): void {
  const slot = keyEndSlot(key);
  keysByEnd[slot] = (keysByEnd[slot] ?? 0) + change;
}

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
  /** With `countsKeyEnds`: how many keys the cache holds, by the slot of their end (keyEndSlot). */
  readonly #keysByEnd: Int32Array | undefined;

  /**
   * `sizeOfValue`: the value's size in bytes, strings counted one byte a character (tokens and URLs are ASCII).
   * `countsKeyEnds`: keys end in a MAC or signature, as good as random (proxy tokens): the cache counts
   * the keys it holds by their last characters, and a lookup whose count is zero is answered without
   * the cache's lookup, which hashes the whole key (see `get`).
   */
  constructor(limits: VerifiedCacheLimits, sizeOfValue: (value: V) => number, { countsKeyEnds = false }: { readonly countsKeyEnds?: boolean } = {}) {
    this.#limits = limits;
    this.#sizeOfValue = sizeOfValue;
    const keysByEnd = countsKeyEnds ? new Int32Array(KEY_END_SLOTS) : undefined;
    this.#keysByEnd = keysByEnd;
    this.#cache = new LRUCache<string, V>({
      maxSize: limits.maxBytes,
      maxEntrySize: limits.maxEntryBytes,
      ttl: limits.maxTtlMs,
      // Expiry by the clock the verifier reads a token's exp against (and that tests can mock), not
      // performance.now(): after the wall clock moves ahead, an entry must not outlive its token. Read on
      // every lookup rather than cached for a millisecond behind a timer.
      perf: WALL_CLOCK,
      ttlResolution: 0,
      // Every key that enters is counted once ('add'; a 'replace' follows the 'set' disposal of the value
      // it replaces), and every removal, whatever its reason (evicted, expired, deleted, cleared, refused on
      // a set), disposes of it once: the count of a slot is the number of keys held that end there.
      ...(keysByEnd === undefined
        ? {}
        : {
            onInsert: (_value: V, key: string, reason: 'add' | 'update' | 'replace'): void => {
              if (reason !== 'update') countKey(keysByEnd, key, 1);
            },
            dispose: (_value: V, key: string): void => {
              countKey(keysByEnd, key, -1);
            },
          }),
    });
  }

  /**
   * The value kept for `key`. On a long tail of tokens each seen once, nearly every lookup misses, and
   * a miss cost the cache's hashing of the whole key (hundreds of characters) and a probe of its table:
   * 0.5 µs against 0.05 µs for the count of the key's end (docs/performance.md). A key whose end no key
   * held has is not held; any other is looked up, so the answer is the cache's either way.
   */
  get(key: string): V | undefined {
    const keysByEnd = this.#keysByEnd;
    if (keysByEnd !== undefined && keysByEnd[keyEndSlot(key)] === 0) return undefined;
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
