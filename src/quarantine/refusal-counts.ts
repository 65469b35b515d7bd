/**
 * Refused credentials counted per client in this process's memory: the
 * counting of one process, of the primary for its workers (./cluster.ts), and
 * Redis's insurance (./quarantine.ts). Fixed windows as rate-limiter-flexible's
 * RateLimiterMemory counted them, whose place this takes: a window starts at a
 * client's first refusal, the failures-th refusal within it quarantines the
 * client for the period from then, and refusals during a quarantine neither
 * extend it nor trip it again.
 *
 * RateLimiterMemory kept a Map entry and a timer per client with no bound on
 * how many (about 525 bytes each: a flood from a million IPv6 networks a
 * window held 500 MB). Here a count is a Map entry of two numbers, ended
 * lazily by its timestamp, and there are at most `bound` of them.
 */
import type { QuarantineSettings } from '../config/load.js';

/** Bound on the clients counted at once (210-250 bytes of heap each; docs/operations.md, Quarantine). */
const MAX_COUNTED = 100_000;

export interface QuarantineRules {
  /** Refusals within the window that quarantine a client (1 or more). */
  readonly failures: number;
  readonly windowMs: number;
  readonly periodMs: number;
}

/** The rules as ECAMO_QUARANTINE_FAILURES, _WINDOW and _PERIOD set them. */
export function rulesOf(settings: QuarantineSettings): QuarantineRules {
  return { failures: settings.failures, windowMs: settings.windowSeconds * 1000, periodMs: settings.periodSeconds * 1000 };
}

/** What one refusal did: `msLeft` of the client's quarantine, 0 when it is not quarantined. */
export interface Counted {
  /** This refusal is the one that quarantined the client. */
  readonly tripped: boolean;
  readonly msLeft: number;
}

interface Count {
  refusals: number;
  /** End of the window while counting; of the quarantine once `refusals` reaches the failures (ms since the epoch). */
  until: number;
}

const NOT_QUARANTINED: Counted = { tripped: false, msLeft: 0 };

/**
 * At its bound, the next new client makes room for a tenth at once (one pass:
 * forgetting one key at a time would walk the holes earlier deletions leave at
 * the Map's head, on every refusal): ended counts first, then the oldest counts
 * of one refusal, then the least recently refused of the others. Counts of one
 * are what a flood of forged tokens from ever new addresses makes; a client
 * refused twice or more (and every quarantined one) is forgotten only when
 * the whole memory holds such clients.
 */
export class RefusalCounts {
  /** Clients refused once in their window, the oldest first. */
  readonly #once = new Map<string, Count>();
  /** Clients refused more than once or quarantined, the least recently refused first. */
  readonly #repeated = new Map<string, Count>();
  readonly #rules: QuarantineRules;
  readonly #bound: number;

  constructor(rules: QuarantineRules, bound = MAX_COUNTED) {
    this.#rules = rules;
    this.#bound = bound;
  }

  /** Clients counted (ended counts not yet forgotten included). */
  get size(): number {
    return this.#once.size + this.#repeated.size;
  }

  /** Milliseconds of `key`'s quarantine left; 0 when it is not quarantined. */
  msLeft(key: string): number {
    const now = Date.now();
    const count = this.#current(key, now);
    return count !== undefined && count.refusals >= this.#rules.failures ? count.until - now : 0;
  }

  /** Counts one refused credential of `key`. */
  count(key: string): Counted {
    const now = Date.now();
    const { failures, windowMs, periodMs } = this.#rules;
    let count = this.#current(key, now);
    if (count === undefined) {
      if (this.size >= this.#bound) this.#makeRoom(now);
      count = { refusals: 0, until: now + windowMs };
      this.#once.set(key, count);
    }
    count.refusals++;
    if (count.refusals === 1 && failures > 1) return NOT_QUARANTINED;
    // Refused again, or quarantined at once: now the most recently refused of the repeated.
    this.#once.delete(key);
    this.#repeated.delete(key);
    this.#repeated.set(key, count);
    if (count.refusals < failures) return NOT_QUARANTINED;
    if (count.refusals > failures) return { tripped: false, msLeft: count.until - now };
    count.until = now + periodMs;
    return { tripped: true, msLeft: periodMs };
  }

  /** `key`'s count if its window or quarantine has not ended; an ended one is forgotten. */
  #current(key: string, now: number): Count | undefined {
    const count = this.#once.get(key) ?? this.#repeated.get(key);
    if (count === undefined || count.until > now) return count;
    this.#once.delete(key);
    this.#repeated.delete(key);
    return undefined;
  }

  #makeRoom(now: number): void {
    let forgetting = Math.ceil(this.#bound / 10);
    for (const counts of [this.#once, this.#repeated]) {
      for (const [key, count] of counts) {
        if (count.until > now) continue;
        counts.delete(key);
        forgetting--;
      }
    }
    for (const counts of [this.#once, this.#repeated]) {
      for (const key of counts.keys()) {
        if (forgetting <= 0) return;
        counts.delete(key);
        forgetting--;
      }
    }
  }
}
