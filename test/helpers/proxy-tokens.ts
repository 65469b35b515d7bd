/**
 * Proxy tokens from the outside: signing keys made from a JWK (ecamo's, a
 * stranger's, a service's), and a minted token checked with jose as any
 * HS256 JWS, under the key derived from the private key (docs/protocol.md §4.4).
 */
import { jwtVerify, type JWTPayload, type JWK } from 'jose';
import { loadEcamoKeys, type SigningKey } from '../../src/config/keys.js';
import type { GeneratedKey } from '../../src/config/generate-key.js';
import type { ProxyTokenClaims, VerifiedProxyToken } from '../../src/tokens/proxy-token.js';

/** The signing key ecamo would make of `privateJwk` under `kid`: its private key and derived MAC key. */
export async function signingKeyOf(privateJwk: JWK, kid: string): Promise<SigningKey> {
  return (await loadEcamoKeys('ECAMO_PRIVATE_KEYS', JSON.stringify({ [kid]: { ...privateJwk, kid } }), 'ECAMO_SIGNING_KID', kid)).signing;
}

/** The proxy-token MAC key of `key`, as bytes any JOSE library takes. */
export async function proxyTokenMacKeyOf(key: GeneratedKey): Promise<Uint8Array> {
  return (await signingKeyOf(key.privateJwk, key.kid)).proxyTokenMacKey.export();
}

/** Verifies a proxy token ecamo minted (HS256 by default) with jose, with the issuer and audience of proxy tokens. */
export async function verifyMintedProxyToken(token: string, key: GeneratedKey): Promise<{ payload: JWTPayload; alg: string }> {
  const { payload, protectedHeader } = await jwtVerify(token, await proxyTokenMacKeyOf(key), { issuer: 'ecamo:s', audience: 'ecamo:p', algorithms: ['HS256'] });
  return { payload, alg: protectedHeader.alg };
}

/** The claims verified proxy-token claims carry, as a plain object to compare (they are a class, with more of their own). */
export function claimsOf(verified: VerifiedProxyToken | undefined): (ProxyTokenClaims & { readonly exp: number }) | undefined {
  if (verified === undefined) return undefined;
  const { url, serviceOrigin, sendToken, exp } = verified;
  return { url, serviceOrigin, sendToken, exp };
}
