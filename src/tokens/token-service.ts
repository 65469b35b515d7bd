import type { Config } from '../config/load.js';
import { verifyAuthCookie } from './auth-cookie.js';
import { signIdToken } from './id-token.js';
import { signProxyToken, verifyProxyToken, type ProxyTokenClaims, type VerifiedProxyToken } from './proxy-token.js';
import { verifyUrlToken, type UrlTokenClaims } from './url-token.js';
import { ExpiringCache } from './verified-cache.js';

/** How long a verified token without `exp` is trusted from the cache before it is verified again. */
const UNBOUNDED_TOKEN_CACHE_MS = 10 * 60_000;
/**
 * Entries per cache. An entry is a token string (~0.5 KB) and its claims, so
 * 10,000 bound each cache to a few MB. Smaller than a busy minute of distinct
 * proxy tokens on purpose: the caches keep the hot set (one page's images,
 * one user's cookie), they never replace verification in general.
 */
const CACHE_ENTRIES = 10_000;

/**
 * All token work of the request path, over keys imported at start. Verified
 * tokens are remembered until their `exp` (a wiki page is viewed by many
 * users with the same URL tokens; one user loads many images with the same
 * cookie), and a proxy token is reused for a third of its lifetime so that
 * browsers and CDNs see a stable image URL for a while.
 */
export class TokenService {
  readonly #config: Config;
  readonly #urlTokens = new ExpiringCache<UrlTokenClaims>(CACHE_ENTRIES);
  readonly #authCookies = new ExpiringCache<true>(CACHE_ENTRIES);
  readonly #proxyTokens = new ExpiringCache<VerifiedProxyToken>(CACHE_ENTRIES);
  readonly #issuedProxyTokens = new ExpiringCache<string>(CACHE_ENTRIES);

  constructor(config: Config) {
    this.#config = config;
  }

  async verifyUrlToken(token: string, serviceOrigin: string): Promise<UrlTokenClaims> {
    const key = `${serviceOrigin} ${token}`;
    const cached = this.#urlTokens.get(key);
    if (cached !== undefined) return cached;
    const claims = await verifyUrlToken(token, serviceOrigin, this.#config.serviceKeys);
    this.#urlTokens.set(key, claims, claims.exp === undefined ? Date.now() + UNBOUNDED_TOKEN_CACHE_MS : claims.exp * 1000);
    return claims;
  }

  async verifyAuthCookie(token: string, serviceOrigin: string, canonicalOrigin: string): Promise<void> {
    const key = `${serviceOrigin} ${canonicalOrigin} ${token}`;
    if (this.#authCookies.get(key) !== undefined) return;
    const exp = await verifyAuthCookie(token, serviceOrigin, canonicalOrigin, this.#config.serviceKeys);
    this.#authCookies.set(key, true, exp * 1000);
  }

  async issueProxyToken(claims: ProxyTokenClaims): Promise<string> {
    const key = `${claims.sendToken ? 1 : 0} ${claims.serviceOrigin} ${claims.url}`;
    const cached = this.#issuedProxyTokens.get(key);
    if (cached !== undefined) return cached;
    const lifetime = this.#config.tokenLifetimeSeconds;
    const token = await signProxyToken(claims, this.#config.ecamoKeys.signing, lifetime);
    this.#issuedProxyTokens.set(key, token, Date.now() + (lifetime * 1000) / 3);
    return token;
  }

  async verifyProxyToken(token: string): Promise<VerifiedProxyToken> {
    const cached = this.#proxyTokens.get(token);
    if (cached !== undefined) return cached;
    const claims = await verifyProxyToken(token, this.#config.ecamoKeys);
    this.#proxyTokens.set(token, claims, claims.exp * 1000);
    return claims;
  }

  signIdToken(claims: { canonicalOrigin: string; sourceOrigin: string; serviceOrigin: string }): Promise<string> {
    return signIdToken(claims, this.#config.ecamoKeys.signing, this.#config.tokenLifetimeSeconds);
  }
}
