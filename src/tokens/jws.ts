import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { EcamoError, type EcamoErrorCode } from '../errors.js';

/**
 * Clock leeway for exp/nbf. Seconds, not minutes: a token's lifetime is
 * itself under a minute, and a large leeway would extend every one of them.
 */
export const CLOCK_TOLERANCE_SECONDS = 10;

const ES256_ONLY = Object.freeze(['ES256']);

/** Resolves the `kid` of a verified header to a key, or throws `unknown-key`. */
export type KeyResolver = (kid: string) => CryptoKey | undefined;

/**
 * Verifies an ES256 compact JWS and its registered claims. jose refuses
 * `alg: none`, HMAC, wrong-length (e.g. DER) signatures and unknown `crit`
 * headers; every failure becomes an EcamoError with a stable code.
 */
export async function verifyEs256Jwt(
  token: string,
  resolveKey: KeyResolver,
  options: Pick<JWTVerifyOptions, 'issuer' | 'audience' | 'requiredClaims'>,
): Promise<JWTPayload> {
  try {
    const { payload } = await jwtVerify(
      token,
      (header) => {
        if (typeof header.kid !== 'string') throw new EcamoError('unknown-key', 'token header has no kid');
        const key = resolveKey(header.kid);
        if (key === undefined) throw new EcamoError('unknown-key', `no key for kid ${header.kid}`);
        return key;
      },
      { ...options, algorithms: ES256_ONLY as string[], clockTolerance: CLOCK_TOLERANCE_SECONDS },
    );
    return payload;
  } catch (error) {
    throw toEcamoError(error);
  }
}

function toEcamoError(error: unknown): EcamoError {
  if (error instanceof EcamoError) return error;
  const code: EcamoErrorCode =
    error instanceof joseErrors.JWTClaimValidationFailed || error instanceof joseErrors.JWTExpired
      ? 'jwt'
      : error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid
        ? 'token-deserialization'
        : 'invalid-token';
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new EcamoError(code, detail, { cause: error });
}
