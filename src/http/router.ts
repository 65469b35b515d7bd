/** What a request path asks for. Tokens are extracted here and nowhere else. */
export type Route =
  | { readonly kind: 'index' }
  | { readonly kind: 'health' }
  | { readonly kind: 'jwks' }
  | { readonly kind: 'redirect'; readonly token: string }
  | { readonly kind: 'proxy'; readonly digest: string; readonly token: string | undefined }
  | { readonly kind: 'none' };

// {any-prefix} is one segment and deliberately not compared with ECAMO_PREFIX.
const REDIRECT = /^\/[^/]+\/v1\/r\/([^/]+)$/;
const PROXY = /^\/[^/]+\/v1\/p\/([^/]+)$/;

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
  return { kind: 'none' };
}
