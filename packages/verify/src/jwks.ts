import { importJWK, type JWK, type CryptoKey } from 'jose';
import { IdTokenError } from './errors.js';

/** Resolves a `kid` to a verification key; undefined when the set has no such key. */
export interface KeySet {
  get(kid: string): Promise<CryptoKey | undefined>;
}

/** The subset of `fetch` the key set uses, so callers can route or stub it. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** ecamo publishes a few keys; anything this large is not its JWKS. */
const MAX_JWKS_BYTES = 64 * 1024;
const FETCH_TIMEOUT_MS = 5_000;
/** When the JWKS response says nothing about caching (ecamo itself says max-age=300). */
const DEFAULT_MAX_AGE_SECONDS = 300;

/** A public ES256 key as ecamo publishes it. Anything else in a set is skipped, never trusted. */
function isEs256PublicJwk(value: unknown): value is JWK & { kid: string; x: string; y: string } {
  if (value === null || typeof value !== 'object') return false;
  const jwk = value as Record<string, unknown>;
  return (
    jwk.kty === 'EC' &&
    jwk.crv === 'P-256' &&
    typeof jwk.kid === 'string' &&
    typeof jwk.x === 'string' &&
    typeof jwk.y === 'string' &&
    (jwk.use === undefined || jwk.use === 'sig') &&
    (jwk.alg === undefined || jwk.alg === 'ES256')
  );
}

