/**
 * `@ecamo/signer` (also `ecamo/signer`): what a service origin needs to embed
 * images through ecamo. Depends on `jose`, `@ecamo/protocol` and Web standards
 * only (WebCrypto, TextEncoder), so it runs in Node and in Web-standard runtimes.
 */
import {
  AUTH_COOKIE_NAMES,
  COOKIE_NAME_PATTERN,
  DEFAULT_PREFIX,
  ENDPOINT_PATHS,
  MAX_SERVICE_TOKEN_LIFETIME_SECONDS,
  PREFIX_PATTERN,
  URL_TOKEN_CLAIMS,
} from '@ecamo/protocol';
import { base64url, importJWK, SignJWT, type JWK } from 'jose';

export interface SignerOptions {
  /** The service origin, exactly as ecamo sees it, e.g. `https://wiki.corp.example`. */
  readonly origin: string;
  /** The key id; ecamo knows the public half as `"<origin> <kid>"`. */
  readonly kid: string;
  /** The private P-256 JWK (with `d`). */
  readonly privateJwk: JWK;
}

export interface UrlOptions {
  /** Ask ecamo to present its anonymous ID token to the source. */
  readonly sendToken?: boolean | undefined;
  /** The path segment the service routes to ecamo; default `.ecamo`. */
  readonly prefix?: string | undefined;
  /** Seconds until the URL token expires; default: never (cache-friendly, see docs/signing-and-verifying.md). */
  readonly ttlSeconds?: number | undefined;
}

export interface AuthCookieOptions {
  /** ecamo's canonical origin, e.g. `https://ecamo.corp.example`: the token's audience. */
  readonly canonicalOrigin: string;
  /** Lifetime of both the token and the cookie. Keep it short (minutes) and renew it with the page. */
  readonly ttlSeconds: number;
  /** Optional `sub`, e.g. a user id hash; ecamo does not read it. */
  readonly subject?: string | undefined;
  /** Cookie name; default `__Host-ecamo_token` (or `ecamo_token` when `insecure`). */
  readonly cookieName?: string | undefined;
  /** Plain-HTTP development: no `Secure`, default name `ecamo_token`, as ecamo's ECAMO_INSECURE. */
  readonly insecure?: boolean | undefined;
}

export interface AuthCookie {
  readonly name: string;
  readonly token: string;
  /** A complete `Set-Cookie` header value. */
  readonly setCookie: string;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
}

export interface Signer {
  /** `/{prefix}/v1/r/{URL_TOKEN}`, to put in `<img src>` on the service origin. */
  url(sourceUrl: string | URL, options?: UrlOptions): Promise<string>;
  /** The authorisation cookie, to set on the service origin's responses. */
  authCookie(options: AuthCookieOptions): Promise<AuthCookie>;
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** ecamo refuses tokens whose exp is further ahead; a URL token meant to last has no ttl. */
function positiveSeconds(ttl: number): number {
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > MAX_SERVICE_TOKEN_LIFETIME_SECONDS) {
    throw new TypeError(`ttlSeconds must be a positive whole number, at most ${MAX_SERVICE_TOKEN_LIFETIME_SECONDS} (10 years)`);
  }
  return ttl;
}

