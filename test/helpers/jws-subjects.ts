/**
 * The three rule sets src/tokens/jws.ts is called with (URL token, auth
 * cookie, proxy token: docs/protocol.md §4), as plain verifyEs256Jwt calls
 * over one key each, for the unit and differential tests of the verifier.
 */
import { importJWK, type CryptoKey } from 'jose';
import { MAX_PROXY_TOKEN_LIFETIME_SECONDS } from '../../src/config/load.js';
import { generateKey } from '../../src/config/generate-key.js';
import { MAX_SERVICE_TOKEN_LIFETIME_SECONDS, verifyEs256Jwt, type ClaimRules, type JwtPayload, type SignatureRules, type TimeClaim } from '../../src/tokens/jws.js';
import type { ForgeryTarget } from './forgeries.js';
import { now } from './hostile.js';

export const SERVICE = 'https://wiki.example';
export const CANONICAL = 'https://ecamo.example';
const IMAGE = 'https://images.example/a.png';

export interface JwsSubject extends ForgeryTarget {
  readonly name: string;
  readonly rules: ClaimRules<TimeClaim>;
  readonly signatureRules: SignatureRules;
  readonly publicKey: CryptoKey;
  /** verifyEs256Jwt with this subject's rules, over its one key. */
  verify(token: string): Promise<JwtPayload>;
}

export async function jwsSubjects(): Promise<readonly JwsSubject[]> {
  const make = async (
    name: string,
    claims: () => Record<string, unknown>,
    rules: ClaimRules<TimeClaim>,
    signatureRules: SignatureRules,
  ): Promise<JwsSubject> => {
    const key = await generateKey(`${name.replaceAll(' ', '-')}-1`);
    const publicKey = (await importJWK(key.publicJwk, 'ES256')) as CryptoKey;
    return {
      name,
      kid: key.kid,
      key,
      claims,
      requiresExp: rules.requiredClaims?.includes('exp') === true,
      checksAudience: rules.audience !== undefined,
      rules,
      signatureRules,
      publicKey,
      verify: (token) => verifyEs256Jwt(token, (kid) => (kid === key.kid ? publicKey : undefined), rules, signatureRules),
    };
  };
  return [
    await make('URL token', () => ({ iss: SERVICE, 'ecamo:url': IMAGE }), { issuer: SERVICE, maxLifetimeSeconds: MAX_SERVICE_TOKEN_LIFETIME_SECONDS }, {}),
    await make(
      'auth cookie',
      () => ({ iss: SERVICE, aud: CANONICAL, iat: now(), exp: now() + 600 }),
      { issuer: SERVICE, audience: CANONICAL, requiredClaims: ['exp'], maxLifetimeSeconds: MAX_SERVICE_TOKEN_LIFETIME_SECONDS },
      {},
    ),
    await make(
      'proxy token',
      () => ({ iss: 'ecamo:s', aud: 'ecamo:p', iat: now(), nbf: now(), exp: now() + 45, 'ecamo:svc': SERVICE, 'ecamo:url': IMAGE, 'ecamo:tok': false }),
      { issuer: 'ecamo:s', audience: 'ecamo:p', requiredClaims: ['exp'], maxLifetimeSeconds: MAX_PROXY_TOKEN_LIFETIME_SECONDS },
      { requireLowS: true },
    ),
  ];
}
