import { hash } from 'node:crypto';
import type { SharedRedis } from '../state/redis.js';
import type { SharedTier } from './cache.js';
import { makeEntry, type PrepareAnswer } from './entry.js';
import type { Stored } from './memory.js';
import { policyFromObject } from './policy.js';

/**
 * The shared tier: entries in Redis under `ecamo:c:`, on the process's one
 * connection. A value carries the entry's policy, so every instance applies
 * the same freshness, and the full cache key, so that a value is only ever
 * read back for the key it was written for.
 *
 * Value layout: MAGIC, a 32-bit big-endian length, that many bytes of JSON
 * metadata, then the body. Anything else (a truncated value, foreign data,
 * a shape this version does not know) is a miss, and overwritten by the
 * next fetch.
 *
 * Redis down or slow: `get` answers undefined (SharedRedis fails fast and
 * logs once per interval) and `set` is lost; requests go to the source.
 */
const MAGIC = Buffer.from('ecamo-cache-1\n');
const KEY_PREFIX = 'ecamo:c:';

interface EntryMeta {
  readonly kind: 'entry';
  readonly key: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly policy: unknown;
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

export class RedisTier implements SharedTier {
  constructor(
    private readonly redis: SharedRedis,
    private readonly prepare: PrepareAnswer,
  ) {}

  async get(key: string): Promise<Stored | undefined> {
    const value = await this.redis.run((client) => client.getBuffer(redisKey(key)));
    return value === undefined || value === null ? undefined : this.#decode(key, value);
  }

  set(key: string, value: Stored, keepMs: number): void {
    if (keepMs <= 0) return;
    void this.redis.run((client) => client.set(redisKey(key), encode(key, value), 'PX', Math.ceil(keepMs)));
  }

  #decode(key: string, value: Buffer): Stored | undefined {
    if (value.length < MAGIC.length + 4 || !value.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    const metaLength = value.readUInt32BE(MAGIC.length);
    const metaEnd = MAGIC.length + 4 + metaLength;
    if (metaEnd > value.length) return undefined;
    let meta: unknown;
    try {
      meta = JSON.parse(value.toString('utf8', MAGIC.length + 4, metaEnd));
    } catch {
      return undefined;
    }
    if (typeof meta !== 'object' || meta === null) return undefined;
    const fields = meta as Record<string, unknown>;
    if (fields.key !== key) return undefined;
    if (fields.kind === 'vary') {
      return typeof fields.until === 'number' && fields.until > Date.now() ? { variesOnAccept: true, until: fields.until } : undefined;
    }
    if (fields.kind !== 'entry' || typeof fields.url !== 'string' || !isStringRecord(fields.headers)) return undefined;
    const policy = policyFromObject(fields.policy);
    if (policy === undefined) return undefined;
    // A copy: the value's buffer is not kept alive by a slice of it.
    const body = Buffer.from(value.subarray(metaEnd));
    return makeEntry(fields.url, body, fields.headers, policy, this.prepare, Date.now());
  }
}

function encode(key: string, value: Stored): Buffer {
  const meta: EntryMeta | VaryMeta =
    'variesOnAccept' in value
      ? { kind: 'vary', key, until: value.until }
      : { kind: 'entry', key, url: value.url, headers: { ...value.headers }, policy: value.policy.toObject() };
  const metaBytes = Buffer.from(JSON.stringify(meta));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(metaBytes.length);
  return Buffer.concat('variesOnAccept' in value ? [MAGIC, length, metaBytes] : [MAGIC, length, metaBytes, value.body]);
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((item) => typeof item === 'string');
}
