/**
 * Which images earn a copy in memory: one asked for `minUses` times (on
 * misses) among the last `windowKeys` distinct images asked for, as nginx's
 * `proxy_cache_min_uses` keeps a file only from its n-th request. On a long
 * tail of images each seen once, copying every body into memory and evicting
 * it unread costs CPU and garbage for nothing; a one-hit image is streamed.
 */
export class Admission {
  readonly #minUses: number;
  readonly #windowKeys: number;
  /** Uses so far by key, least recently asked for first (a Map keeps insertion order). */
  readonly #uses = new Map<string, number>();

  constructor(minUses: number, windowKeys: number) {
    this.#minUses = minUses;
    this.#windowKeys = windowKeys;
  }

  /** Counts a request the memory tier could not answer; true once the image has been asked for often enough. */
  use(key: string): boolean {
    if (this.#minUses <= 1) return true;
    const uses = (this.#uses.get(key) ?? 0) + 1;
    this.#uses.delete(key);
    // Admitted: the cache holds it now, and once evicted it earns its place again.
    if (uses >= this.#minUses) return true;
    this.#uses.set(key, uses);
    if (this.#uses.size > this.#windowKeys) {
      for (const oldest of this.#uses.keys()) {
        this.#uses.delete(oldest);
        break;
      }
    }
    return false;
  }
}

/** Images of this size fill the memory tier: a rough typical size for images on web pages. */
const TYPICAL_ENTRY_BYTES = 32 * 1024;
/**
 * The window spans four times as many images as the tier holds at the typical size: an image
 * asked for again only after more distinct images than that would mostly have been evicted
 * before its next use anyway, under least-recently-used eviction.
 */
const WINDOW_PER_ENTRY = 4;
const MIN_WINDOW_KEYS = 1024;

export function admissionWindow(maxBytes: number): number {
  return Math.max(MIN_WINDOW_KEYS, Math.floor(maxBytes / TYPICAL_ENTRY_BYTES) * WINDOW_PER_ENTRY);
}
