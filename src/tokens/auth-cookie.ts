import type { CryptoKey } from 'jose';
import { EcamoError, refusesAuthentication } from '../errors.js';
import { MAX_SERVICE_TOKEN_LIFETIME_SECONDS, serviceKeyName, verifyToken, type TokenVerification } from './jws.js';

/**
 * The authorisation cookie is signed by the service, `iss` = service origin,
 * `aud` = canonical origin, `exp` required. What is read is its `exp`.
 */
export function authCookieVerification(
  serviceOrigin: string,
  canonicalOrigin: string,
  serviceKeys: ReadonlyMap<string, CryptoKey>,
): TokenVerification<number, 'exp'> {
  return {
    resolveKey: (kid) => serviceKeys.get(serviceKeyName(serviceOrigin, kid)),
    claimRules: { issuer: serviceOrigin, audience: canonicalOrigin, requiredClaims: ['exp'], maxLifetimeSeconds: MAX_SERVICE_TOKEN_LIFETIME_SECONDS },
    signatureRules: {},
    read: (payload) => payload.exp,
  };
}

/** Verifies the authorisation cookie (see authCookieVerification); every failure is a 401. Returns the token's `exp`. */
export async function verifyAuthCookie(
  token: string,
  serviceOrigin: string,
  canonicalOrigin: string,
  serviceKeys: ReadonlyMap<string, CryptoKey>,
): Promise<number> {
  try {
    return await verifyToken(token, authCookieVerification(serviceOrigin, canonicalOrigin, serviceKeys));
  } catch (error) {
    if (error instanceof EcamoError && refusesAuthentication(error.code)) throw error;
    throw new EcamoError('invalid-token', `auth cookie: ${(error as Error).message}`, { cause: error });
  }
}
