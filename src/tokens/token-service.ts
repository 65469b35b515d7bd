import type { KeySet } from '../config/keys.js';
import type { Config } from '../config/load.js';
import type { Metrics, TokenKind } from '../metrics.js';
import { verifyAuthCookie } from './auth-cookie.js';
import { signIdToken } from './id-token.js';
import { verifyToken, type NowOrLater } from './jws.js';
import { Sightings } from './sightings.js';
import { proxyTokenVerification, signProxyToken, type ProxyTokenClaims, type ProxyTokenVerification, type VerifiedProxyToken } from './proxy-token.js';
import { verifyUrlToken, type UrlTokenClaims } from './url-token.js';
import { VerifiedCache, type VerifiedCacheLimits, type VerifiedCacheStats } from './verified-cache.js';

const MIB = 1024 * 1024;
/**
 * Longest any verified token is served from a cache before it is verified
 * again, whatever its `exp` (or its lack of one) says.
 */
const MAX_CACHE_TTL_MS = 10 * 60_000;
/**
 * Largest entry cached. A URL token of a few KB (a source URL of about 3 KB)
 * still fits; longer ones are verified on every request, which costs less
 * than keeping them: this is what bounds the memory an attacker holding many
 * long tokens can make ecamo keep.
 */
const MAX_ENTRY_BYTES = 8 * 1024;
/**
 * Budgets, 22 MiB in all: at ~1 KB an entry, thousands of page images and
 * users. The caches keep the hot set (one page's images, one user's cookie);
 * they never replace verification in general.
 */
const URL_TOKENS: VerifiedCacheLimits = { maxBytes: 8 * MIB, maxEntryBytes: MAX_ENTRY_BYTES, maxTtlMs: MAX_CACHE_TTL_MS };
const AUTH_COOKIES: VerifiedCacheLimits = { maxBytes: 2 * MIB, maxEntryBytes: MAX_ENTRY_BYTES, maxTtlMs: MAX_CACHE_TTL_MS };
const PROXY_TOKENS: VerifiedCacheLimits = { maxBytes: 8 * MIB, maxEntryBytes: MAX_ENTRY_BYTES, maxTtlMs: MAX_CACHE_TTL_MS };
const ISSUED_PROXY_TOKENS: VerifiedCacheLimits = { maxBytes: 4 * MIB, maxEntryBytes: MAX_ENTRY_BYTES, maxTtlMs: MAX_CACHE_TTL_MS };

/**
 * Proxy tokens whose first admission is remembered (64 KiB of fingerprints):
 * more than the proxy-token cache holds at typical sizes (8 MiB at about 600
 * bytes an entry, some 13,000), so a token asked for again before it would
 * have been evicted is mostly remembered at its second request.
 */
const PROXY_TOKEN_SIGHTINGS = 16_384;

/** A number's size in a cache entry. */
const NUMBER_BYTES = 8;
/** What a parsed URL holds besides its serialisation (about 150 bytes on Node 20, measured): a proxy token's claims keep theirs. */
const PARSED_URL_BYTES = 160;

/** A type, not an interface: callers walk its entries. */
export type TokenCacheStats = {
  readonly urlTokens: VerifiedCacheStats;
  readonly authCookies: VerifiedCacheStats;
  readonly proxyTokens: VerifiedCacheStats;
  readonly issuedProxyTokens: VerifiedCacheStats;
};

/** Counts a verification, by outcome, when it has one (at once or later: NowOrLater). */
function counted<T>(metrics: Metrics, kind: TokenKind, verify: () => NowOrLater<T>): NowOrLater<T> {
  let verifying: NowOrLater<T>;
  try {
    verifying = verify();
  } catch (error) {
    metrics.tokenVerified(kind, 'invalid');
    throw error;
  }
  if (!(verifying instanceof Promise)) {
    metrics.tokenVerified(kind, 'valid');
    return verifying;
  }
  return verifying.then(
    (result) => {
      metrics.tokenVerified(kind, 'valid');
      return result;
    },
    (error: unknown) => {
      metrics.tokenVerified(kind, 'invalid');
      throw error;
    },
  );
}

