import type { CachePolicy, StoredHeaders } from './policy.js';
import { ageOrigin, freshForMs, hasValidator } from './policy.js';

/**
 * The fields of a 200 answered from an entry, as a flat `[name, value, ...]`
 * list for `writeHead`, prepared once per entry by whoever answers clients and
 * frozen with it. `x-ecamo-cache` and `age`, which change with every answer,
 * are no part of it: the answerer writes them after a copy.
 */
export type AnswerFields = readonly (string | number)[];

/** Builds the answer fields of an entry: source URL, kept headers, body length. */
export type PrepareAnswer = (url: string, headers: StoredHeaders, length: number) => AnswerFields;

/** A complete 200 from a source, with the rules it is reused by. Never mutated: a refresh makes a new entry. */
export interface CacheEntry {
  readonly url: string;
  readonly body: Buffer;
  readonly headers: StoredHeaders;
  readonly policy: CachePolicy;
  /** Until when (ms since the epoch) it is served without asking the source. */
  readonly freshUntil: number;
  /** When (ms) it was current at the source, for `Age`. */
  readonly bornAt: number;
  readonly fields: AnswerFields;
}

export function makeEntry(url: string, body: Buffer, headers: StoredHeaders, policy: CachePolicy, prepare: PrepareAnswer, now: number): CacheEntry {
  return {
    url,
    body,
    headers,
    policy,
    freshUntil: now + freshForMs(policy),
    bornAt: ageOrigin(policy, now),
    fields: Object.freeze(prepare(url, headers, body.length)),
  };
}

/** Whole seconds since the entry was current at the source. */
export function ageSeconds(entry: CacheEntry, now: number): number {
  return Math.max(0, Math.floor((now - entry.bornAt) / 1000));
}

/**
 * How long an entry is kept: while fresh, and with a validator as long again
 * (at least a minute, at most a day) to be revalidated with a 304 rather than
 * fetched whole. Without a validator a stale entry is worthless.
 */
export function keepForMs(entry: CacheEntry, now: number): number {
  const fresh = Math.max(0, entry.freshUntil - now);
  return hasValidator(entry.headers) ? fresh + Math.min(Math.max(fresh, 60_000), 86_400_000) : fresh;
}
