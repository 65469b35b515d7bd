/**
 * Remembers accepted `jti`s until their token expires, so a captured ID
 * token cannot be presented twice. Implement it over a shared store (Redis
 * `SET jti 1 NX EXAT exp`, a SQL unique key) when several processes verify.
 */
export interface ReplayStore {
  /**
   * Records `jti` until `exp` (seconds since the epoch). Returns true if it
   * was not already recorded (the token is fresh), false for a replay. Must
   * be atomic: two concurrent calls with one jti may not both return true.
   */
  checkAndStore(jti: string, exp: number): Promise<boolean> | boolean;
}

/**
 * The default, in-process store. Bounded: when full, the oldest entry is
 * dropped (its token is the nearest to expiry), so size it for the peak
 * rate times the token lifetime: 100,000 covers 2,000 images a second with
 * ecamo's default 45 s lifetime.
 */
export class MemoryReplayStore implements ReplayStore {
  /** jti → exp. Insertion order is close to expiry order, as every token lives equally long. */
  readonly #seen = new Map<string, number>();
  readonly #maxEntries: number;

  constructor(maxEntries: number = 100_000) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxEntries must be a positive whole number');
    this.#maxEntries = maxEntries;
  }

  checkAndStore(jti: string, exp: number, now: number = Date.now() / 1000): boolean {
    this.#dropExpired(now);
    const known = this.#seen.get(jti);
    if (known !== undefined && known > now) return false;
    this.#seen.delete(jti);
    if (this.#seen.size >= this.#maxEntries) this.#seen.delete(this.#seen.keys().next().value!);
    this.#seen.set(jti, exp);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** From the oldest end only, so each call costs what it removes. */
  #dropExpired(now: number): void {
    for (const [jti, exp] of this.#seen) {
      if (exp > now) return;
      this.#seen.delete(jti);
    }
  }
}
