import type { CryptoKey } from 'jose';
import { EcamoError } from '../errors.js';
import { MAX_SERVICE_TOKEN_LIFETIME_SECONDS, verifyEs256Jwt } from './jws.js';
import { parseSourceUrl } from './source-url.js';

export interface UrlTokenClaims {
  /** Normalised source URL (WHATWG href). */
  readonly url: string;
  readonly sendToken: boolean;
  /** Seconds since the epoch; undefined when the token never expires. */
  readonly exp: number | undefined;
}

/** Verifies a URL token signed by the key `"<service origin> <kid>"`, issued by that origin. */
export async function verifyUrlToken(
  token: string,
  serviceOrigin: string,
  serviceKeys: ReadonlyMap<string, CryptoKey>,
): Promise<UrlTokenClaims> {
  const payload = await verifyEs256Jwt(token, (kid) => serviceKeys.get(`${serviceOrigin} ${kid}`), {
    issuer: serviceOrigin,
    maxLifetimeSeconds: MAX_SERVICE_TOKEN_LIFETIME_SECONDS,
  });
  const sendToken = payload['ecamo:send-token'] ?? false;
  if (typeof sendToken !== 'boolean') throw new EcamoError('token-deserialization', 'ecamo:send-token is not a boolean');
  return { url: parseSourceUrl(payload['ecamo:url']).href, sendToken, exp: payload.exp };
}
