/**
 * The requests each target is driven with. Distinct token strings are what
 * matter: a server that caches verified tokens must not get away with
 * verifying one token once.
 */
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { GeneratedKey } from '../src/config/generate-key.js';
import type { Signer } from '../src/signer/index.js';
import { urlDigest } from '../src/tokens/digest.js';
import { loadEcamoKeys } from '../src/config/keys.js';
import { signProxyToken } from '../src/tokens/proxy-token.js';

/** One request: a path, and the Cookie header to send with it, if any. */
export interface RequestLine {
  readonly path: string;
  readonly cookie?: string;
}

/**
 * Sent with every request to every target, as a browser loading an <img>
 * would. Debian's camo needs Accept-Encoding: without it camo passes
 * `undefined` on as a header value, which current Node rejects, and the
 * process dies.
 */
export const CLIENT_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  Accept: 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8',
  'Accept-Encoding': 'gzip, deflate, br',
});

/** Long enough for any run: ecamo only checks that a proxy token has not expired. */
const TOKEN_LIFETIME_SECONDS = 24 * 3600;

/** `count` source URLs for the same file, made distinct by `?v=N` as a cache-buster would. */
export function sourceUrls(originPort: number, file: string, count: number, query = 'v'): string[] {
  return Array.from({ length: count }, (_, n) => new URL(`http://127.0.0.1:${originPort}/${file}?${query}=${n}`).href);
}

/** ecamo proxy endpoint paths, one freshly signed proxy token per URL, as ecamo's redirect endpoint mints them. */
export async function ecamoProxyPaths(ecamoKey: GeneratedKey, serviceOrigin: string, urls: readonly string[]): Promise<string[]> {
  const keys = await loadEcamoKeys('ECAMO_PRIVATE_KEYS', JSON.stringify({ [ecamoKey.kid]: ecamoKey.privateJwk }), 'ECAMO_SIGNING_KID', ecamoKey.kid);
  return Promise.all(urls.map(async (url) => {
    const token = await signProxyToken({ url, serviceOrigin, sendToken: false }, keys.signing, TOKEN_LIFETIME_SECONDS);
    return `/.ecamo/v1/p/${urlDigest(url)}?t=${token}`;
  }));
}

/** camo's path form: `/<HMAC-SHA1 hex of the URL>/<hex of the URL>`. */
export function camoPaths(camoKey: string, urls: readonly string[]): string[] {
  return urls.map((url) => `/${createHmac('sha1', camoKey).update(url, 'utf8').digest('hex')}/${Buffer.from(url, 'utf8').toString('hex')}`);
}

/** The same paths for nginx, whose first segment names the file to fetch (see nginx.ts). */
export function nginxPaths(ecamoPaths: readonly string[], file: string): string[] {
  return ecamoPaths.map((path) => path.replace(/^\/[^/]+\//, `/${file}/`));
}

/**
 * Page views on the redirect endpoint: `users` people (distinct auth cookies)
 * each loading the same page of `imageUrls.length` images, user after user.
 */
export async function pageViews(signer: Signer, canonicalOrigin: string, imageUrls: readonly string[], users: number): Promise<RequestLine[]> {
  const paths = await Promise.all(imageUrls.map((url) => signer.url(url)));
  const cookies = await Promise.all(Array.from({ length: users }, async (_, user) => {
    const cookie = await signer.authCookie({ canonicalOrigin, ttlSeconds: TOKEN_LIFETIME_SECONDS, insecure: true, subject: `user-${user}` });
    return `${cookie.name}=${cookie.token}`;
  }));
  return cookies.flatMap((cookie) => paths.map((path) => ({ path, cookie })));
}

/** The file format the wrk script reads: `path` or `path<TAB>cookie`, one a line. */
export function writeRequests(file: string, lines: readonly (RequestLine | string)[]): string {
  const text = lines
    .map((line) => (typeof line === 'string' ? line : line.cookie === undefined ? line.path : `${line.path}\t${line.cookie}`))
    .join('\n');
  writeFileSync(file, `${text}\n`);
  return file;
}
