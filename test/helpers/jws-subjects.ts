/**
 * The three rule sets src/tokens/jws.ts is called with (URL token, auth
 * cookie, proxy token: docs/protocol.md §4), as plain verifyEs256Jwt calls
 * over one key each, for the unit and differential tests of the verifier.
 * Proxy tokens come twice, as ecamo mints them (HS256 under the key derived
 * from its private key) and as the reference server does (ES256): one key,
 * one rule set, either form genuine.
 */
import { createSecretKey } from 'node:crypto';
import { importJWK, type CryptoKey } from 'jose';
import { MAX_PROXY_TOKEN_LIFETIME_SECONDS } from '../../src/config/load.js';
import { generateKey, type GeneratedKey } from '../../src/config/generate-key.js';
import { MAX_SERVICE_TOKEN_LIFETIME_SECONDS, verifyEs256Jwt, type ClaimRules, type JwtPayload, type SignatureRules, type TimeClaim } from '../../src/tokens/jws.js';
import { derivedMacKey, type ForgeryTarget } from './forgeries.js';
import { now } from './hostile.js';

export const SERVICE = 'https://wiki.example';
export const CANONICAL = 'https://ecamo.example';
const IMAGE = 'https://images.example/a.png';

export interface JwsSubject extends ForgeryTarget {
  readonly name: string;
  readonly rules: ClaimRules<TimeClaim>;
  readonly signatureRules: SignatureRules;
  readonly publicKey: CryptoKey;
  /** The MAC key of HS256 tokens of this kind (proxy tokens), as bytes. */
  readonly macKey: Buffer | undefined;
  /** verifyEs256Jwt with this subject's rules, over its one key. */
  verify(token: string): Promise<JwtPayload>;
}

export async function jwsSubjects(): Promise<readonly JwsSubject[]> {
  const make = async (
    name: string,
    claims: () => Record<string, unknown>,
    rules: ClaimRules<TimeClaim>,
    forms: { readonly alg: 'ES256' | 'HS256'; readonly acceptsMac: boolean; readonly key?: GeneratedKey },
  ): Promise<JwsSubject> => {
    const key = forms.key ?? (await generateKey(`${name.replaceAll(' ', '-')}-1`));
    const publicKey = (await importJWK(key.publicJwk, 'ES256')) as CryptoKey;
    const macKey = forms.acceptsMac ? derivedMacKey(key) : undefined;
    const macKeyObject = macKey === undefined ? undefined : createSecretKey(macKey);
    const signatureRules: SignatureRules = macKeyObject === undefined ? {} : { resolveMacKey: (kid) => (kid === key.kid ? macKeyObject : undefined) };
    return {
      name,
      kid: key.kid,
      key,
      claims,
      requiresExp: rules.requiredClaims?.includes('exp') === true,
      checksAudience: rules.audience !== undefined,
      alg: forms.alg,
      acceptsMac: forms.acceptsMac,
      rules,
      signatureRules,
      publicKey,
      macKey,
      verify: (token) => verifyEs256Jwt(token, (kid) => (kid === key.kid ? publicKey : undefined), rules, signatureRules),
    };
  };
  const proxyClaims = (): Record<string, unknown> => ({ iss: 'ecamo:s', aud: 'ecamo:p', iat: now(), nbf: now(), exp: now() + 45, 'ecamo:svc': SERVICE, 'ecamo:url': IMAGE, 'ecamo:tok': false });
  const proxyRules: ClaimRules<TimeClaim> = { issuer: 'ecamo:s', audience: 'ecamo:p', requiredClaims: ['exp'], maxLifetimeSeconds: MAX_PROXY_TOKEN_LIFETIME_SECONDS };
  const ecamoKey = await generateKey('ecamo-1');
  return [
    await make('URL token', () => ({ iss: SERVICE, 'ecamo:url': IMAGE }), { issuer: SERVICE, maxLifetimeSeconds: MAX_SERVICE_TOKEN_LIFETIME_SECONDS }, { alg: 'ES256', acceptsMac: false }),
    await make(
      'auth cookie',
      () => ({ iss: SERVICE, aud: CANONICAL, iat: now(), exp: now() + 600 }),
      { issuer: SERVICE, audience: CANONICAL, requiredClaims: ['exp'], maxLifetimeSeconds: MAX_SERVICE_TOKEN_LIFETIME_SECONDS },
      { alg: 'ES256', acceptsMac: false },
    ),
    await make('proxy token', proxyClaims, proxyRules, { alg: 'HS256', acceptsMac: true, key: ecamoKey }),
    await make('proxy token (ES256)', proxyClaims, proxyRules, { alg: 'ES256', acceptsMac: true, key: ecamoKey }),
  ];
}
