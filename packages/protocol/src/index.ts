/**
 * `@ecamo/protocol`: the names and limits of the Ecamo protocol
 * (docs/protocol.md) that more than one party spells: the service origin's
 * signer (`@ecamo/signer`), the source's verifier (`@ecamo/verify`) and the
 * ecamo server. One place, so that the two ends of a token cannot drift
 * apart. No dependencies, no runtime beyond ECMAScript.
 */

/** The claims of a URL token (docs/protocol.md §4.2), signed by the service origin. */
export const URL_TOKEN_CLAIMS = Object.freeze({
  /** The source URL. */
  url: 'ecamo:url',
  /** Optional boolean: present an ID token to the source. */
  sendToken: 'ecamo:send-token',
} as const);

/** The claims of the ID token ecamo presents to a source (docs/protocol.md §4.5). */
export const ID_TOKEN_CLAIMS = Object.freeze({
  /** The service origin whose page shows the image. */
  serviceOrigin: 'ecamo:svc',
} as const);

/** The `sub` of every ID token: it says nothing about the viewer. */
export const ID_TOKEN_SUBJECT = 'anonymous';

/**
 * Longest lifetime of a token a service signs (URL token, auth cookie). A URL
 * token that should last has no `exp` at all; an `exp` further ahead than
 * this is not a date anyone means (`1e300`), and ecamo refuses it.
 */
export const MAX_SERVICE_TOKEN_LIFETIME_SECONDS = 10 * 365 * 24 * 3600;

/** The authorisation cookie's default names (docs/protocol.md §4.3): over HTTPS, and in insecure (plain-HTTP) mode. */
export const AUTH_COOKIE_NAMES = Object.freeze({
  secure: '__Host-ecamo_token',
  insecure: 'ecamo_token',
} as const);

/**
 * The paths of ecamo's endpoints (docs/protocol.md §2.1) that a signer or a
 * source builds and the server routes. The redirect and proxy paths follow
 * one segment, the prefix: `/{prefix}/v1/r/{URL token}`,
 * `/{prefix}/v1/p/{digest}?t={proxy token}`; they are letters, digits and
 * slashes only, so that a pattern may embed them as they are.
 */
export const ENDPOINT_PATHS = Object.freeze({
  /** ecamo's public keys, on the canonical origin: what a source checks an ID token with. */
  jwks: '/.well-known/jwks.json',
  /** The redirect endpoint on a service origin, after the prefix. */
  redirect: '/v1/r/',
  /** The proxy endpoint on the canonical origin, after the prefix. */
  proxy: '/v1/p/',
} as const);

/** The path segment a service origin routes to ecamo, unless configured otherwise. */
export const DEFAULT_PREFIX = '.ecamo';

/** What a prefix may be: one path segment of unreserved characters (RFC 3986), so that it needs no escaping. */
export const PREFIX_PATTERN = /^[A-Za-z0-9._~-]+$/;

/** What a cookie name may be: an RFC 6265 token. */
export const COOKIE_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
