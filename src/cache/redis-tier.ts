import { createHmac, hash, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Logger } from '../log.js';
import type { SharedRedis } from '../state/redis.js';
import type { SharedTier } from './cache.js';
import { makeEntry, type PrepareAnswer } from './entry.js';
import type { Stored } from './memory.js';
import { clockedPolicies, isStoredHeaders, policyFromObject, type PolicyClass } from './policy.js';
import { tracedSharedGet, type SharedLookupResult, type SharedTierTrace } from './trace.js';

/**
 * The shared tier: entries in Redis under `ecamo:c:`, on the process's one
 * connection. A value carries the entry's policy, so every instance applies
 * the same freshness, and the full cache key, so that a value is only ever
 * read back for the key it was written for.
 *
 * Whoever can write to Redis could otherwise make ecamo serve anything under
 * its origin, so each value is authenticated: an HMAC-SHA256 over the cache
 * key and everything after the MAC, under a key every instance derives from
 * ECAMO_PRIVATE_KEYS (`keys()`: written under the signing key's, accepted
 * under any configured key's, so a key rotation does not empty the cache).
 * A value that passes is checked all the same, as a fresh source answer would
 * be (type allowed, header values, length within the limits and equal to the
 * body's, the URL of the key): a leaked key or a bug must not turn into HTML
 * served from ecamo's origin.
 *
 * Value layout: MAGIC, the 32-byte MAC, a 32-bit big-endian length, that many
 * bytes of JSON metadata, then the body. The MAC covers the cache key
 * (32-bit big-endian length, then its UTF-8 bytes) followed by the value from
 * the length field on. Anything else (a truncated value, foreign data, a MAC
 * under no configured key, a shape this version does not know) is a miss,
 * logged at debug, and overwritten by the next fetch.
 *
 * Redis down or slow: `get` answers undefined (SharedRedis fails fast and
 * logs once per interval) and `set` is lost; requests go to the source.
 */
const MAGIC = Buffer.from('ecamo-cache-2\n');
const MAC_BYTES = 32;
const SIGNED_START = MAGIC.length + MAC_BYTES;
const KEY_PREFIX = 'ecamo:c:';

/** The MAC keys of values: the one new values get, and every one a value may carry (the writing one first). */
export interface ValueKeys {
  readonly writing: KeyObject;
  readonly accepted: readonly KeyObject[];
}

/** What a value must satisfy besides its MAC: the rules a source's answer is kept by. */
export interface StoredValueRules {
  /** The smaller of ECAMO_CACHE_MAX_ENTRY_BYTES and ECAMO_MAX_LENGTH. */
  readonly maxBodyBytes: number;
  /** Whether a Content-Type is one ecamo serves (ECAMO_CONTENT_TYPE_ALLOWED). */
  contentTypeAllowed(contentType: string | undefined): boolean;
}

export interface RedisTierOptions {
  readonly prepare: PrepareAnswer;
  /** Read on every use: the keys change when key files are reloaded. */
  readonly keys: () => ValueKeys;
  readonly rules: StoredValueRules;
  readonly logger: Logger;
  /** The cache's clock (CacheOptions.now); default Date.now. */
  readonly now?: () => number;
}

interface EntryMeta {
  readonly kind: 'entry';
  readonly key: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly policy: unknown;
  readonly length: number;
}

interface VaryMeta {
  readonly kind: 'vary';
  readonly key: string;
  readonly until: number;
}

/** Keys hashed to a fixed size: source URLs may be kilobytes long. */
export function redisKey(cacheKey: string): string {
  return KEY_PREFIX + hash('sha256', cacheKey, 'base64url');
}

/** Why a value was refused, for the debug log. */
type Refusal = 'not an ecamo value' | 'MAC under no configured key' | 'unknown shape' | 'another key' | 'another URL' | 'header not kept or invalid' | 'type not allowed' | 'length' | 'expired';

export class RedisTier implements SharedTier {
  readonly #now: () => number;
  readonly #policies: PolicyClass;

  constructor(
    private readonly redis: SharedRedis,
    private readonly options: RedisTierOptions,
  ) {
    this.#now = options.now ?? Date.now;
    this.#policies = clockedPolicies(this.#now);
  }

