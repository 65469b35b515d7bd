import { hash, timingSafeEqual } from 'node:crypto';
import { EcamoError } from '../errors.js';

const BASE64URL_ALPHABET = /^[A-Za-z0-9_-]*$/;

/** SHA-384 of the UTF-8 URL, base64url without padding: what a CDN keys its cache on. */
export function urlDigest(url: string): string {
  return hash('sha384', url, 'base64url');
}

/**
 * Strict, canonical, unpadded base64url. Node's decoder is lenient (it skips
 * stray characters and ignores trailing bits), so re-encode and compare.
 */
export function decodeStrictBase64url(text: string): Buffer | undefined {
  if (!BASE64URL_ALPHABET.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

/** Checks the path digest against the token's URL: 400 if malformed, 401 if it names another URL. */
export function assertDigestMatches(digest: string, url: string): void {
  const given = decodeStrictBase64url(digest);
  if (given === undefined) throw new EcamoError('bad-request', 'digest is not canonical base64url');
  const expected = hash('sha384', url, 'buffer');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new EcamoError('invalid-token', 'digest does not match the token URL');
  }
}
