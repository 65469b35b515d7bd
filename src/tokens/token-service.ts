import type { KeySet } from '../config/keys.js';
import type { Config } from '../config/load.js';
import type { Metrics, TokenKind } from '../metrics.js';
import { verifyAuthCookie } from './auth-cookie.js';
import { signIdToken } from './id-token.js';
import { signProxyToken, verifyProxyToken, type ProxyTokenClaims, type VerifiedProxyToken } from './proxy-token.js';
import { verifyUrlToken, type UrlTokenClaims } from './url-token.js';
import { ExpiringCache } from './verified-cache.js';

/** How long a verified token without `exp` is trusted from the cache before it is verified again. */
const UNBOUNDED_TOKEN_CACHE_MS = 10 * 60_000;
/**
 * Entries per cache. An entry is the token string and its claims (the source
 * URL among them): about 1.3 KB on the heap for a 0.5 KB token, so a full
 * cache holds about 13 MB and the four about 50 MB. Only verified tokens get
 * in, and a token fits in the 32 KiB request head, so only a service signing
 * huge URLs could make entries much larger. Smaller than a busy minute of
 * distinct proxy tokens on purpose: the caches keep the hot set (one page's
 * images, one user's cookie), they never replace verification in general.
 */
const CACHE_ENTRIES = 10_000;

/** Counts a verification that reached the signature, by outcome. */
async function counted<T>(metrics: Metrics, kind: TokenKind, verifying: Promise<T>): Promise<T> {
  try {
    const result = await verifying;
    metrics.tokenVerified(kind, 'valid');
    return result;
  } catch (error) {
    metrics.tokenVerified(kind, 'invalid');
    throw error;
  }
}

/**
 * All token work of the request path, over keys imported ahead of time (at
 * start, and again when key files are reloaded: see `replaceKeys`). Verified
 * tokens are remembered until their `exp` (a wiki page is viewed by many
 * users with the same URL tokens; one user loads many images with the same
 * cookie), and a proxy token is reused for a third of its lifetime so that
 * browsers and CDNs see a stable image URL for a while.
 */
export class TokenService {
  readonly #config: Config;
  readonly #metrics: Metrics;
  #keys: KeySet;
  #jwksBody: string;
  readonly #urlTokens = new ExpiringCache<UrlTokenClaims>(CACHE_ENTRIES);
  readonly #authCookies = new ExpiringCache<true>(CACHE_ENTRIES);
  readonly #proxyTokens = new ExpiringCache<VerifiedProxyToken>(CACHE_ENTRIES);
  readonly #issuedProxyTokens = new ExpiringCache<string>(CACHE_ENTRIES);

  constructor(config: Config, metrics: Metrics) {
    this.#config = config;
    this.#metrics = metrics;
    this.#keys = { serviceKeys: config.serviceKeys, ecamoKeys: config.ecamoKeys };
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
   * (a removed key, another signing kid).
   */
  replaceKeys(keys: KeySet): void {
    this.#keys = keys;
    this.#jwksBody = jwksBodyOf(keys);
    this.#urlTokens.clear();
    this.#authCookies.clear();
    this.#proxyTokens.clear();
    this.#issuedProxyTokens.clear();
  }

  async verifyUrlToken(token: string, serviceOrigin: string): Promise<UrlTokenClaims> {
    const key = `${serviceOrigin} ${token}`;
    const cached = this.#urlTokens.get(key);
    this.#metrics.cacheLookup('url', cached !== undefined);
    if (cached !== undefined) return cached;
    const claims = await counted(this.#metrics, 'url', verifyUrlToken(token, serviceOrigin, this.#keys.serviceKeys));
    this.#urlTokens.set(key, claims, claims.exp === undefined ? Date.now() + UNBOUNDED_TOKEN_CACHE_MS : claims.exp * 1000);
    return claims;
  }

  async verifyAuthCookie(token: string, serviceOrigin: string, canonicalOrigin: string): Promise<void> {
    const key = `${serviceOrigin} ${canonicalOrigin} ${token}`;
    const hit = this.#authCookies.get(key) !== undefined;
    this.#metrics.cacheLookup('cookie', hit);
    if (hit) return;
    const exp = await counted(this.#metrics, 'cookie', verifyAuthCookie(token, serviceOrigin, canonicalOrigin, this.#keys.serviceKeys));
    this.#authCookies.set(key, true, exp * 1000);
  }

  async issueProxyToken(claims: ProxyTokenClaims): Promise<string> {
    const key = `${claims.sendToken ? 1 : 0} ${claims.serviceOrigin} ${claims.url}`;
    const cached = this.#issuedProxyTokens.get(key);
    this.#metrics.cacheLookup('issued-proxy', cached !== undefined);
    if (cached !== undefined) return cached;
    const lifetime = this.#config.tokenLifetimeSeconds;
    const token = await signProxyToken(claims, this.#keys.ecamoKeys.signing, lifetime);
    this.#issuedProxyTokens.set(key, token, Date.now() + (lifetime * 1000) / 3);
    return token;
  }

  async verifyProxyToken(token: string): Promise<VerifiedProxyToken> {
    const cached = this.#proxyTokens.get(token);
    this.#metrics.cacheLookup('proxy', cached !== undefined);
    if (cached !== undefined) return cached;
    const claims = await counted(this.#metrics, 'proxy', verifyProxyToken(token, this.#keys.ecamoKeys));
    this.#proxyTokens.set(token, claims, claims.exp * 1000);
    return claims;
  }

  signIdToken(claims: { canonicalOrigin: string; sourceOrigin: string; serviceOrigin: string }): Promise<string> {
    return signIdToken(claims, this.#keys.ecamoKeys.signing, this.#config.tokenLifetimeSeconds);
  }
}

function jwksBodyOf(keys: KeySet): string {
  return JSON.stringify({ keys: keys.ecamoKeys.publicJwks });
}
