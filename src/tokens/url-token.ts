import { URL_TOKEN_CLAIMS } from '@ecamo/protocol';
import type { CryptoKey } from 'jose';
import { EcamoError } from '../errors.js';
import { MAX_SERVICE_TOKEN_LIFETIME_SECONDS, serviceKeyName, verifyToken, type TokenVerification } from './jws.js';
import { parseSourceUrl } from './source-url.js';

export interface UrlTokenClaims {
  /** Normalised source URL (WHATWG href). */
  readonly url: string;
  readonly sendToken: boolean;
  /** Seconds since the epoch; undefined when the token never expires. */
  readonly exp: number | undefined;
}

/** A URL token is signed by a key `"<service origin> <kid>"` and issued by that origin; `exp` is optional. */
export function urlTokenVerification(serviceOrigin: string, serviceKeys: ReadonlyMap<string, CryptoKey>): TokenVerification<UrlTokenClaims> {
  return {
    resolveKey: (kid) => serviceKeys.get(serviceKeyName(serviceOrigin, kid)),
    claimRules: { issuer: serviceOrigin, maxLifetimeSeconds: MAX_SERVICE_TOKEN_LIFETIME_SECONDS },
    signatureRules: {},
    read(payload) {
      const sendToken = payload[URL_TOKEN_CLAIMS.sendToken] ?? false;
      if (typeof sendToken !== 'boolean') throw new EcamoError('token-deserialization', `${URL_TOKEN_CLAIMS.sendToken} is not a boolean`);
      return { url: parseSourceUrl(payload[URL_TOKEN_CLAIMS.url]).href, sendToken, exp: payload.exp };
    },
  };
}

export async function verifyUrlToken(token: string, serviceOrigin: string, serviceKeys: ReadonlyMap<string, CryptoKey>): Promise<UrlTokenClaims> {
  return verifyToken(token, urlTokenVerification(serviceOrigin, serviceKeys));
}
