import { ENDPOINT_PATHS } from '@ecamo/protocol';
import { camoUrlParts, type CamoEncodedUrl } from '../tokens/camo-url.js';

/** What a request path asks for. Tokens are extracted here and nowhere else (camo URLs' parts by tokens/camo-url.ts, which `ecamo inspect` shares). */
export type Route =
  | { readonly kind: 'index' }
  | { readonly kind: 'health' }
  | { readonly kind: 'jwks' }
  | { readonly kind: 'redirect'; readonly token: string }
  | { readonly kind: 'proxy'; readonly digest: string; readonly token: string | undefined }
  | { readonly kind: 'camo'; readonly digest: string; readonly url: CamoEncodedUrl }
  | { readonly kind: 'none' };

/**
 * The last segment of `/{any-prefix}{endpoint}{segment}` when the path is
 * exactly that, else undefined: what `^/[^/]+${endpoint}([^/]+)$` captures,
 * without the regexp's match array on every request. {any-prefix} is one
 * segment and deliberately not compared with ECAMO_PREFIX.
 */
function endpointSegment(path: string, endpoint: string): string | undefined {
  const prefixEnd = path.indexOf('/', 1);
  if (!path.startsWith('/') || prefixEnd <= 1 || !path.startsWith(endpoint, prefixEnd)) return undefined;
  const start = prefixEnd + endpoint.length;
  return start < path.length && !path.includes('/', start) ? path.slice(start) : undefined;
}

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
    case ENDPOINT_PATHS.jwks:
      return { kind: 'jwks' };
  }
  // The proxy endpoint first: it takes most requests (the two patterns never match the same path).
  const digest = endpointSegment(path, ENDPOINT_PATHS.proxy);
  if (digest !== undefined) {
    return { kind: 'proxy', digest, token: proxyTokenParameter(queryStart === -1 ? '' : rawUrl.slice(queryStart + 1)) };
  }
  const redirectToken = endpointSegment(path, ENDPOINT_PATHS.redirect);
  if (redirectToken !== undefined) return { kind: 'redirect', token: redirectToken };
  const camo = camoUrlParts(path, queryStart === -1 ? undefined : rawUrl.slice(queryStart + 1));
  if (camo !== undefined) return { kind: 'camo', ...camo };
  return { kind: 'none' };
}
