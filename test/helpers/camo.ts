/** camo-format URLs for tests, computed without ecamo's code: fixed openssl vectors, and node:crypto. */
import { createHmac } from 'node:crypto';

/**
 * Fixed vectors, computed with openssl rather than with ecamo's code:
 *   printf %s "$URL" | openssl dgst -sha1 -hmac "$KEY" -hex
 *   printf %s "$URL" | openssl dgst -sha1 -hmac "$KEY" -binary | basenc --base64url | tr -d =
 *   printf %s "$URL" | xxd -p | tr -d '\n'
 *   printf %s "$URL" | basenc --base64url -w0 | tr -d =
 */
export const VECTORS = Object.freeze({
  key: 's3cret camo key',
  oldKey: 'second key',
  url: 'http://images.example/cat.png?size=large&v=2',
  hexPath:
    '/101818c2e3f1fd8751d0ccc932fd57ff4abfde7e/687474703a2f2f696d616765732e6578616d706c652f6361742e706e673f73697a653d6c6172676526763d32',
  base64Path: '/EBgYwuPx_YdR0MzJMv1X_0q_3n4/aHR0cDovL2ltYWdlcy5leGFtcGxlL2NhdC5wbmc_c2l6ZT1sYXJnZSZ2PTI',
  /** The same URL's digest under oldKey. */
  oldKeyHexDigest: 'e640ece11ed3ba1abcefdf5595bb363eeb77284a',
});

/** camo paths, computed here with node:crypto (independently of @ecamo/signer's WebCrypto code). */
export function camoPath(key: string, url: string, encoding: 'hex' | 'base64' = 'hex'): string {
  const digest = createHmac('sha1', key).update(url).digest();
  const format = encoding === 'hex' ? 'hex' : 'base64url';
  return `/${digest.toString(format)}/${Buffer.from(url).toString(format)}`;
}

export function camoQueryPath(key: string, url: string): string {
  return `/${createHmac('sha1', key).update(url).digest('hex')}?url=${encodeURIComponent(url)}`;
}

