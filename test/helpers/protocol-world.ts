/**
 * What the protocol tests share (test/http/protocol-*.test.ts): a source whose
 * behaviour is chosen by path, tokens made exactly as a test needs them, and
 * assertions for ecamo's answers. Each test file starts its own ecamo and
 * source with startProtocolWorld().
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { importJWK, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import {
  CANONICAL_HOST,
  CANONICAL_ORIGIN,
  SERVICE_ORIGIN,
  startEcamo,
  startSource,
  type Answer,
  type Ecamo,
  type GetOptions,
  type Source,
} from './harness.js';
import { IMAGES, paddedPng, PNG } from './images.js';

export const NO_CACHE = 'no-cache, no-store, max-age=0, must-revalidate';
/** The service and canonical origins under the other scheme than the one requests arrive on (insecure mode follows the request). */
export const OTHER_SCHEME_SERVICE_ORIGIN = SERVICE_ORIGIN.replace(/^https?:/, (scheme) => (scheme === 'https:' ? 'http:' : 'https:'));
export const OTHER_SCHEME_CANONICAL_ORIGIN = CANONICAL_ORIGIN.replace(/^https?:/, (scheme) => (scheme === 'https:' ? 'http:' : 'https:'));
export { PNG };
/** What the source's /type route sends: the real images, and a PDF for lists that allow one. */
export const BODIES: Readonly<Record<string, Buffer>> = { ...IMAGES, 'application/pdf': Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n') };
export const CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox";
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The same base64url text with a bit set that a canonical encoder leaves clear (length must not be a multiple of 4). */
export function withTrailingBits(canonical: string): string {
  return `${canonical.slice(0, -1)}${BASE64URL.charAt(BASE64URL.indexOf(canonical.at(-1)!) ^ 1)}`;
}

/** Headers a 200 from the proxy endpoint may carry: the list of docs/protocol.md §9 plus what Node's HTTP layer adds. */
export const PROXY_200_HEADERS = new Set([
  'content-type',
  'content-length',
  'etag',
  'expires',
  'last-modified',
  'vary',
  'cache-control',
  'surrogate-control',
  'x-ecamo-cache',
  'age',
  'x-ecamo-action',
  'x-ecamo-source',
  'x-frame-options',
  'x-content-type-options',
  'content-security-policy',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
]);

/** What the source sends besides the image headers; none of it may reach the client. */
export const SOURCE_EXTRAS = {
  'set-cookie': 'source-session=secret; Path=/',
  'x-source-secret': 'yes',
  'access-control-allow-origin': '*',
  'content-disposition': 'attachment; filename="x.html"',
  link: '<http://evil.test/>; rel=preload',
  'strict-transport-security': 'max-age=1',
};

/** The shared source of this test file (each file runs in a process of its own). */
let source: Source;
let counter = 0;

/** The source: behaviour chosen by path; a `n=` query only makes URLs unique. */
function sourceHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://source.invalid');
  const [, kind, arg] = url.pathname.split('/');
  switch (kind) {
    case 'img.png':
      res.writeHead(200, {
        'content-type': 'image/png',
        'content-length': Buffer.byteLength(PNG),
        etag: '"v1"',
        expires: 'Wed, 21 Oct 2037 07:28:00 GMT',
        'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT',
        vary: 'Accept',
        'cache-control': 'public, max-age=60',
        ...SOURCE_EXTRAS,
      });
      res.end(PNG);
      return;
    case 'bare.png':
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(PNG);
      return;
    case 'type': {
      // ?t=<content-type>; no t: no Content-Type at all. ?b=<type>: the real image of that type (default PNG).
      const type = url.searchParams.get('t');
      res.writeHead(200, type === null ? {} : { 'content-type': type });
      res.end(BODIES[url.searchParams.get('b') ?? 'image/png']);
      return;
    }
    case 'status': {
      const status = Number(arg);
      res.writeHead(status, {
        'content-type': 'text/html',
        etag: '"err"',
        expires: 'Wed, 21 Oct 2037 07:28:00 GMT',
        'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT',
        vary: 'Accept',
        'cache-control': 'max-age=5',
        ...(status >= 300 && status < 400 ? { location: '/img.png' } : {}),
        ...SOURCE_EXTRAS,
      });
      res.end(status === 204 || status === 304 ? undefined : '<h1>SOURCE ERROR BODY</h1>');
      return;
    }
    case 'status-bare':
      res.writeHead(Number(arg));
      res.end('SOURCE ERROR BODY');
      return;
    case 'hop': {
      // /hop/N redirects N times, then serves the image.
      const left = Number(arg);
      if (left > 0) {
        res.writeHead(302, { location: `/hop/${left - 1}${url.search}` });
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end(PNG);
      }
      return;
    }
    case 'to':
      // Redirects to ?u=<absolute URL>.
      res.writeHead(302, { location: url.searchParams.get('u')! });
      res.end();
      return;
    case 'length':
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': Number(arg) });
      res.end(paddedPng(Number(arg)));
      return;
    case 'chunked': {
      // Two chunks without Content-Length: the first 60 bytes of a PNG, then `arg` bytes of 'b'.
      res.writeHead(200, { 'content-type': 'image/png' });
      res.write(paddedPng(60));
      setTimeout(() => res.end(Buffer.alloc(Number(arg), 'b')), 20);
      return;
    }
    case 'hang':
      return; // never answers; closed by source.close()
    default:
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('no such source path');
  }
}