/** Imports the usable keys of a set by kid; the first key wins when a kid repeats. */
async function importKeySet(keys: readonly unknown[], strict: boolean): Promise<Map<string, CryptoKey>> {
  const imported = new Map<string, CryptoKey>();
  for (const jwk of keys) {
    if (!isEs256PublicJwk(jwk)) {
      if (strict) throw new TypeError('keys: every key must be a public EC P-256 JWK with a kid');
      continue;
    }
    if (imported.has(jwk.kid)) continue;
    try {
      // Only the public coordinates: a private `d` that leaked into a set is never imported.
      imported.set(jwk.kid, await importJWK({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, 'ES256'));
    } catch (error) {
      if (strict) throw new TypeError(`keys: key ${jwk.kid} is not a valid P-256 key`, { cause: error });
    }
  }
  return imported;
}

/** Keys given up front (no network): checked now, imported on first use. */
export function staticKeySet(jwks: { readonly keys: readonly unknown[] }): KeySet {
  if (!Array.isArray(jwks.keys)) throw new TypeError('keys must be a JWK set: { keys: [...] }');
  for (const jwk of jwks.keys) {
    if (!isEs256PublicJwk(jwk)) throw new TypeError('keys: every key must be a public EC P-256 JWK with a kid');
  }
  let imported: Promise<Map<string, CryptoKey>> | undefined;
  return {
    async get(kid) {
      imported ??= importKeySet(jwks.keys, true);
      return (await imported).get(kid);
    },
  };
}

export interface RemoteKeySetOptions {
  readonly url: string;
  readonly fetch: FetchLike;
  /** Upper bound on how long a fetched set is trusted before it is fetched again. */
  readonly maxAgeSeconds: number;
  /** Lower bound between two fetches, whatever the cause (expiry, unknown kid, failure). */
  readonly refreshIntervalSeconds: number;
}

/**
 * ecamo's JWKS over HTTP. A set is used for its Cache-Control max-age,
 * clamped to [refreshInterval, maxAge]; an unknown kid triggers a refresh
 * (ecamo may have rotated), at most once per refreshInterval so that junk
 * tokens cannot make us hammer ecamo. If a refresh fails, the previous set
 * stays usable for one more maxAge, so a short outage of ecamo does not
 * lock the source out, and never longer.
 */
export class RemoteKeySet implements KeySet {
  readonly #options: RemoteKeySetOptions;
  #keys: ReadonlyMap<string, CryptoKey> | undefined;
  /** ms: until then the set is used without asking ecamo. */
  #freshUntil = 0;
  /** ms: until then the set is still used when a refresh fails. */
  #usableUntil = 0;
  #lastAttempt = -Infinity;
  #inFlight: Promise<ReadonlyMap<string, CryptoKey>> | undefined;

  constructor(options: RemoteKeySetOptions) {
    this.#options = options;
  }

  async get(kid: string): Promise<CryptoKey | undefined> {
    let keys = this.#keys;
    let refreshed = false;
    if (keys === undefined || Date.now() >= this.#freshUntil) {
      keys = await this.#refresh();
      refreshed = true;
    }
    const key = keys.get(kid);
    if (key !== undefined || refreshed || !this.#mayAttempt(Date.now())) return key;
    // Not in a fresh set: ecamo may have added a key since we fetched it.
    return (await this.#refresh()).get(kid);
  }

  /** One fetch at a time: concurrent callers share it. Resolves with the set to use. */
  #refresh(): Promise<ReadonlyMap<string, CryptoKey>> {
    this.#inFlight ??= this.#fetchAndStore().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  #mayAttempt(now: number): boolean {
    return now - this.#lastAttempt >= this.#options.refreshIntervalSeconds * 1000;
  }

  async #fetchAndStore(): Promise<ReadonlyMap<string, CryptoKey>> {
    const now = Date.now();
    const previous = this.#keys;
    if (!this.#mayAttempt(now)) {
      if (previous !== undefined && now < this.#usableUntil) return previous;
      throw new IdTokenError('jwks-unavailable', `ecamo's JWKS (${this.#options.url}) failed recently; not asking again yet`);
    }
    this.#lastAttempt = now;
    try {
      const { keys, maxAgeSeconds } = await fetchJwks(this.#options.url, this.#options.fetch);
      const { refreshIntervalSeconds, maxAgeSeconds: cap } = this.#options;
      const lifetime = Math.min(Math.max(maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS, refreshIntervalSeconds), cap);
      this.#keys = keys;
      this.#freshUntil = now + lifetime * 1000;
      this.#usableUntil = this.#freshUntil + cap * 1000;
      return keys;
    } catch (error) {
      if (previous !== undefined && now < this.#usableUntil) return previous;
      throw new IdTokenError('jwks-unavailable', `cannot fetch ecamo's JWKS from ${this.#options.url}: ${(error as Error).message}`, { cause: error });
    }
  }
}

async function fetchJwks(url: string, fetchFn: FetchLike): Promise<{ keys: Map<string, CryptoKey>; maxAgeSeconds: number | undefined }> {
  const response = await fetchFn(url, {
    headers: { accept: 'application/jwk-set+json, application/json' },
    // The set must come from the configured URL itself, not wherever it points.
    redirect: 'error',
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`answered ${response.status}`);
  }
  const body = JSON.parse(await readCapped(response, MAX_JWKS_BYTES)) as unknown;
  const keys = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error('the answer is not a JWK set');
  return { keys: await importKeySet(keys, false), maxAgeSeconds: maxAgeOf(response.headers.get('cache-control')) };
}

async function readCapped(response: Response, limit: number): Promise<string> {
  if (Number(response.headers.get('content-length') ?? 0) > limit) {
    await response.body?.cancel();
    throw new Error(`the answer is over ${limit} bytes`);
  }
  if (response.body === null) return '';
  const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new Error(`the answer is over ${limit} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/** `max-age` of a Cache-Control header; `no-store`/`no-cache` count as 0 (then the lower bound applies). */
export function maxAgeOf(header: string | null): number | undefined {
  if (header === null) return undefined;
  const directives = header.split(',').map((part) => part.trim().toLowerCase());
  if (directives.includes('no-store') || directives.includes('no-cache')) return 0;
  for (const directive of directives) {
    const match = /^max-age\s*=\s*"?(\d+)"?$/.exec(directive);
    if (match !== null) return Number(match[1]);
  }
  return undefined;
}
