/**
 * Why an ID token was refused. `code` is stable (log it, send it in
 * `x-ecamo-error`); `message` is for people and may change.
 *
 * Kept apart from the server's registry (src/errors.ts) on purpose: the SDK
 * imports only jose and node built-ins. The registry lists these codes as wire
 * codes, so verify-proxy answers with them unchanged.
 */
export type IdTokenErrorCode =
  /** No token at all: no Authorization header, or one that is not `Bearer`. */
  | 'missing-token'
  /** Malformed, not ES256, bad signature, wrong `iss`/`sub`, a required claim missing or not yet valid. */
  | 'invalid-token'
  /** Past `exp` (beyond the clock leeway). */
  | 'expired'
  /** `aud` is not this source: the token was issued for another origin. */
  | 'wrong-audience'
  /** Its `jti` was already accepted: someone replays a captured token. */
  | 'replayed'
  /** Its `kid` is not in ecamo's key set, even after a refresh. */
  | 'unknown-key'
  /** ecamo's JWKS could not be fetched and no usable copy is cached. Not the client's fault. */
  | 'jwks-unavailable';

export class IdTokenError extends Error {
  override readonly name = 'IdTokenError';
  readonly code: IdTokenErrorCode;
  /** The HTTP status a source should answer with: 503 when the keys are unreachable, else 401. */
  readonly status: 401 | 503;

  constructor(code: IdTokenErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = code === 'jwks-unavailable' ? 503 : 401;
  }
}
