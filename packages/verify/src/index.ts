/**
 * `@ecamo/verify` (also `ecamo/verify`): for image sources that only serve
 * requests coming through ecamo. ecamo presents an anonymous ID token
 * (`Authorization: Bearer ...`, ES256, signed by ecamo's key published at
 * /.well-known/jwks.json); this checks it. Depends on `jose`,
 * `@ecamo/protocol` and Web standards only (fetch, WebCrypto).
 */
import { ENDPOINT_PATHS, ID_TOKEN_CLAIMS, ID_TOKEN_SUBJECT } from '@ecamo/protocol';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload, type CryptoKey } from 'jose';
import { IdTokenError } from './errors.js';
import { RemoteKeySet, staticKeySet, type FetchLike, type KeySet } from './jwks.js';
import { MemoryReplayStore, type ReplayStore } from './replay.js';

export { IdTokenError, type IdTokenErrorCode } from './errors.js';
export { createRedisReplayStore, MemoryReplayStore, type RedisReplayStoreOptions, type RedisSetClient, type ReplayStore } from './replay.js';
export type { FetchLike } from './jwks.js';

export interface IdTokenVerifierOptions {
  /** ecamo's canonical origin, e.g. `https://ecamo.corp.example`: the tokens' `iss`. */
  readonly ecamoOrigin: string;
  /** This source's own origin, as it appears in the image URLs: the tokens' `aud`. */
  readonly audience: string;
  /** Where ecamo's keys are; default `${ecamoOrigin}/.well-known/jwks.json`. */
  readonly jwksUrl?: string | undefined;
  /** ecamo's public keys given up front (a JWK set) instead of fetching them; excludes `jwksUrl`. */
  readonly keys?: JSONWebKeySet | undefined;
  /** Leeway for `exp` and `nbf`, in seconds: default 10, at most 60 (ecamo's tokens live 45 s). */
  readonly clockToleranceSeconds?: number | undefined;
  /** Where accepted `jti`s are remembered; default an in-memory store; `false` turns replay checks off. */
  readonly replay?: ReplayStore | false | undefined;
  /** The fetch used for the JWKS; default the global one. */
  readonly fetch?: FetchLike | undefined;
  /** Longest time a fetched JWKS is trusted, whatever its Cache-Control says; default 600 s. */
  readonly jwksMaxAgeSeconds?: number | undefined;
  /** Shortest time between two JWKS fetches (unknown kids, failures); default 30 s. */
  readonly jwksRefreshIntervalSeconds?: number | undefined;
}

export interface VerifiedIdToken {
  /** The service origin whose page embeds the image (`ecamo:svc`). The token says nothing about the user. */
  readonly serviceOrigin: string;
  readonly jti: string;
  /** Seconds since the epoch. */
  readonly iat: number;
  readonly exp: number;
  /** The ecamo key that signed it. */
  readonly kid: string;
}

export interface IdTokenVerifier {
  /**
   * Checks a token, given bare or as the whole `Authorization` header value.
   * Resolves with its claims, or rejects with an IdTokenError.
   */
  verify(tokenOrAuthorization: string | null | undefined): Promise<VerifiedIdToken>;
}

const MAX_CLOCK_TOLERANCE_SECONDS = 60;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function bareOrigin(name: string, value: string): string {
  let origin: string;
  try {
    origin = new URL(value).origin;
  } catch {
    throw new TypeError(`${name} must be an origin such as https://ecamo.example, got "${value}"`);
  }
  if (origin !== value || !/^https?:/.test(origin)) {
    throw new TypeError(`${name} must be a bare http(s) origin${origin === 'null' ? '' : ` such as ${origin}`}, got "${value}"`);
  }
  return origin;
}

function isOrigin(value: string): boolean {
  return URL.canParse(value) && new URL(value).origin === value;
}

function seconds(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > max) throw new TypeError(`${name} must be a whole number from 0 to ${max}`);
  return value;
}

