import cluster from 'node:cluster';
import { ImageCache } from '../cache/cache.js';
import { RedisTier } from '../cache/redis-tier.js';
import type { Config } from '../config/load.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { Quarantine } from '../quarantine/quarantine.js';
import { openSharedRedis } from '../state/open.js';
import { TokenService } from '../tokens/token-service.js';
import type { Tracing } from '../tracing/index.js';
import { SourceFetcher } from '../upstream/fetch.js';
import { prepareAnswer } from '../http/cached-answer.js';
import { checkedSharedTier } from '../http/content-check.js';
import { ErrorImage } from '../http/error-image.js';
import type { App } from '../http/app.js';
import { essenceOf } from '../http/media-type.js';

/** What tests alone set (StartOptions says how). */
export interface AppHooks {
  readonly connect?: { readonly ca?: string | Buffer };
  readonly cacheClock?: () => number;
}

/** Composes the objects every request uses (http/app.ts), once at start. */
export async function createApp(config: Config, logger: Logger, metrics: Metrics, hooks: AppHooks = {}, tracing?: Tracing): Promise<App> {
  const redis = config.redis === undefined ? undefined : await openSharedRedis(config.redis, logger);
  if (redis !== undefined) metrics.watchRedis(() => redis.available);
  const prepare = prepareAnswer(config);
  const cacheClock = hooks.cacheClock ?? Date.now;
  const tokens = new TokenService(config, metrics);
  const cache =
    config.cacheMaxBytes === 0
      ? undefined
      : new ImageCache({
          maxBytes: config.cacheMaxBytes,
          maxEntryBytes: config.cacheMaxEntryBytes,
          minUses: config.cacheMinUses,
          maxLength: config.maxLength,
          timeoutMs: config.timeoutMs,
          defaultCacheControl: config.defaultCacheControl,
          prepare,
          now: cacheClock,
          ...(redis === undefined
            ? {}
            : {
                shared: checkedSharedTier(
                  new RedisTier(redis, {
                    prepare,
                    keys: () => tokens.keys.ecamoKeys.sharedCache,
                    rules: {
                      maxBodyBytes: Math.min(config.cacheMaxEntryBytes, config.maxLength),
                      contentTypeAllowed: (contentType) => config.contentTypeAllowed.has(essenceOf(contentType) ?? ''),
                    },
                    logger,
                    now: cacheClock,
                  }),
                  config,
                  logger,
                ),
              }),
        });
  if (cache !== undefined) metrics.watchResponseCache(cache);
  return Object.freeze({
    config,
    logger,
    metrics,
    tokens,
    fetcher: new SourceFetcher({
      maxRedirects: config.maxRedirects,
      sourceAllowedRegexp: config.sourceAllowedRegexp,
      sourceBlockedRegexp: config.sourceBlockedRegexp,
      privateSourceAllowedRegexp: config.privateSourceAllowedRegexp,
      sourceBlockedCidrs: config.sourceBlockedCidrs,
      userAgent: config.userAgent,
      ...(hooks.connect === undefined ? {} : { connect: hooks.connect }),
    }),
    redis,
    // A cluster worker without Redis leaves the counting to the primary (quarantine/cluster.ts).
    quarantine: config.quarantine === undefined ? undefined : new Quarantine(config.quarantine, redis, cluster.isWorker && config.workers > 1),
    cache,
    tracing,
    errorImage: config.fallbackImage === undefined ? undefined : new ErrorImage(config.fallbackImage, config),
  });
}
