import type { CamoEncodedUrl } from '../tokens/camo-url.js';

/** What a request path asks for. Tokens are extracted here and nowhere else. */
export type Route =
  | { readonly kind: 'index' }
  | { readonly kind: 'health' }
  | { readonly kind: 'jwks' }
  | { readonly kind: 'redirect'; readonly token: string }
  | { readonly kind: 'proxy'; readonly digest: string; readonly token: string | undefined }
  | { readonly kind: 'camo'; readonly digest: string; readonly url: CamoEncodedUrl }
  | { readonly kind: 'none' };

// {any-prefix} is one segment and deliberately not compared with ECAMO_PREFIX.
const REDIRECT = /^\/[^/]+\/v1\/r\/([^/]+)$/;
const PROXY = /^\/[^/]+\/v1\/p\/([^/]+)$/;
// camo's two forms: /{digest}/{encoded URL}, and /{digest}?url=... (one segment only with a url parameter, so that
// /favicon.ico and the like stay unknown paths rather than malformed camo URLs).
const CAMO_PATH = /^\/([^/]+)\/([^/]+)$/;
const CAMO_QUERY = /^\/([^/]+)$/;

/**
 * The `t` parameter, as URLSearchParams reads it (the first one, decoded).
 * A query of `t=` and nothing to split or decode, which is what ecamo's own
 * redirects produce, is the rest of the query as it stands: URLSearchParams
 * took ~8 µs for it, more than anything else in serving a cached image.
 */
function proxyTokenParameter(query: string): string | undefined {
  if (query.startsWith('t=') && !query.includes('&') && !query.includes('%') && !query.includes('+')) return query.slice(2);
  return new URLSearchParams(query).get('t') ?? undefined;
}

export function route(rawUrl: string): Route {
  const queryStart = rawUrl.indexOf('?');
  const path = queryStart === -1 ? rawUrl : rawUrl.slice(0, queryStart);
  switch (path) {
    case '/':
      return { kind: 'index' };
    case '/healthz':
      return { kind: 'health' };
    case '/.well-known/jwks.json':
      return { kind: 'jwks' };
  }
  const redirectToken = REDIRECT.exec(path)?.[1];
  if (redirectToken !== undefined) return { kind: 'redirect', token: redirectToken };
  const digest = PROXY.exec(path)?.[1];
  if (digest !== undefined) {
    return { kind: 'proxy', digest, token: proxyTokenParameter(queryStart === -1 ? '' : rawUrl.slice(queryStart + 1)) };
  }
  const [, camoDigest, camoUrlText] = CAMO_PATH.exec(path) ?? [];
  if (camoDigest !== undefined && camoUrlText !== undefined) return { kind: 'camo', digest: camoDigest, url: { in: 'path', text: camoUrlText } };
  const camoQueryDigest = CAMO_QUERY.exec(path)?.[1];
  if (camoQueryDigest !== undefined && queryStart !== -1) {
    const values = new URLSearchParams(rawUrl.slice(queryStart + 1)).getAll('url');
    if (values.length > 0) return { kind: 'camo', digest: camoQueryDigest, url: { in: 'query', values } };
  }
  return { kind: 'none' };
}
