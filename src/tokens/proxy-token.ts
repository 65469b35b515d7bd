import { SignJWT } from 'jose';
import { EcamoError } from '../errors.js';
import type { EcamoKeys, SigningKey } from '../config/keys.js';
import { verifyEs256Jwt } from './jws.js';
import { checkProxyTokenMac, MAC_CLAIM, proxyTokenMac } from './proxy-mac.js';
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
  const payload: Record<string, unknown> = {
    'ecamo:svc': claims.serviceOrigin,
    'ecamo:url': claims.url,
    'ecamo:tok': claims.sendToken,
    iss: ISSUER,
    aud: AUDIENCE,
    iat: now,
    nbf: now,
    exp: now + lifetimeSeconds,
  };
  if (key.macKey !== undefined) payload[MAC_CLAIM] = proxyTokenMac(key.macKey, key.kid, payload);
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: key.kid }).sign(key.privateKey);
}

/** Verifies a proxy token against any of ecamo's keys (so that keys can rotate). */
export interface VerifiedProxyToken extends ProxyTokenClaims {
  readonly exp: number;
}

export async function verifyProxyToken(token: string, keys: Pick<EcamoKeys, 'verification' | 'macKeys'>): Promise<VerifiedProxyToken> {
  const payload = await verifyEs256Jwt(
    token,
    (kid) => keys.verification.get(kid),
    { issuer: ISSUER, audience: AUDIENCE, requiredClaims: ['exp'] },
    (kid, claims) => checkProxyTokenMac(keys.macKeys, kid, claims),
  );
  const serviceOrigin = payload['ecamo:svc'];
  const sendToken = payload['ecamo:tok'] ?? false;
  if (typeof serviceOrigin !== 'string' || typeof sendToken !== 'boolean') {
    throw new EcamoError('invalid-token', 'proxy token claims have the wrong types');
  }
  return { url: parseSourceUrl(payload['ecamo:url']).href, serviceOrigin, sendToken, exp: payload.exp! };
}
