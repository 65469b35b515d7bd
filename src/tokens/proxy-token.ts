import { SignJWT } from 'jose';
import { EcamoError } from '../errors.js';
import type { EcamoKeys, SigningKey } from '../config/keys.js';
import { MAX_PROXY_TOKEN_LIFETIME_SECONDS, type ProxyTokenAlg } from '../config/load.js';
import { hmacOf } from './hmac.js';
import { verifyToken, type TokenVerification } from './jws.js';
import { parseSourceUrl } from './source-url.js';

/** The proxy token's `iss` and `aud` (docs/protocol.md §4.4), which tell it from every other token. */
export const PROXY_TOKEN_PARTIES = Object.freeze({ issuer: 'ecamo:s', audience: 'ecamo:p' } as const);

export interface ProxyTokenClaims {
  readonly url: string;
  readonly serviceOrigin: string;
  readonly sendToken: boolean;
}

/**
 * Mints a proxy token under ecamo's signing key. HS256 is deterministic, so
 * a token has exactly one valid string; ES256 is signed by jose with the s it
 * gives, as the reference server does.
 */
export async function signProxyToken(
  claims: ProxyTokenClaims,
  key: SigningKey,
  lifetimeSeconds: number,
  alg: ProxyTokenAlg = 'HS256',
  now: number = Math.floor(Date.now() / 1000),
): Promise<string> {
  const payload = {
    'ecamo:svc': claims.serviceOrigin,
    'ecamo:url': claims.url,
    'ecamo:tok': claims.sendToken,
    iss: PROXY_TOKEN_PARTIES.issuer,
    aud: PROXY_TOKEN_PARTIES.audience,
    iat: now,
    nbf: now,
    exp: now + lifetimeSeconds,
  };
  if (alg === 'ES256') return new SignJWT(payload).setProtectedHeader({ alg, kid: key.kid }).sign(key.privateKey);
  // The header and payload as jose would serialise them; the MAC through node:crypto, synchronously.
  const signingInput = `${base64urlJson({ alg, kid: key.kid })}.${base64urlJson(payload)}`;
  return `${signingInput}.${hmacOf('sha256', key.proxyTokenMacKey).digest(signingInput).toString('base64url')}`;
}

function base64urlJson(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export interface VerifiedProxyToken extends ProxyTokenClaims {
  readonly exp: number;
}

/**
 * A proxy token is MACed (HS256) or signed (ES256) under any of ecamo's keys,
 * so that keys can rotate; `exp` is required.
 */
export function proxyTokenVerification(keys: Pick<EcamoKeys, 'verification' | 'proxyTokenMacKeys'>): TokenVerification<VerifiedProxyToken, 'exp'> {
  return {
    resolveKey: (kid) => keys.verification.get(kid),
    claimRules: { issuer: PROXY_TOKEN_PARTIES.issuer, audience: PROXY_TOKEN_PARTIES.audience, requiredClaims: ['exp'], maxLifetimeSeconds: MAX_PROXY_TOKEN_LIFETIME_SECONDS },
    signatureRules: { resolveMacKey: (kid) => keys.proxyTokenMacKeys.get(kid) },
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

export async function verifyProxyToken(token: string, keys: Pick<EcamoKeys, 'verification' | 'proxyTokenMacKeys'>): Promise<VerifiedProxyToken> {
  return verifyToken(token, proxyTokenVerification(keys));
}
