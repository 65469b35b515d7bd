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

/**
 * A proxy token's claims as its verification read them, with two things of
 * its own that are neither enumerated nor compared: the source URL as it was
 * parsed (`url` is its serialisation), which the fetch starts from, so that a
 * request parses its source URL once; and the verification that read them,
 * so that a token service remembers only what its current keys verified. A
 * class, not a property added to a claims object: `Object.defineProperty` on
 * every verified token was 0.7 % of a tail request (docs/performance.md).
 */
export class VerifiedProxyToken implements ProxyTokenClaims {
  readonly url: string;
  readonly serviceOrigin: string;
  readonly sendToken: boolean;
  readonly exp: number;
  readonly #sourceUrl: URL;
  readonly #verification: ProxyTokenVerification;

  constructor(sourceUrl: URL, serviceOrigin: string, sendToken: boolean, exp: number, verification: ProxyTokenVerification) {
    this.url = sourceUrl.href;
    this.serviceOrigin = serviceOrigin;
    this.sendToken = sendToken;
    this.exp = exp;
    this.#sourceUrl = sourceUrl;
    this.#verification = verification;
  }

  /** `url` parsed, as the verification parsed it. */
  get sourceUrl(): URL {
    return this.#sourceUrl;
  }

  /** Whether `verification` is the one that read these claims. */
  readBy(verification: ProxyTokenVerification): boolean {
    return this.#verification === verification;
  }
}

/** The rules proxy tokens are verified by under one key set. */
export type ProxyTokenVerification = TokenVerification<VerifiedProxyToken, 'exp'>;

/**
 * A proxy token is MACed (HS256) or signed (ES256) under any of ecamo's keys,
 * so that keys can rotate; `exp` is required.
 */
export function proxyTokenVerification(keys: Pick<EcamoKeys, 'verification' | 'proxyTokenMacKeys'>): ProxyTokenVerification {
  const verification: ProxyTokenVerification = {
    resolveKey: (kid) => keys.verification.get(kid),
    claimRules: { issuer: PROXY_TOKEN_PARTIES.issuer, audience: PROXY_TOKEN_PARTIES.audience, requiredClaims: ['exp'], maxLifetimeSeconds: MAX_PROXY_TOKEN_LIFETIME_SECONDS },
    signatureRules: { resolveMacKey: (kid) => keys.proxyTokenMacKeys.get(kid) },
    read(payload) {
      const serviceOrigin = payload['ecamo:svc'];
      const sendToken = payload['ecamo:tok'] ?? false;
      if (typeof serviceOrigin !== 'string' || typeof sendToken !== 'boolean') {
        throw new EcamoError('invalid-token', 'proxy token claims have the wrong types');
      }
      return new VerifiedProxyToken(parseSourceUrl(payload['ecamo:url']), serviceOrigin, sendToken, payload.exp, verification);
    },
  };
  return verification;
}

export async function verifyProxyToken(token: string, keys: Pick<EcamoKeys, 'verification' | 'proxyTokenMacKeys'>): Promise<VerifiedProxyToken> {
  return verifyToken(token, proxyTokenVerification(keys));
}