/** A number no other URL of this process carries, so that its requests can be told apart. */
export function uniqueNumber(): number {
  return ++counter;
}

/** A source URL on the shared source, unique so that its requests can be told apart. */
export function src(path: string): string {
  return `${source.origin}${path}${path.includes('?') ? '&' : '?'}n=${uniqueNumber()}`;
}

/** The requests that reached the shared source for a URL made by `src`. */
export function requestsFor(url: string): http.IncomingMessage[] {
  const { pathname, search } = new URL(url);
  return source.requests.filter((req) => req.url === pathname + search);
}

export async function serviceKeyOf(target: Ecamo): Promise<CryptoKey> {
  return (await importJWK(target.serviceKey.privateJwk, 'ES256')) as CryptoKey;
}

/** A URL token with exactly the given claims and header (the signer would normalise the URL). */
export async function urlToken(
  target: Ecamo,
  claims: JWTPayload,
  options: { kid?: string; key?: CryptoKey } = {},
): Promise<string> {
  return new SignJWT({ iss: SERVICE_ORIGIN, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? target.serviceKey.kid })
    .sign(options.key ?? (await serviceKeyOf(target)));
}

/** An auth cookie token: valid claims for 10 minutes, overridden by `claims` (a claim given as undefined is left out). */
export async function cookieToken(target: Ecamo, claims: Record<string, unknown>, options: { kid?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: SERVICE_ORIGIN, aud: CANONICAL_ORIGIN, iat: now, exp: now + 600, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? target.serviceKey.kid })
    .sign(await serviceKeyOf(target));
}

/** The redirect endpoint for a source URL, with the valid cookie unless `cookie` says otherwise. */
export async function redirect(
  target: Ecamo,
  sourceUrl: string,
  options: { sendToken?: boolean; cookie?: string | null; headers?: Record<string, string>; host?: string } = {},
): Promise<Answer> {
  const path = await target.signer.url(sourceUrl, { sendToken: options.sendToken ?? false });
  const headers: Record<string, string> = { ...options.headers };
  const cookie = options.cookie === undefined ? target.cookie : options.cookie;
  if (cookie !== null) headers.cookie = cookie;
  return target.get(path, { headers, ...(options.host === undefined ? {} : { host: options.host }) });
}

/** Follows a Location to the canonical origin (it names ecamo.test; the request goes to our port). */
export function followCanonical(target: Ecamo, location: string, options: GetOptions = {}): Promise<Answer> {
  const url = new URL(location);
  assert.equal(url.host, CANONICAL_HOST);
  return target.get(url.pathname + url.search, { host: CANONICAL_HOST, ...options });
}

/** The proxy endpoint for a source URL, with a token minted as ecamo does. */
export async function proxy(target: Ecamo, sourceUrl: string, options: GetOptions & { sendToken?: boolean } = {}): Promise<Answer> {
  const path = await target.proxyPath(sourceUrl, { sendToken: options.sendToken ?? false });
  return target.get(path, { host: CANONICAL_HOST, ...options });
}

export function assertEcamoError(answer: Answer, status: number, code: string): void {
  assert.equal(answer.status, status, `status for ${code}: ${answer.body}`);
  assert.equal(answer.header('x-ecamo-error'), code);
  assert.equal(answer.body, `Error: ${code}`);
  assert.equal(answer.header('cache-control'), 'no-store');
  assert.equal(answer.header('www-authenticate'), status === 401 ? 'Bearer error="invalid_token"' : undefined, 'a 401 names its scheme (RFC 9110)');
}

export function assertNoCache302(answer: Answer): void {
  assert.equal(answer.status, 302);
  assert.equal(answer.header('cache-control'), NO_CACHE);
}

export function assertRedirectToSource(answer: Answer, sourceUrl: string, reason: string): void {
  assertNoCache302(answer);
  assert.equal(answer.header('location'), sourceUrl);
  assert.equal(answer.header('x-ecamo-action'), 'redirect-to-source');
  assert.equal(answer.header('x-ecamo-reason'), reason);
  assert.equal(answer.header('x-ecamo-source'), sourceUrl);
}

export interface ProtocolWorld {
  readonly source: Source;
  readonly ecamo: Ecamo;
}

let world: Promise<ProtocolWorld> | undefined;
let users = 0;

/**
 * The shared source (its handler above) and an ecamo in insecure mode. One
 * pair per process, however many files ask (protocol-h2.system.test.ts runs them
 * all in one); stopProtocolWorld() closes it once the last file is done.
 */
export function startProtocolWorld(): Promise<ProtocolWorld> {
  users++;
  world ??= (async () => {
    source = await startSource(sourceHandler);
    return { source, ecamo: await startEcamo() };
  })();
  return world;
}

export async function stopProtocolWorld(): Promise<void> {
  if (--users > 0 || world === undefined) return;
  const { source: started, ecamo } = await world;
  world = undefined;
  await ecamo.close();
  await started.close();
}
