import { LRUCache } from 'lru-cache';
import type { CacheEntry } from './entry.js';

/**
 * Marks a source URL whose answers vary on Accept: its entries live under
 * variant keys that add the Accept value.
 */
export interface VaryMarker {
  readonly variesOnAccept: true;
  readonly until: number;
}

export type Stored = CacheEntry | VaryMarker;

/** Bookkeeping per entry beyond its body: key, headers, policy (a rough, deliberately high figure). */
const ENTRY_OVERHEAD_BYTES = 1024;

export function storedSize(value: Stored, key: string): number {
  return 'body' in value ? value.body.length + key.length * 2 + ENTRY_OVERHEAD_BYTES : key.length * 2 + 64;
}

/**
 * The in-process tier: least recently used goes first when the bytes of all
 * entries would pass `maxBytes`. Reading an entry marks it used.
 */
export class MemoryTier {
  readonly #entries: LRUCache<string, Stored>;

  /** `now`: the cache's clock, which expiry reads too (not performance.now()), on every lookup (not cached for a millisecond behind a timer). */
  constructor(maxBytes: number, now: () => number) {
    this.#entries = new LRUCache<string, Stored>({ maxSize: maxBytes, sizeCalculation: storedSize, perf: { now }, ttlResolution: 0 });
  }

  get(key: string): Stored | undefined {
    return this.#entries.get(key);
  }

  /** Drops what does not fit; `keepMs` is how long it may be used at all. */
  set(key: string, value: Stored, keepMs: number): void {
    if (keepMs <= 0) return;
    this.#entries.set(key, value, { ttl: keepMs });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  get bytes(): number {
    return this.#entries.calculatedSize;
  }

  get size(): number {
    return this.#entries.size;
  }
}
