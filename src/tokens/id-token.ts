import { randomUUID } from 'node:crypto';
import { ID_TOKEN_CLAIMS, ID_TOKEN_SUBJECT } from '@ecamo/protocol';
import { SignJWT } from 'jose';
import type { SigningKey } from '../config/keys.js';

/**
 * The anonymous ID token ecamo presents to a source: it proves the request
 * comes through ecamo on behalf of a service, and says nothing about the user.
 * `jti` lets a source refuse replays.
 */
export async function signIdToken(
  claims: { canonicalOrigin: string; sourceOrigin: string; serviceOrigin: string },
  key: SigningKey,
  lifetimeSeconds: number,
  now: number = Math.floor(Date.now() / 1000),
): Promise<string> {
  return new SignJWT({ [ID_TOKEN_CLAIMS.serviceOrigin]: claims.serviceOrigin })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
    .setIssuer(claims.canonicalOrigin)
    .setSubject(ID_TOKEN_SUBJECT)
    .setAudience(claims.sourceOrigin)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetimeSeconds)
    .setJti(randomUUID())
    .sign(key.privateKey);
}