export async function createSigner(options: SignerOptions): Promise<Signer> {
  const origin = new URL(options.origin).origin;
  if (origin !== options.origin) throw new TypeError(`origin must be a bare origin such as ${origin}`);
  if (typeof options.kid !== 'string' || options.kid === '' || options.kid.includes(' ')) throw new TypeError('kid must be a non-empty string without spaces');
  const jwk = options.privateJwk;
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string' || typeof jwk.d !== 'string') throw new TypeError('privateJwk must be a private EC P-256 JWK');
  const key = await importJWK({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d }, 'ES256');
  const header = { alg: 'ES256', kid: options.kid } as const;

  return {
    async url(sourceUrl, urlOptions = {}) {
      const source = new URL(sourceUrl);
      if (source.protocol !== 'http:' && source.protocol !== 'https:') throw new TypeError('source URL must be http or https');
      // ecamo refuses these (400 url): say so here, where the mistake is made.
      if (source.username !== '' || source.password !== '') throw new TypeError('source URL must not carry credentials');
      const prefix = urlOptions.prefix ?? DEFAULT_PREFIX;
      if (!PREFIX_PATTERN.test(prefix)) throw new TypeError('prefix must be one path segment');
      const claims: Record<string, unknown> = { [URL_TOKEN_CLAIMS.url]: source.href };
      if (urlOptions.sendToken === true) claims[URL_TOKEN_CLAIMS.sendToken] = true;
      const jwt = new SignJWT(claims).setProtectedHeader(header).setIssuer(origin);
      if (urlOptions.ttlSeconds !== undefined) jwt.setExpirationTime(now() + positiveSeconds(urlOptions.ttlSeconds));
      return `/${prefix}${ENDPOINT_PATHS.redirect}${await jwt.sign(key)}`;
    },

    async authCookie(cookieOptions) {
      const canonicalOrigin = new URL(cookieOptions.canonicalOrigin).origin;
      if (!/^https?:/.test(canonicalOrigin)) throw new TypeError('canonicalOrigin must be an http(s) origin');
      const ttl = positiveSeconds(cookieOptions.ttlSeconds);
      const insecure = cookieOptions.insecure === true;
      const name = cookieOptions.cookieName ?? (insecure ? AUTH_COOKIE_NAMES.insecure : AUTH_COOKIE_NAMES.secure);
      if (!COOKIE_NAME_PATTERN.test(name)) throw new TypeError(`invalid cookie name ${name}`);
      if (insecure && (name.startsWith('__Host-') || name.startsWith('__Secure-'))) {
        throw new TypeError(`${name} needs Secure, which insecure mode leaves out`);
      }
      const issuedAt = now();
      const expiresAt = issuedAt + ttl;
      const jwt = new SignJWT({})
        .setProtectedHeader(header)
        .setIssuer(origin)
        .setAudience(canonicalOrigin)
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt);
      if (cookieOptions.subject !== undefined) jwt.setSubject(cookieOptions.subject);
      const token = await jwt.sign(key);
      // __Host- rules: Secure, Path=/, no Domain. HttpOnly: scripts never need it.
      // SameSite=Lax: images on the service's own pages are same-site requests.
      const attributes = [`Path=/`, `Max-Age=${ttl}`, 'HttpOnly', 'SameSite=Lax'];
      if (!insecure) attributes.push('Secure');
      return { name, token, expiresAt, setCookie: `${name}=${token}; ${attributes.join('; ')}` };
    },
  };
}

const CAMO_ENCODINGS: readonly string[] = ['hex', 'base64'];

export interface CamoUrlOptions {
  /** `hex` (atmos/camo and go-camo, the default) or `base64`: go-camo's unpadded base64url. */
  readonly encoding?: 'hex' | 'base64' | undefined;
}

const utf8 = new TextEncoder();

function hex(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += byte.toString(16).padStart(2, '0');
  return text;
}

/**
 * A camo-format path, `/{HMAC-SHA1 digest}/{encoded URL}`, that ecamo serves
 * when `key` is one of its `ECAMO_CAMO_KEY`s (and that camo or go-camo serve
 * with the same key). Signs the URL's WHATWG serialisation, the form ecamo
 * fetches, and refuses what ecamo would refuse.
 */
export async function camoUrl(key: string, sourceUrl: string | URL, options: CamoUrlOptions = {}): Promise<string> {
  if (typeof key !== 'string' || key === '') throw new TypeError('key must be a non-empty string');
  const encoding = options.encoding ?? 'hex';
  // Also for JavaScript callers, whom the type does not bind.
  if (!CAMO_ENCODINGS.includes(encoding)) throw new TypeError('encoding must be hex or base64');
  const source = new URL(sourceUrl);
  if (source.protocol !== 'http:' && source.protocol !== 'https:') throw new TypeError('source URL must be http or https');
  if (source.username !== '' || source.password !== '') throw new TypeError('source URL must not carry credentials');
  const urlBytes = utf8.encode(source.href);
  const hmacKey = await crypto.subtle.importKey('raw', utf8.encode(key), { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
  const digest = new Uint8Array(await crypto.subtle.sign('HMAC', hmacKey, urlBytes));
  return encoding === 'hex' ? `/${hex(digest)}/${hex(urlBytes)}` : `/${base64url.encode(digest)}/${base64url.encode(urlBytes)}`;
}
