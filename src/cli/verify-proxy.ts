import { parseArgs } from 'node:util';
import { loadProcessSettings } from '../config/load.js';
import { compileOperatorRegexp } from '../config/regexp.js';
import { createLogger } from '../log.js';
import { SharedRedis, parseRedisUrl } from '../state/redis.js';
import { EcamoError } from '../errors.js';
import { createIdTokenVerifier, createRedisReplayStore, type RedisSetClient, type ReplayStore } from '../verify/index.js';
import { startVerifyProxy } from '../verify-proxy/reverse-proxy.js';
import { ArgumentError, parseHttpUrl, parseListen, parseOrigin } from './arguments.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * `ecamo verify-proxy --upstream URL --audience ORIGIN [--listen HOST:PORT]
 * [--ecamo-origin O] [--jwks-url U] [--clock-tolerance S] [--redis-url R]
 * [--replay-store-required] [--service-origin-regexp R]...`.
 * The ecamo origin (the tokens' iss) defaults to the JWKS URL's origin, the
 * JWKS URL to the ecamo origin's /.well-known/jwks.json; one of them is
 * required. With --redis-url the replay store is in Redis, shared by every
 * verify-proxy using it (falling back to this process's memory while Redis fails,
 * or with --replay-store-required refusing with 503).
 */
export async function verifyProxyCommand(args: string[], env: Env): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      upstream: { type: 'string' },
      audience: { type: 'string' },
      listen: { type: 'string', default: '127.0.0.1:8080' },
      'ecamo-origin': { type: 'string' },
      'jwks-url': { type: 'string' },
      'clock-tolerance': { type: 'string' },
      'redis-url': { type: 'string' },
      'replay-store-required': { type: 'boolean', default: false },
      'service-origin-regexp': { type: 'string', multiple: true, default: [] },
    },
  });
  if (values.upstream === undefined) throw new ArgumentError('verify-proxy needs --upstream URL (the service to protect)');
  if (values.audience === undefined) throw new ArgumentError("verify-proxy needs --audience ORIGIN (this source's origin, as in the image URLs)");
  const upstream = parseHttpUrl('--upstream', values.upstream);
  if (upstream.search !== '' || upstream.hash !== '' || upstream.username !== '' || upstream.password !== '') {
    throw new ArgumentError('--upstream must have no query, fragment or credentials');
  }
  const jwksUrl = values['jwks-url'] === undefined ? undefined : parseHttpUrl('--jwks-url', values['jwks-url']).href;
  let ecamoOrigin: string;
  if (values['ecamo-origin'] !== undefined) ecamoOrigin = parseOrigin('--ecamo-origin', values['ecamo-origin']);
  else if (jwksUrl !== undefined) ecamoOrigin = new URL(jwksUrl).origin;
  else throw new ArgumentError("verify-proxy needs --ecamo-origin ORIGIN (ecamo's canonical origin) or --jwks-url URL");
  const tolerance = values['clock-tolerance'];
  if (tolerance !== undefined && (!/^\d{1,2}$/.test(tolerance) || Number(tolerance) > 60)) {
    throw new ArgumentError(`--clock-tolerance must be 0 to 60 seconds, got "${tolerance}"`);
  }
  const redisTarget = values['redis-url'] === undefined ? undefined : parseRedisUrl('--redis-url', values['redis-url']);
  if (values['replay-store-required'] && redisTarget === undefined) throw new ArgumentError('--replay-store-required needs --redis-url');
  const listenAt = parseListen('--listen', values.listen);
  const serviceOriginRegexps = values['service-origin-regexp'].map((text) => {
    try {
      return compileOperatorRegexp(text);
    } catch (error) {
      throw new ArgumentError(`--service-origin-regexp "${text}" ${(error as Error).message}`);
    }
  });

  const { logLevel, shutdownGraceMs } = loadProcessSettings(env);
  const logger = createLogger(logLevel);
  const redis = redisTarget === undefined ? undefined : new SharedRedis(redisTarget, logger);
  const verifier = createIdTokenVerifier({
    ...(redis === undefined ? {} : { replay: redisReplayStore(redis, values['replay-store-required']) }),
    ecamoOrigin,
    audience: parseOrigin('--audience', values.audience),
    ...(jwksUrl === undefined ? {} : { jwksUrl }),
    ...(tolerance === undefined ? {} : { clockToleranceSeconds: Number(tolerance) }),
  });

  let running;
  try {
    running = await startVerifyProxy({ upstream, verifier, listen: listenAt, logger, serviceOriginRegexps, ...(redis === undefined ? {} : { redis }) });
  } catch (error) {
    await redis?.close();
    throw error;
  }
  const started = running;
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'shutting down');
    started.close(shutdownGraceMs).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // Last: whoever waits for this line may signal at once.
  logger.info({ url: started.url, upstream: upstream.href, audience: values.audience, ecamoOrigin, redis: redisTarget?.display }, 'verify-proxy listening');
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
