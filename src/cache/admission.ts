/**
 * Which images earn a copy in memory: one asked for `minUses` times (on
 * misses) among the last `windowKeys` distinct images asked for, as nginx's
 * `proxy_cache_min_uses` keeps a file only from its n-th request. On a long
 * tail of images each seen once, copying every body into memory and evicting
 * it unread costs CPU and garbage for nothing; a one-hit image is streamed.
 *
 * The window is a ring of slots, newest image last, and a Map from each
 * image to its slot. (A Map alone, its oldest key found by iterating it, cost
 * 4-6 µs a request on a long tail: each iteration stepped over the entries
 * deleted before it since the Map's last rehash.) An image asked for again
 * moves to the newest slot; the slot it leaves, like an admitted image's,
 * stays empty until the ring comes round to it, so the window holds at most
 * `windowKeys` images.
 *
 * Images are counted by a 30-bit fingerprint of their key, not the key, so
 * the window holds no strings. Two images whose fingerprints collide share one
 * count, so one of them may be kept a request early: a copy in memory, as
 * asking twice gets anyone.
 */
export class Admission {
  readonly #minUses: number;
  /** Slot of each fingerprint in the window. */
  readonly #slots = new Map<number, number>();
  /** Fingerprint held by each slot, EMPTY when none. */
  readonly #ring: Int32Array;
  /** Uses so far of the image in each slot. */
  readonly #uses: Uint16Array;
  /** The slot the next image takes: the oldest. */
  #next = 0;

  constructor(minUses: number, windowKeys: number) {
    this.#minUses = minUses;
    this.#ring = new Int32Array(windowKeys).fill(EMPTY);
    this.#uses = new Uint16Array(windowKeys);
  }

  /** Counts a request the memory tier could not answer; true once the image has been asked for often enough. */
  use(key: string): boolean {
    if (this.#minUses <= 1) return true;
    const print = fingerprint(key);
    const slot = this.#slots.get(print);
    let uses = 1;
    if (slot !== undefined) {
      uses = (this.#uses[slot] ?? 0) + 1;
      this.#slots.delete(print);
      this.#ring[slot] = EMPTY;
      // Admitted: the cache holds it now, and once evicted it earns its place again.
      if (uses >= this.#minUses) return true;
    }
    const next = this.#next;
    this.#next = next + 1 === this.#ring.length ? 0 : next + 1;
    const oldest = this.#ring[next] ?? EMPTY;
    if (oldest !== EMPTY) this.#slots.delete(oldest);
    this.#ring[next] = print;
    this.#uses[next] = uses;
    this.#slots.set(print, next);
    return false;
  }
}

/** No fingerprint is negative. */
const EMPTY = -1;

/** FNV-1a over the key's UTF-16 code units, cut to 30 bits: a small integer V8 keeps unboxed, in the Map too. */
function fingerprint(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return hash & 0x3fffffff;
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
