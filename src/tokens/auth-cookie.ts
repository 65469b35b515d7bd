import type { CryptoKey } from 'jose';
import { EcamoError } from '../errors.js';
import { MAX_SERVICE_TOKEN_LIFETIME_SECONDS, verifyEs256Jwt } from './jws.js';

/**
 * Verifies the authorisation cookie: signed by the service, `iss` = service
 * origin, `aud` = canonical origin, `exp` required. Every failure is a 401.
 * Returns the token's `exp`.
 */
export async function verifyAuthCookie(
  token: string,
  serviceOrigin: string,
  canonicalOrigin: string,
  serviceKeys: ReadonlyMap<string, CryptoKey>,
): Promise<number> {
  try {
    const payload = await verifyEs256Jwt(token, (kid) => serviceKeys.get(`${serviceOrigin} ${kid}`), {
      issuer: serviceOrigin,
      audience: canonicalOrigin,
      requiredClaims: ['exp'],
      maxLifetimeSeconds: MAX_SERVICE_TOKEN_LIFETIME_SECONDS,
    });
    return payload.exp;
  } catch (error) {
    if (error instanceof EcamoError && error.status === 401) throw error;
    throw new EcamoError('invalid-token', `auth cookie: ${(error as Error).message}`, { cause: error });
  }
}
