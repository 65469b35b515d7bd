/**
 * A MAC over the claims of the proxy tokens ecamo mints, checked instead of
 * their ES256 signature when present.
 *
 * Why: proxy tokens are minted and verified by ecamo itself, and verifying a
 * P-256 signature costs ~85 µs of CPU (OpenSSL 3.0 here), more than the rest
 * of a small image's proxying. An HMAC-SHA256 costs ~1 µs and proves the same
 * thing: its key is derived from ecamo's private key, so whoever can make one
 * could sign the token anyway. Every request still checks a cryptographic
 * proof; nothing is cached.
 *
 * Compatibility: the MAC is one more claim, `ecamo:mac`, and the token stays
 * ES256-signed, so another Ecamo server sharing the keys (e.g. the reference
 * server during a migration) verifies it as before; tokens without the claim,
 * minted by such a server, are verified by their signature.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { JwtPayload } from './jws.js';

export const MAC_CLAIM = 'ecamo:mac';

/** HKDF-SHA256 of the private scalar, bound to this use and this kid. */
export function deriveProxyMacKey(privateScalar: string, kid: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(privateScalar, 'base64url'), 'ecamo proxy-token mac v1', kid, 32));
}

/** Every claim the proxy endpoint relies on, and the kid, in one unambiguous string. */
function macInput(kid: string, payload: JwtPayload): string {
  return JSON.stringify([kid, payload.iss, payload.aud, payload.iat, payload.nbf, payload.exp, payload['ecamo:svc'], payload['ecamo:url'], payload['ecamo:tok']]);
}

export function proxyTokenMac(key: Buffer, kid: string, payload: JwtPayload): string {
  return createHmac('sha256', key).update(macInput(kid, payload)).digest('base64url');
}

/**
 * true: the MAC proves the token; false: it carries a MAC that is wrong
 * (forged); undefined: no MAC to check (a token minted without one), so the
 * signature must be verified.
 */
export function checkProxyTokenMac(macKeys: ReadonlyMap<string, Buffer>, kid: string, payload: JwtPayload): boolean | undefined {
  const given = payload[MAC_CLAIM];
  const key = macKeys.get(kid);
  if (given === undefined || key === undefined) return undefined;
  if (typeof given !== 'string') return false;
  const expected = Buffer.from(proxyTokenMac(key, kid, payload));
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