/**
 * All token work of the request path, over keys imported ahead of time (at
 * start, and again when key files are reloaded: see `replaceKeys`). Verified
 * tokens are remembered until their `exp` (a wiki page is viewed by many
 * users with the same URL tokens; one user loads many images with the same
 * cookie), and a proxy token is reused for a third of its lifetime so that
 * browsers and CDNs see a stable image URL for a while.
 *
 * URL and proxy tokens are remembered only when the handler says the request
 * was admitted (`remember...`): a request that ends in a refusal, or in a
 * redirect to the source without a cookie, leaves nothing behind.
 */
export class TokenService {
  readonly #config: Config;
  readonly #metrics: Metrics;
  #keys: KeySet;
  /** The rules of proxy tokens under `#keys`, made when the keys are: the claims it reads say they were read by it. */
  #proxyTokenVerification: ProxyTokenVerification;
  #jwksBody: string;
  readonly #urlTokens = new VerifiedCache<UrlTokenClaims>(URL_TOKENS, (claims) => claims.url.length + NUMBER_BYTES);
  readonly #authCookies = new VerifiedCache<number>(AUTH_COOKIES, () => NUMBER_BYTES);
  readonly #proxyTokens = new VerifiedCache<VerifiedProxyToken>(
    PROXY_TOKENS,
    (claims) => claims.url.length + claims.serviceOrigin.length + NUMBER_BYTES + PARSED_URL_BYTES,
    // Keyed by the token alone, which ends in its MAC or signature: most lookups on a long tail miss.
    { countsKeyEnds: true },
  );
  readonly #proxyTokenSightings = new Sightings(PROXY_TOKEN_SIGHTINGS);
  readonly #issuedProxyTokens = new VerifiedCache<string>(ISSUED_PROXY_TOKENS, (token) => token.length);

  constructor(config: Config, metrics: Metrics) {
    this.#config = config;
    this.#metrics = metrics;
    this.#keys = { serviceKeys: config.serviceKeys, ecamoKeys: config.ecamoKeys };
    this.#proxyTokenVerification = proxyTokenVerification(config.ecamoKeys);
    this.#jwksBody = jwksBodyOf(this.#keys);
  }

  /** The keys every token operation uses from now on. */
  get keys(): KeySet {
    return this.#keys;
  }

  /** `/.well-known/jwks.json`, serialised once per key set. */
  get jwksBody(): string {
    return this.#jwksBody;
  }

  /**
   * Switches to another key set at once: operations already under way finish
   * with the keys they started with. Every cache is emptied, since a token
   * verified (or issued) under the old keys may not hold under the new ones
   * (a removed key, another signing kid), and what those operations verified
   * or signed is not cached afterwards: only results of the current key set
   * enter a cache.
   */
  replaceKeys(keys: KeySet): void {
    this.#keys = keys;
    this.#proxyTokenVerification = proxyTokenVerification(keys.ecamoKeys);
    this.#jwksBody = jwksBodyOf(keys);
    this.#urlTokens.clear();
    this.#authCookies.clear();
    this.#proxyTokens.clear();
    this.#issuedProxyTokens.clear();
  }

  /** Verifies (or finds verified) a URL token; it is cached only by rememberUrlToken. */
  async verifyUrlToken(token: string, serviceOrigin: string): Promise<UrlTokenClaims> {
    const cached = this.#urlTokens.get(urlTokenKey(token, serviceOrigin));
    this.#metrics.cacheLookup('url', cached !== undefined);
    if (cached !== undefined) return cached;
    const keys = this.#keys;
    return this.#verifiedWith(await counted(this.#metrics, 'url', () => verifyUrlToken(token, serviceOrigin, keys.serviceKeys)), keys);
  }

  /** The request this URL token came with was admitted (its cookie verified). */
  rememberUrlToken(token: string, serviceOrigin: string, claims: UrlTokenClaims): void {
    if (verifiedUnder(claims) !== this.#keys) return;
    this.#urlTokens.set(urlTokenKey(token, serviceOrigin), claims, claims.exp === undefined ? undefined : claims.exp * 1000);
  }

  async verifyAuthCookie(token: string, serviceOrigin: string, canonicalOrigin: string): Promise<void> {
    const key = `${serviceOrigin} ${canonicalOrigin} ${token}`;
    const hit = this.#authCookies.get(key) !== undefined;
    this.#metrics.cacheLookup('cookie', hit);
    if (hit) return;
    const keys = this.#keys;
    const exp = await counted(this.#metrics, 'cookie', () => verifyAuthCookie(token, serviceOrigin, canonicalOrigin, keys.serviceKeys));
    if (keys === this.#keys) this.#authCookies.set(key, exp, exp * 1000);
  }

  async issueProxyToken(claims: ProxyTokenClaims): Promise<string> {
    const key = `${claims.sendToken ? 1 : 0} ${claims.serviceOrigin} ${claims.url}`;
    const cached = this.#issuedProxyTokens.get(key);
    this.#metrics.cacheLookup('issued-proxy', cached !== undefined);
    if (cached !== undefined) return cached;
    const lifetime = this.#config.tokenLifetimeSeconds;
    const keys = this.#keys;
    const token = await signProxyToken(claims, keys.ecamoKeys.signing, lifetime, this.#config.proxyTokenAlg);
    if (keys === this.#keys) this.#issuedProxyTokens.set(key, token, Date.now() + (lifetime * 1000) / 3);
    return token;
  }

  /**
   * A proxy token verified and remembered before (rememberProxyToken), or
   * undefined. Synchronous, so that an image answered from the caches is
   * answered in the tick its request arrived.
   */
  rememberedProxyToken(token: string): VerifiedProxyToken | undefined {
    const cached = this.#proxyTokens.get(token);
    this.#metrics.cacheLookup('proxy', cached !== undefined);
    return cached;
  }

  /**
   * Verifies a proxy token (look in rememberedProxyToken first): an HS256
   * one at once, refused with a throw; an ES256 one later (NowOrLater).
   */
  verifyProxyToken(token: string): NowOrLater<VerifiedProxyToken> {
    const verification = this.#proxyTokenVerification;
    return counted(this.#metrics, 'proxy', () => verifyToken(token, verification));
  }

  /** `claims`, noted as verified under `keys` (see `replaceKeys`). */
  #verifiedWith(claims: UrlTokenClaims, keys: KeySet): UrlTokenClaims {
    Object.defineProperty(claims, VERIFIED_UNDER, { value: keys });
    return claims;
  }

  /**
   * The request this proxy token came with was admitted (policy and digest
   * passed). It is remembered from its second admitted request on (Sightings:
   * most tokens of a long tail are asked for once); true when it is now.
   */
  rememberProxyToken(token: string, claims: VerifiedProxyToken): boolean {
    // Read by the rules of the current keys (replaced with them: see `replaceKeys`).
    if (!claims.readBy(this.#proxyTokenVerification) || !this.#proxyTokenSightings.seenBefore(token)) return false;
    this.#proxyTokens.set(token, claims, claims.exp * 1000);
    return true;
  }

  signIdToken(claims: { canonicalOrigin: string; sourceOrigin: string; serviceOrigin: string }): Promise<string> {
    return signIdToken(claims, this.#keys.ecamoKeys.signing, this.#config.tokenLifetimeSeconds);
  }

  cacheStats(): TokenCacheStats {
    return {
      urlTokens: this.#urlTokens.stats(),
      authCookies: this.#authCookies.stats(),
      proxyTokens: this.#proxyTokens.stats(),
      issuedProxyTokens: this.#issuedProxyTokens.stats(),
    };
  }
}

/**
 * The key set a URL token's fresh claims were verified under (see `replaceKeys`), kept on the claims
 * object as a property that is neither enumerated nor compared (a claims object is the verifier's
 * own, made per verification): a `WeakMap` entry per verified token, with a short-lived key, cost
 * about ten times as much CPU, most of it in garbage collection (docs/performance.md). (Proxy
 * tokens' claims say which verification read them: `VerifiedProxyToken.readBy`.)
 */
const VERIFIED_UNDER = Symbol('verified under');

function verifiedUnder(claims: object): KeySet | undefined {
  return (claims as { readonly [VERIFIED_UNDER]?: KeySet })[VERIFIED_UNDER];
}

/** Keyed by the exact token string, and by the origin it was verified for. */
function urlTokenKey(token: string, serviceOrigin: string): string {
  return `${serviceOrigin} ${token}`;
}

function jwksBodyOf(keys: KeySet): string {
  return JSON.stringify({ keys: keys.ecamoKeys.publicJwks });
}
