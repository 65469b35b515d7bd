/**
 * Quarantine of client addresses that present refused credentials
 * (ECAMO_QUARANTINE_FAILURES, _WINDOW, _PERIOD): after that many refusals
 * within the window, an address is answered 429 for the period, counted from
 * the refusal that tripped it, before any of its tokens is parsed or verified.
 * A flood of forgeries then costs a map lookup per request instead of a
 * signature check, and cannot probe keys.
 *
 * Refusals are counted in Redis when ECAMO_REDIS_URL is set (all instances
 * see the same counts: rate-limiter-flexible's RateLimiterRedis), with this
 * process's memory (./refusal-counts.ts) as its insurance, used whenever Redis
 * is unavailable (disconnected, or not answering: ../state/redis.ts) or a
 * command fails; in the primary process for the workers of one `ecamo serve`
 * without Redis (./cluster.ts); in memory otherwise. Addresses known to be quarantined are
 * also remembered locally until their period ends, so a flood does not cost
 * a Redis round trip per request either.
 *
 * What is counted is a client key (`keyOf`): an IPv4 address, or the IPv6
 * network of ECAMO_QUARANTINE_IPV6_PREFIX bits (/64 by default) an address is
 * in, since one IPv6 client commonly holds a whole /64 and could otherwise
 * rotate addresses. A trusted proxy's own address is never a key: a request
 * that names no client beyond the proxy is nobody's to be charged for, and
 * counting it would let one client's garbage `X-Forwarded-For` quarantine
 * everyone behind that proxy.
 */
import ipaddr from 'ipaddr.js';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { QuarantineSettings } from '../config/load.js';
import type { Address } from '../config/ip-address.js';
import type { SharedRedis } from '../state/redis.js';
import { PrimaryCounter } from './cluster.js';
import { RefusalCounts, rulesOf, type Counted } from './refusal-counts.js';

/**
 * Bound on a process's memory of quarantined clients. A forgotten client is still quarantined by
 * the limiter in one instance (memory or Redis), but not by a worker without Redis, which knows
 * only what the primary announced (docs/operations.md, Quarantine).
 */
const MAX_REMEMBERED = 100_000;

/** A request's client as http/client-address.ts resolves it. */
export interface QuarantineClient {
  readonly address: Address | undefined;
  /** The address is one of ECAMO_TRUSTED_PROXIES. */
  readonly trustedProxy: boolean;
}

/** `2001:db8:1:2::/64` for any address of that /64 (with 64 bits). */
function ipv6Network(address: ipaddr.IPv6, bits: number): string {
  const bytes = address.toByteArray();
  const mask = ipaddr.IPv6.subnetMaskFromPrefixLength(bits).toByteArray();
  return `${ipaddr.fromByteArray(bytes.map((byte, i) => byte & (mask[i] ?? 0))).toString()}/${bits}`;
}

/**
 * Counting in this process: in memory, or in Redis while Redis is available
 * with memory as its insurance against a failing command. While Redis is not
 * available memory counts alone, so that no request waits on a Redis known not to answer.
 */
interface LocalCounter {
  readonly memory: RefusalCounts;
  readonly shared?: { readonly limiter: RateLimiterRedis; readonly redis: SharedRedis };
}

/**
 * The clients this process knows to be quarantined, each until its period ends: at most `bound`,
 * and once full the oldest tenth (the longest since they were remembered) is forgotten at once.
 */
export class QuarantinedClients {
  /** client key → end of its quarantine (ms since the epoch), the longest remembered first. */
  readonly #until = new Map<string, number>();
  readonly #bound: number;

  constructor(bound = MAX_REMEMBERED) {
    this.#bound = bound;
  }

  /** Milliseconds of `key`'s quarantine left; 0 when none is remembered (an ended one is forgotten). */
  msLeft(key: string): number {
    const until = this.#until.get(key);
    if (until === undefined) return 0;
    const left = until - Date.now();
    if (left > 0) return left;
    this.#until.delete(key);
    return 0;
  }

