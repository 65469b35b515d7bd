/**
 * The requests each target is driven with. Distinct token strings are what
 * matter: a server that caches verified tokens must not get away with
 * verifying one token once.
 */
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { Signer } from '../src/signer/index.js';

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

/** Long enough for any run. */
const TOKEN_LIFETIME_SECONDS = 24 * 3600;

/** `count` source URLs for the same file, made distinct by `?v=N` as a cache-buster would. */
export function sourceUrls(originPort: number, file: string, count: number, query = 'v'): string[] {
  return Array.from({ length: count }, (_, n) => new URL(`http://127.0.0.1:${originPort}/${file}?${query}=${n}`).href);
}

/** How many redirect requests minting runs at once. */
const MINTING_CONCURRENCY = 16;

/**
 * ecamo proxy endpoint paths, one a URL, minted by ecamo's own redirect
 * endpoint: the service's URL token with a user's auth cookie in, the 302's
 * Location out. Whatever form ecamo mints (signature or MAC), the benchmark
 * measures that form.
 */
export async function mintedProxyPaths(signer: Signer, ecamoOrigin: string, cookie: string, urls: readonly string[]): Promise<string[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: MINTING_CONCURRENCY });
  const paths: string[] = new Array<string>(urls.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < urls.length) {
      const index = next++;
      const location = await redirectLocation(agent, `${ecamoOrigin}${await signer.url(urls[index]!)}`, cookie);
      if (!location.startsWith(`${ecamoOrigin}/`)) throw new Error(`ecamo's redirect endpoint answered ${location} for ${urls[index]!}`);
      paths[index] = location.slice(ecamoOrigin.length);
    }
  };
  try {
    await Promise.all(Array.from({ length: MINTING_CONCURRENCY }, worker));
  } finally {
    agent.destroy();
  }
  return paths;
}

function redirectLocation(agent: http.Agent, url: string, cookie: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { ...CLIENT_HEADERS, cookie } }, (res) => {
      res.resume();
      const location = res.headers.location;
      if (res.statusCode === 302 && location !== undefined) resolve(location);
      else reject(new Error(`GET ${url}: ${res.statusCode ?? 'no status'} without the redirect to a proxy URL`));
    });
    req.once('error', reject);
  });
}

/** An auth cookie (`name=value`) of one user for ecamo's redirect endpoint. */
export async function userCookie(signer: Signer, canonicalOrigin: string, user: number): Promise<string> {
  const cookie = await signer.authCookie({ canonicalOrigin, ttlSeconds: TOKEN_LIFETIME_SECONDS, insecure: true, subject: `user-${user}` });
  return `${cookie.name}=${cookie.token}`;
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
  const cookies = await Promise.all(Array.from({ length: users }, (_, user) => userCookie(signer, canonicalOrigin, user)));
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
