import { SignJWT } from 'jose';
import { EcamoError } from '../errors.js';
import type { SigningKey } from '../config/keys.js';
import { verifyEs256Jwt } from './jws.js';
import { parseSourceUrl } from './source-url.js';

const ISSUER = 'ecamo:s';
const AUDIENCE = 'ecamo:p';

export interface ProxyTokenClaims {
  readonly url: string;
  readonly serviceOrigin: string;
  readonly sendToken: boolean;
}

export async function signProxyToken(
  claims: ProxyTokenClaims,
  key: SigningKey,
  lifetimeSeconds: number,
  now: number = Math.floor(Date.now() / 1000),
): Promise<string> {
  return new SignJWT({ 'ecamo:svc': claims.serviceOrigin, 'ecamo:url': claims.url, 'ecamo:tok': claims.sendToken })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + lifetimeSeconds)
    .sign(key.privateKey);
}

/** Verifies a proxy token against any of ecamo's keys (so that keys can rotate). */
export interface VerifiedProxyToken extends ProxyTokenClaims {
  readonly exp: number;
}

export async function verifyProxyToken(token: string, keys: ReadonlyMap<string, CryptoKey>): Promise<VerifiedProxyToken> {
  const payload = await verifyEs256Jwt(token, (kid) => keys.get(kid), {
    issuer: ISSUER,
    audience: AUDIENCE,
    requiredClaims: ['exp'],
  });
  const serviceOrigin = payload['ecamo:svc'];
  const sendToken = payload['ecamo:tok'] ?? false;
  if (typeof serviceOrigin !== 'string' || typeof sendToken !== 'boolean') {
    throw new EcamoError('invalid-token', 'proxy token claims have the wrong types');
  }
  return { url: parseSourceUrl(payload['ecamo:url']).href, serviceOrigin, sendToken, exp: payload.exp! };
}
