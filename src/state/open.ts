/**
 * Opens the shared Redis of a process that was given one (`ECAMO_REDIS_URL`,
 * `--redis-url`). ioredis is loaded here, at start and only then: its modules
 * hold 5-11 MiB of a process's memory (docs/performance.md, "Where the memory
 * goes"), which one without Redis has no use for.
 */
import type { RedisTarget } from '../config/redis-url.js';
import type { Logger } from '../log.js';
import type { SharedRedis } from './redis.js';

export async function openSharedRedis(target: RedisTarget, logger: Logger): Promise<SharedRedis> {
  const redis = await import('./redis.js');
  return new redis.SharedRedis(target, logger);
}
