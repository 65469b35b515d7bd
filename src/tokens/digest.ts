import { hash } from 'node:crypto';
import { EcamoError } from '../errors.js';

const BASE64URL_ALPHABET = /^[A-Za-z0-9_-]*$/;

/** SHA-384 of the UTF-8 URL, base64url without padding: what a CDN keys its cache on. */
export function urlDigest(url: string): string {
  return hash('sha384', url, 'base64url');
}

/**
 * The bits of the last character that encode no byte, by the text's length
 * modulo 4 (undefined: no length of base64 text leaves 1 character over).
 * Two characters over carry one byte and four spare bits; three, two bytes
 * and two spare bits (RFC 4648 section 3.5: canonical text has them zero).
 */
const SPARE_BITS: readonly (number | undefined)[] = [0, undefined, 0b1111, 0b11];

/** The 6-bit value of a base64url character (one of BASE64URL_ALPHABET). */
function sextet(code: number): number {
  if (code >= 97) return code - 71; // a-z: 26-51
  if (code === 95) return 63; // '_', between 'Z' and 'a'
  if (code >= 65) return code - 65; // A-Z: 0-25
  if (code >= 48) return code + 4; // 0-9: 52-61
  return 62; // '-'
}

/**
 * Strict, canonical, unpadded base64url. Node's decoder is lenient (it skips
 * stray characters and ignores trailing bits), so only text of the alphabet,
 * of a length some bytes encode, whose spare bits are zero, is decoded: the
 * one spelling of its bytes (what re-encoding them gives).
 */
export function decodeStrictBase64url(text: string): Buffer | undefined {
  if (!BASE64URL_ALPHABET.test(text)) return undefined;
  const spareBits = SPARE_BITS[text.length % 4];
  if (spareBits === undefined || (spareBits !== 0 && (sextet(text.charCodeAt(text.length - 1)) & spareBits) !== 0)) return undefined;
  return Buffer.from(text, 'base64url');
}

/**
 * Checks the path digest against the token's URL: 400 if malformed, 401 if it names another URL.
 * Strict base64url has one spelling per bytes, so the digest matches exactly when it is the text
 * `urlDigest` gives: one comparison of strings, without decoding. Not in constant time, and it need
 * not be: the digest is of a URL that anyone holding the token reads in its payload.
 */
export function assertDigestMatches(digest: string, url: string): void {
  if (digest === urlDigest(url)) return;
  if (decodeStrictBase64url(digest) === undefined) throw new EcamoError('bad-request', 'digest is not canonical base64url');
  throw new EcamoError('invalid-token', 'digest does not match the token URL');
}
