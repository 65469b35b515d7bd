import { parseArgs } from 'node:util';
import { compileOperatorRegexp } from '../config/regexp.js';
import { parseRedisUrl } from '../config/redis-url.js';
import { runVerifyProxy } from '../verify-proxy/run.js';
import { ArgumentError, parseHttpUrl, parseListen, parseOrigin } from './arguments.js';

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
export async function verifyProxyCommand(args: string[], env: Readonly<Record<string, string | undefined>>): Promise<void> {
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

  await runVerifyProxy(
    {
      upstream,
      audience: parseOrigin('--audience', values.audience),
      ecamoOrigin,
      jwksUrl,
      clockToleranceSeconds: tolerance === undefined ? undefined : Number(tolerance),
      redis: redisTarget,
      replayStoreRequired: values['replay-store-required'],
      listen: listenAt,
      serviceOriginRegexps,
    },
    env,
  );
}
