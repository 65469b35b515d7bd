import type { Config } from '../config/load.js';
import type { Logger } from '../log.js';
import { TokenService } from '../tokens/token-service.js';
import { SourceFetcher } from '../upstream/fetch.js';

/** The objects every request uses, built once at start. */
export interface App {
  readonly config: Config;
  readonly logger: Logger;
  readonly tokens: TokenService;
  readonly fetcher: SourceFetcher;
  /** Serialised once: it never changes while the process runs. */
  readonly jwksBody: string;
}

export function createApp(config: Config, logger: Logger, fetcherOptions: { connect?: { ca?: string | Buffer } } = {}): App {
  return Object.freeze({
    config,
    logger,
    tokens: new TokenService(config),
    fetcher: new SourceFetcher({
      maxRedirects: config.maxRedirects,
      sourceAllowedRegexp: config.sourceAllowedRegexp,
      sourceBlockedRegexp: config.sourceBlockedRegexp,
      privateSourceAllowedRegexp: config.privateSourceAllowedRegexp,
      ...fetcherOptions,
    }),
    jwksBody: JSON.stringify({ keys: config.ecamoKeys.publicJwks }),
  });
}