  async get(key: string, url: string, trace: SharedTierTrace | undefined): Promise<Stored | undefined> {
    const value = await tracedSharedGet(trace, () => this.redis.run((client) => client.getBuffer(redisKey(key))), lookupResult);
    if (value === undefined || value === null) return undefined;
    const read = this.#decode(key, url, value);
    if (typeof read !== 'string') return read;
    this.options.logger.debug({ key: redisKey(key), reason: read }, 'shared cache value refused: a miss, overwritten by the next fetch');
    return undefined;
  }

  set(key: string, value: Stored, keepMs: number): void {
    if (keepMs <= 0) return;
    void this.redis.run((client) => client.set(redisKey(key), encode(key, value, this.options.keys().writing), 'PX', Math.ceil(keepMs)));
  }

  #decode(key: string, url: string, value: Buffer): Stored | Refusal {
    if (value.length < SIGNED_START + 4 || !value.subarray(0, MAGIC.length).equals(MAGIC)) return 'not an ecamo value';
    const mac = value.subarray(MAGIC.length, SIGNED_START);
    const signed = value.subarray(SIGNED_START);
    if (!this.options.keys().accepted.some((macKey) => timingSafeEqual(macOf(macKey, key, [signed]), mac))) return 'MAC under no configured key';
    const metaLength = value.readUInt32BE(SIGNED_START);
    const metaEnd = SIGNED_START + 4 + metaLength;
    if (metaEnd > value.length) return 'unknown shape';
    let meta: unknown;
    try {
      meta = JSON.parse(value.toString('utf8', SIGNED_START + 4, metaEnd));
    } catch {
      return 'unknown shape';
    }
    if (typeof meta !== 'object' || meta === null) return 'unknown shape';
    const fields = meta as Record<string, unknown>;
    if (fields.key !== key) return 'another key';
    if (fields.kind === 'vary') {
      if (typeof fields.until !== 'number') return 'unknown shape';
      return fields.until > this.#now() ? { variesOnAccept: true, until: fields.until } : 'expired';
    }
    if (fields.kind !== 'entry' || typeof fields.url !== 'string' || typeof fields.length !== 'number') return 'unknown shape';
    if (fields.url !== url) return 'another URL';
    if (!isStoredHeaders(fields.headers)) return 'header not kept or invalid';
    if (!this.options.rules.contentTypeAllowed(fields.headers['content-type'])) return 'type not allowed';
    const bodyLength = value.length - metaEnd;
    if (fields.length !== bodyLength || bodyLength > this.options.rules.maxBodyBytes) return 'length';
    const policy = policyFromObject(fields.policy, this.#policies);
    if (policy === undefined) return 'unknown shape';
    // A copy: the value's buffer is not kept alive by a slice of it.
    const body = Buffer.from(value.subarray(metaEnd));
    return makeEntry(url, body, fields.headers, policy, this.options.prepare, this.#now());
  }
}

/** A reply of SharedRedis.run: undefined when Redis was not asked (unavailable) or failed, null for no value. */
function lookupResult(reply: Buffer | null | undefined): SharedLookupResult {
  return reply === undefined ? 'unavailable' : reply === null ? 'none' : 'found';
}

function encode(key: string, value: Stored, macKey: KeyObject): Buffer {
  const meta: EntryMeta | VaryMeta =
    'variesOnAccept' in value
      ? { kind: 'vary', key, until: value.until }
      : { kind: 'entry', key, url: value.url, headers: { ...value.headers }, policy: value.policy.toObject(), length: value.body.length };
  const metaBytes = Buffer.from(JSON.stringify(meta));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(metaBytes.length);
  const signed = 'variesOnAccept' in value ? [length, metaBytes] : [length, metaBytes, value.body];
  return Buffer.concat([MAGIC, macOf(macKey, key, signed), ...signed]);
}

/** HMAC-SHA256 over the cache key (its length first, so key and value cannot trade bytes) and the signed parts. */
function macOf(macKey: KeyObject, key: string, signed: readonly Buffer[]): Buffer {
  const keyBytes = Buffer.from(key);
  const keyLength = Buffer.alloc(4);
  keyLength.writeUInt32BE(keyBytes.length);
  const hmac = createHmac('sha256', macKey).update(keyLength).update(keyBytes);
  for (const part of signed) hmac.update(part);
  return hmac.digest();
}
