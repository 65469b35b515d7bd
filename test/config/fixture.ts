/** What both config test files share: keys, the smallest valid environment. */
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { generateKey } from '../../src/config/generate-key.js';

export const SERVICE = 'https://wiki.example';

export const [ecamoKey, secondKey, serviceKey] = await Promise.all([generateKey('ecamo-1'), generateKey('ecamo-2'), generateKey('svc-1')]);
const pair = await generateKeyPair('ES384', { extractable: true });
export const p384: { privateJwk: JWK; publicJwk: JWK } = { privateJwk: await exportJWK(pair.privateKey), publicJwk: await exportJWK(pair.publicKey) };

/** The smallest valid configuration, plus `overrides`; `undefined` removes a variable. */
export function env(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    ECAMO_CANONICAL_HOST: 'ecamo.example',
    ECAMO_PRIVATE_KEYS: JSON.stringify({ 'ecamo-1': ecamoKey.privateJwk }),
    ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`${SERVICE} svc-1`]: serviceKey.publicJwk }),
    ...overrides,
  };
}

export const keysOf = (entries: Record<string, unknown>): string => JSON.stringify(entries);
