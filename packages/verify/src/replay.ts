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
    if (this.#seen.size >= this.#maxEntries) {
      // Maps iterate in insertion order: the first key is the oldest entry.
      for (const oldest of this.#seen.keys()) {
        this.#seen.delete(oldest);
        break;
      }
    }
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

/**
 * The one Redis command the Redis store needs, as ioredis (`new Redis()`)
 * spells it: `SET key value PX ms NX`, answering `'OK'` when the key was set
 * and `null` when it already existed. Typed structurally, so that this SDK
 * depends on no Redis client (wrap another client to fit).
 */
export interface RedisSetClient {
  set(key: string, value: string, expiryMode: 'PX', milliseconds: number, condition: 'NX'): Promise<string | null>;
}

export interface RedisReplayStoreOptions {
  /** Prefix of the keys; default `ecamo:replay:`. */
  readonly keyPrefix?: string;
  /**
   * Where jtis go while Redis fails (down, timing out): default a
   * MemoryReplayStore of this process, so that a Redis outage never refuses
   * a valid token; replays across processes are then caught again once Redis
   * is back. `false` makes a failure reject instead (the caller decides).
   */
  readonly fallback?: ReplayStore | false;
  /** Told of every Redis failure that the fallback answered for (e.g. to log or count it). */
  readonly onError?: (error: unknown) => void;
}

/** Redis refuses a PX of 0; a token this close to its end is kept this long. */
const MIN_REMEMBER_MS = 1_000;

/**
 * A ReplayStore in Redis, shared by every verifier that uses the same Redis:
 * a token presented to one is refused by all the others. One `SET NX` per
 * token, kept until the token expires.
 */
export function createRedisReplayStore(client: RedisSetClient, options: RedisReplayStoreOptions = {}): ReplayStore {
  const prefix = options.keyPrefix ?? 'ecamo:replay:';
  const fallback = options.fallback === undefined ? new MemoryReplayStore() : options.fallback;
  return {
    async checkAndStore(jti: string, exp: number): Promise<boolean> {
      const ttlMs = Math.max(Math.ceil(exp * 1000 - Date.now()), MIN_REMEMBER_MS);
      try {
        return (await client.set(`${prefix}${jti}`, '1', 'PX', ttlMs, 'NX')) !== null;
      } catch (error) {
        if (fallback === false) throw error;
        options.onError?.(error);
        return fallback.checkAndStore(jti, exp);
      }
    },
  };
}
