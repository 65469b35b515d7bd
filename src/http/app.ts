/**
 * What the request path is handed: the objects every request uses, built
 * once at start by server/compose.ts. Declared here, where they are used, so
 * that http/ depends on no part of the server that composes and starts it.
 */
import type { ImageCache } from '../cache/cache.js';
import type { Config } from '../config/load.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Quarantine } from '../quarantine/quarantine.js';
import type { SharedRedis } from '../state/redis.js';
import type { TokenService } from '../tokens/token-service.js';
import type { Tracing } from '../tracing/index.js';
import type { SourceFetcher } from '../upstream/fetch.js';
import type { ErrorImage } from './error-image.js';

export interface App {
  readonly config: Config;
  readonly logger: Logger;
  readonly tokens: TokenService;
  readonly fetcher: SourceFetcher;
  readonly metrics: Metrics;
  /** The process's one Redis connection (ECAMO_REDIS_URL), if configured; closed with the server. */
  readonly redis: SharedRedis | undefined;
  /** Undefined when ECAMO_QUARANTINE_FAILURES is 0. */
  readonly quarantine: Quarantine | undefined;
  /** Undefined when ECAMO_CACHE_MAX_BYTES is 0. */
  readonly cache: ImageCache | undefined;
  /** Undefined unless OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set (config/tracing.ts). */
  readonly tracing: Tracing | undefined;
  /** ECAMO_FALLBACK_IMAGE, when set. */
  readonly errorImage: ErrorImage | undefined;
}