export function createIdTokenVerifier(options: IdTokenVerifierOptions): IdTokenVerifier {
  const issuer = bareOrigin('ecamoOrigin', options.ecamoOrigin);
  const audience = bareOrigin('audience', options.audience);
  const clockTolerance = seconds('clockToleranceSeconds', options.clockToleranceSeconds, 10, MAX_CLOCK_TOLERANCE_SECONDS);
  const replay = options.replay === false ? undefined : (options.replay ?? new MemoryReplayStore());
  const keys = keySet(issuer, options);

  return {
    async verify(input) {
      const token = extractToken(input);
      const kid = checkedHeader(token);
      const key = await keys.get(kid);
      if (key === undefined) throw new IdTokenError('unknown-key', `no ecamo key with kid "${kid}"`);
      const payload = await verifyClaims(token, key, { issuer, audience, clockTolerance });
      const serviceOrigin = payload[ID_TOKEN_CLAIMS.serviceOrigin];
      if (typeof serviceOrigin !== 'string' || !isOrigin(serviceOrigin)) {
        throw new IdTokenError('invalid-token', `${ID_TOKEN_CLAIMS.serviceOrigin} is missing or not an origin`);
      }
      if (typeof payload.jti !== 'string' || payload.jti === '') throw new IdTokenError('invalid-token', 'jti is missing');
      // After the signature: forged tokens must not fill the store.
      if (replay !== undefined && !(await replay.checkAndStore(payload.jti, payload.exp + clockTolerance))) {
        throw new IdTokenError('replayed', `jti ${payload.jti} was already used`);
      }
      return { serviceOrigin, jti: payload.jti, iat: payload.iat, exp: payload.exp, kid };
    },
  };
}

function keySet(issuer: string, options: IdTokenVerifierOptions): KeySet {
  if (options.keys !== undefined) {
    if (options.jwksUrl !== undefined) throw new TypeError('give either keys or jwksUrl, not both');
    return staticKeySet(options.keys);
  }
  const url = options.jwksUrl ?? `${issuer}${ENDPOINT_PATHS.jwks}`;
  if (!/^https?:$/.test(URL.canParse(url) ? new URL(url).protocol : '')) throw new TypeError(`jwksUrl must be an http(s) URL, got "${url}"`);
  const refreshIntervalSeconds = seconds('jwksRefreshIntervalSeconds', options.jwksRefreshIntervalSeconds, 30, 3600);
  const maxAgeSeconds = seconds('jwksMaxAgeSeconds', options.jwksMaxAgeSeconds, 600, 86400);
  if (maxAgeSeconds < refreshIntervalSeconds) throw new TypeError('jwksMaxAgeSeconds must be at least jwksRefreshIntervalSeconds');
  return new RemoteKeySet({ url, fetch: options.fetch ?? fetch, maxAgeSeconds, refreshIntervalSeconds });
}

/** A bare compact JWS, or `Bearer <token>` as in an Authorization header. */
function extractToken(input: string | null | undefined): string {
  const text = input?.trim() ?? '';
  if (text === '') throw new IdTokenError('missing-token', 'no ID token');
  const [scheme = '', token, ...extra] = text.split(/\s+/);
  if (token === undefined) {
    if (/^bearer$/i.test(text)) throw new IdTokenError('missing-token', 'Authorization: Bearer without a token');
    return text;
  }
  if (!/^bearer$/i.test(scheme)) throw new IdTokenError('missing-token', `Authorization uses ${scheme}, not Bearer`);
  if (extra.length > 0) throw new IdTokenError('invalid-token', 'Authorization: Bearer is followed by more than a token');
  return token;
}

/** Refuses what is not an ES256 JWS with a kid before any key lookup (and so before any fetch). */
function checkedHeader(token: string): string {
  if (!COMPACT_JWS.test(token)) throw new IdTokenError('invalid-token', 'not a compact JWS');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch (error) {
    throw new IdTokenError('invalid-token', 'the JWS header does not decode', { cause: error });
  }
  if (header.alg !== 'ES256') throw new IdTokenError('invalid-token', `alg is ${String(header.alg)}, not ES256`);
  if (typeof header.kid !== 'string' || header.kid === '') throw new IdTokenError('invalid-token', 'the header has no kid');
  return header.kid;
}

async function verifyClaims(
  token: string,
  key: CryptoKey,
  expected: { issuer: string; audience: string; clockTolerance: number },
): Promise<JWTPayload & { readonly exp: number; readonly iat: number }> {
  try {
    const { payload } = await jwtVerify<{ exp: number; iat: number }>(token, key, {
      algorithms: ['ES256'],
      issuer: expected.issuer,
      audience: expected.audience,
      subject: ID_TOKEN_SUBJECT,
      requiredClaims: ['exp', 'iat', 'jti'],
      clockTolerance: expected.clockTolerance,
    });
    return payload;
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw new IdTokenError('expired', 'the token has expired', { cause: error });
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      const code = error.claim === 'aud' ? 'wrong-audience' : 'invalid-token';
      throw new IdTokenError(code, `${error.claim}: ${error.message}`, { cause: error });
    }
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
      throw new IdTokenError('invalid-token', 'bad signature', { cause: error });
    }
    throw new IdTokenError('invalid-token', error instanceof Error ? error.message : String(error), { cause: error });
  }
}
