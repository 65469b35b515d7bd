/**
 * `ecamo verify-proxy` as a process, from its parsed arguments
 * (src/cli/verify-proxy.ts): the logger and the shutdown grace of
 * ECAMO_LOG_LEVEL and ECAMO_SHUTDOWN_GRACE, the Redis replay store, the
 * verifier, and the signals that drain it.
 */
import { loadProcessSettings } from '../config/load.js';
import { EcamoError } from '../errors.js';
import { createLogger } from '../log.js';
import { exitOnSignals } from '../server/kit.js';
import { openSharedRedis } from '../state/open.js';
import type { RedisTarget, SharedRedis } from '../state/redis.js';
import { createIdTokenVerifier, createRedisReplayStore, type RedisSetClient, type ReplayStore } from '../verify/index.js';
import { startVerifyProxy } from './reverse-proxy.js';

export interface VerifyProxySettings {
  readonly upstream: URL;
  /** This source's origin: the ID tokens' `aud`. */
  readonly audience: string;
  /** ecamo's canonical origin: the ID tokens' `iss`. */
  readonly ecamoOrigin: string;
  /** By default the ecamo origin's /.well-known/jwks.json. */
  readonly jwksUrl: string | undefined;
  readonly clockToleranceSeconds: number | undefined;
  /** The replay store's Redis, shared by every verify-proxy using it; this process's memory when undefined. */
  readonly redis: RedisTarget | undefined;
  /** With Redis unavailable, refuse (503 `replay-store-unavailable`) rather than fall back to memory. */
  readonly replayStoreRequired: boolean;
  readonly listen: { readonly host: string; readonly port: number };
  readonly serviceOriginRegexps: readonly Pick<RegExp, 'test'>[];
}

/** Serves until SIGTERM or SIGINT, which drain it; resolves once listening. */
export async function runVerifyProxy(settings: VerifyProxySettings, env: Readonly<Record<string, string | undefined>>): Promise<void> {
  const { logLevel, shutdownGraceMs } = loadProcessSettings(env);
  const logger = createLogger(logLevel);
  const redis = settings.redis === undefined ? undefined : await openSharedRedis(settings.redis, logger);
  const verifier = createIdTokenVerifier({
    ...(redis === undefined ? {} : { replay: redisReplayStore(redis, settings.replayStoreRequired) }),
    ecamoOrigin: settings.ecamoOrigin,
    audience: settings.audience,
    ...(settings.jwksUrl === undefined ? {} : { jwksUrl: settings.jwksUrl }),
    ...(settings.clockToleranceSeconds === undefined ? {} : { clockToleranceSeconds: settings.clockToleranceSeconds }),
  });

  let running;
  try {
    running = await startVerifyProxy({
      upstream: settings.upstream,
      verifier,
      listen: settings.listen,
      logger,
      serviceOriginRegexps: settings.serviceOriginRegexps,
      ...(redis === undefined ? {} : { redis }),
    });
  } catch (error) {
    await redis?.close();
    throw error;
  }
  const started = running;
  exitOnSignals(() => started.close(shutdownGraceMs), logger);
  // Last: whoever waits for this line may signal at once.
  logger.info(
    { url: started.url, upstream: settings.upstream.href, audience: settings.audience, ecamoOrigin: settings.ecamoOrigin, redis: settings.redis?.display },
    'verify-proxy listening',
  );
}

/**
 * The replay store in Redis. While Redis is unavailable it falls back to this
 * process's memory, so that a valid token is never refused (a token can then
 * be used once per instance); with --replay-store-required it refuses with
 * 503 `replay-store-unavailable` instead, so that no token is used twice.
 */
function redisReplayStore(redis: SharedRedis, required: boolean): ReplayStore {
  const client: RedisSetClient = { set: (...command) => redis.whenAvailable((connection) => connection.set(...command)) };
  if (!required) return createRedisReplayStore(client, { onError: (error) => redis.noteFailure(error) });
  const strict = createRedisReplayStore(client, { fallback: false });
  return {
    async checkAndStore(jti, exp) {
      try {
        return await strict.checkAndStore(jti, exp);
      } catch (error) {
        redis.noteFailure(error);
        throw new EcamoError('replay-store-unavailable', 'Redis cannot tell whether this token was already used', { cause: error });
      }
    },
  };
}
