import { SignJWT } from 'jose';
import { EcamoError } from '../errors.js';
import type { EcamoKeys, SigningKey } from '../config/keys.js';
import { MAX_PROXY_TOKEN_LIFETIME_SECONDS } from '../config/load.js';
import { verifyToken, type TokenVerification } from './jws.js';
import { toLowS } from './low-s.js';
import { parseSourceUrl } from './source-url.js';

const ISSUER = 'ecamo:s';
const AUDIENCE = 'ecamo:p';

export interface ProxyTokenClaims {
  readonly url: string;
  readonly serviceOrigin: string;
  readonly sendToken: boolean;
}

/** Signs a proxy token with ecamo's signing key, always with a low s (tokens/low-s.ts). */
export async function signProxyToken(
  claims: ProxyTokenClaims,
  key: SigningKey,
  lifetimeSeconds: number,
  now: number = Math.floor(Date.now() / 1000),
): Promise<string> {
  const payload = {
    'ecamo:svc': claims.serviceOrigin,
    'ecamo:url': claims.url,
    'ecamo:tok': claims.sendToken,
    iss: ISSUER,
    aud: AUDIENCE,
    iat: now,
    nbf: now,
    exp: now + lifetimeSeconds,
  };
  const token = await new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: key.kid }).sign(key.privateKey);
  const lastDot = token.lastIndexOf('.');
  return `${token.slice(0, lastDot + 1)}${toLowS(Buffer.from(token.slice(lastDot + 1), 'base64url')).toString('base64url')}`;
}

export interface VerifiedProxyToken extends ProxyTokenClaims {
  readonly exp: number;
}

/** A proxy token is signed by any of ecamo's keys (so that keys can rotate), with a low s; `exp` is required. */
export function proxyTokenVerification(keys: Pick<EcamoKeys, 'verification'>): TokenVerification<VerifiedProxyToken, 'exp'> {
  return {
    resolveKey: (kid) => keys.verification.get(kid),
    claimRules: { issuer: ISSUER, audience: AUDIENCE, requiredClaims: ['exp'], maxLifetimeSeconds: MAX_PROXY_TOKEN_LIFETIME_SECONDS },
    signatureRules: { requireLowS: true },
    read(payload) {
      const serviceOrigin = payload['ecamo:svc'];
      const sendToken = payload['ecamo:tok'] ?? false;
      if (typeof serviceOrigin !== 'string' || typeof sendToken !== 'boolean') {
        throw new EcamoError('invalid-token', 'proxy token claims have the wrong types');
      }
      return { url: parseSourceUrl(payload['ecamo:url']).href, serviceOrigin, sendToken, exp: payload.exp };
    },
  };
}

export function verifyProxyToken(token: string, keys: Pick<EcamoKeys, 'verification'>): Promise<VerifiedProxyToken> {
  return verifyToken(token, proxyTokenVerification(keys));
}