  remember(key: string, msLeft: number): void {
    this.#until.delete(key);
    if (this.#until.size >= this.#bound) {
      // Maps iterate in insertion order, the oldest first; the oldest tenth goes at once. An iterator
      // steps over every entry deleted since the Map's last rehash: one key at a time, a full memory
      // cost 30-50 µs per client remembered, under the flood of addresses that fills it.
      let forgetting = Math.ceil(this.#bound / 10);
      for (const oldest of this.#until.keys()) {
        this.#until.delete(oldest);
        if (--forgetting === 0) break;
      }
    }
    this.#until.set(key, Date.now() + msLeft);
  }
}

export class Quarantine {
  /** Where refusals are counted: a limiter here (memory, or Redis), or the primary process (workers without Redis). */
  readonly #counter:
    | LocalCounter
    | { readonly primary: PrimaryCounter };
  /** A key is quarantined once its count exceeds this (the limiter blocks on exceeding its points). */
  readonly #points: number;
  readonly #remembered = new QuarantinedClients();
  readonly #ipv6PrefixBits: number;

  /** `countInPrimary`: this is a cluster worker, and the primary runs countForWorkers (./cluster.ts); ignored with Redis. */
  constructor(settings: QuarantineSettings, redis: SharedRedis | undefined, countInPrimary = false) {
    if (!Number.isInteger(settings.failures) || settings.failures < 1) throw new RangeError('failures must be a positive whole number');
    // The limiter blocks on the consume that exceeds `points`: the failures-th refusal trips it.
    this.#points = settings.failures - 1;
    this.#ipv6PrefixBits = settings.ipv6PrefixBits;
    if (redis === undefined && countInPrimary) {
      this.#counter = { primary: new PrimaryCounter((address, msLeft) => this.#remembered.remember(address, msLeft)) };
      return;
    }
    const memory = new RefusalCounts(rulesOf(settings));
    const options = { points: this.#points, duration: settings.windowSeconds, blockDuration: settings.periodSeconds };
    this.#counter =
      redis === undefined
        ? { memory }
        : { memory, shared: { redis, limiter: new RateLimiterRedis({ ...options, storeClient: redis.client, keyPrefix: 'ecamo:q', rejectIfRedisNotReady: true }) } };
  }

  /** What `client`'s refusals are counted under (see the module comment); undefined: not counted, never quarantined. */
  keyOf(client: QuarantineClient): string | undefined {
    const { address } = client;
    if (address === undefined || client.trustedProxy) return undefined;
    if (address instanceof ipaddr.IPv4 || this.#ipv6PrefixBits === 128) return address.toString();
    return ipv6Network(address, this.#ipv6PrefixBits);
  }

  /** Whole seconds of quarantine left for the client `key` (rounded up), 0 when it is not quarantined. Never rejects. */
  async secondsLeft(key: string): Promise<number> {
    const left = this.#remembered.msLeft(key);
    if (left > 0) return Math.ceil(left / 1000);
    // The primary announces every quarantine: what this process remembers is all there is.
    if ('primary' in this.#counter) return 0;
    const counted = await this.#countedMsLeft(this.#counter, key);
    if (counted <= 0) return 0;
    this.#remembered.remember(key, counted);
    return Math.ceil(counted / 1000);
  }

  /** Counts one refused credential of the client `key` (keyOf); true when it is this one that tripped the quarantine. Never rejects. */
  async recordFailure(key: string): Promise<boolean> {
    if ('primary' in this.#counter) {
      const { tripped, msLeft } = await this.#counter.primary.count(key);
      if (msLeft > 0) this.#remembered.remember(key, msLeft);
      return tripped;
    }
    const { tripped, msLeft } = await this.#count(this.#counter, key);
    if (msLeft > 0) this.#remembered.remember(key, msLeft);
    return tripped;
  }

  async #countedMsLeft(counter: LocalCounter, key: string): Promise<number> {
    if (counter.shared?.redis.available === true) {
      try {
        const state = await counter.shared.limiter.get(key);
        return state === null || state.consumedPoints <= this.#points ? 0 : state.msBeforeNext;
      } catch {
        // The command failed: memory answers, as Redis's insurance.
      }
    }
    return counter.memory.msLeft(key);
  }

  async #count(counter: LocalCounter, key: string): Promise<Counted> {
    if (counter.shared?.redis.available === true) {
      try {
        await counter.shared.limiter.consume(key);
        return { tripped: false, msLeft: 0 };
      } catch (rejection) {
        // Rejected: the client is quarantined (this refusal tripped it, or it already was).
        if (rejection instanceof RateLimiterRes) return { tripped: rejection.consumedPoints === this.#points + 1, msLeft: rejection.msBeforeNext };
        // Otherwise the command failed: memory counts, as Redis's insurance.
      }
    }
    return counter.memory.count(key);
  }
}
