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
  const redirect = REDIRECT.exec(path);
  if (redirect !== null) return { kind: 'redirect', token: redirect[1]! };
  const proxy = PROXY.exec(path);
  if (proxy !== null) {
    const query = queryStart === -1 ? '' : rawUrl.slice(queryStart + 1);
    return { kind: 'proxy', digest: proxy[1]!, token: new URLSearchParams(query).get('t') ?? undefined };
  }
  const camoPath = CAMO_PATH.exec(path);
  if (camoPath !== null) return { kind: 'camo', digest: camoPath[1]!, url: { in: 'path', text: camoPath[2]! } };
  const camoQuery = CAMO_QUERY.exec(path);
  if (camoQuery !== null && queryStart !== -1) {
    const values = new URLSearchParams(rawUrl.slice(queryStart + 1)).getAll('url');
    if (values.length > 0) return { kind: 'camo', digest: camoQuery[1]!, url: { in: 'query', values } };
  }
  return { kind: 'none' };
}
