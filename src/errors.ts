/**
 * The one registry of request errors: every code a client can read in
 * `x-ecamo-error`, from the ecamo server and from `ecamo verify-proxy`, with
 * the status and headers it is answered with. Clients only ever see the code
 * (and the status); `message` and `cause` are for logs.
 *
 * Configuration problems are `ConfigError` (src/config/errors.ts) and stop the
 * process at start. The SDK `@ecamo/verify` keeps its own `IdTokenError`
 * (packages/verify/src/errors.ts), because SDK code imports only jose; verify-proxy
 * answers with its codes, which are listed here too.
 */
import type { IdTokenErrorCode } from './verify/index.js';

/** Every wire code; docs/protocol.md, "Error codes", says which are ours. */
export type EcamoErrorCode =
  | 'bad-request'
  | 'missing-claim'
  | 'url'
  | 'token-deserialization'
  | 'invalid-token'
  | 'jwt'
  | 'unknown-key'
  | 'unallowed-service-host'
  | 'unallowed-source'
  | 'source-response-too-large'
  | 'unallowed-content-type'
  | 'source-request'
  | 'source-response'
  | 'not-found'
  | 'method-not-allowed'
  | 'loop-detected'
  | 'quarantined'
  | 'request-timeout'
  | 'overloaded'
  // verify-proxy: an ID token refused by `ecamo/verify` (missing-token, invalid-token,
  // expired, wrong-audience, replayed, unknown-key, jwks-unavailable), or an upstream it cannot use.
  | IdTokenErrorCode
  | 'upstream-request'
  | 'upstream-response'
  // verify-proxy --replay-store-required: Redis cannot say whether a token was already used.
  | 'replay-store-unavailable'
  // The admin listener (ECAMO_ADMIN_BIND): a worker did not answer the metrics scrape.
  | 'metrics-unavailable'
  | 'unallowed-service'
  | 'unknown';

export interface ErrorAnswer {
  readonly status: number;
  /** Sent with the status, besides `x-ecamo-error` and `cache-control: no-store`. */
  readonly headers: Readonly<Record<string, string>>;
}

const NONE: ErrorAnswer['headers'] = Object.freeze({});
/** RFC 9110 section 11.6.1: a 401 names the scheme that would succeed. */
const CHALLENGE = Object.freeze({ 'www-authenticate': 'Bearer error="invalid_token"' });

function answer(status: number, headers: ErrorAnswer['headers'] = NONE): ErrorAnswer {
  return Object.freeze({ status, headers });
}

const ANSWERS: Readonly<Record<EcamoErrorCode, ErrorAnswer>> = Object.freeze({
  'bad-request': answer(400),
  'missing-claim': answer(400),
  url: answer(400),
  'token-deserialization': answer(400),
  'loop-detected': answer(400),
  'invalid-token': answer(401, CHALLENGE),
  jwt: answer(401, CHALLENGE),
  'unknown-key': answer(401, CHALLENGE),
  'missing-token': answer(401, CHALLENGE),
  expired: answer(401, CHALLENGE),
  'wrong-audience': answer(401, CHALLENGE),
  replayed: answer(401, CHALLENGE),
  'unallowed-service-host': answer(403),
  'unallowed-source': answer(403),
  'source-response-too-large': answer(403),
  'unallowed-content-type': answer(403),
  'unallowed-service': answer(403),
  'not-found': answer(404),
  // With Retry-After: the seconds of quarantine left (see src/quarantine/).
  quarantined: answer(429),
  'method-not-allowed': answer(405, Object.freeze({ allow: 'GET, HEAD' })),
  'request-timeout': answer(408),
  // The status a source answered with when it is 4xx/5xx (see SourceResponseError).
  'source-response': answer(400, Object.freeze({ 'content-type': 'text/plain', 'x-ecamo-error-origin': 'source' })),
  'source-request': answer(502),
  'upstream-request': answer(502),
  'upstream-response': answer(502),
  'jwks-unavailable': answer(503),
  'metrics-unavailable': answer(503),
  'replay-store-unavailable': answer(503),
  overloaded: answer(503),
  unknown: answer(500),
});

/** Every registered code, in the registry's order (docs/protocol.md §10 lists each, a test checks). */
export const ERROR_CODES: readonly EcamoErrorCode[] = Object.freeze(Object.keys(ANSWERS) as EcamoErrorCode[]);

/** The status and headers a code is answered with. */
export function errorAnswer(code: EcamoErrorCode): ErrorAnswer {
  return ANSWERS[code];
}

export interface EcamoErrorOptions {
  readonly cause?: unknown;
  /**
   * Only where the protocol makes the status depend on more than the code:
   * a source timeout (504), an oversized request head (431), a source's own
   * error status (SourceResponseError).
   */
  readonly status?: number;
}

export class EcamoError extends Error {
  override readonly name: string = 'EcamoError';
  readonly code: EcamoErrorCode;
  readonly status: number;

  constructor(code: EcamoErrorCode, message: string = code, options: EcamoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status ?? ANSWERS[code].status;
  }

  /** What the client reads: the code, never the message. */
  get body(): string {
    return `Error: ${this.code}`;
  }
}

/** The source answered with something other than 200: 4xx/5xx pass on, anything else becomes 400. */
export class SourceResponseError extends EcamoError {
  override readonly name = 'SourceResponseError';
  readonly sourceStatus: number;

  constructor(sourceStatus: number) {
    super('source-response', `source answered ${sourceStatus}`, { status: sourceStatus >= 400 && sourceStatus <= 599 ? sourceStatus : 400 });
    this.sourceStatus = sourceStatus;
  }

  override get body(): string {
    return this.status === this.sourceStatus ? `${this.sourceStatus} (from upstream)` : `${this.sourceStatus} (from upstream, converted to 400)`;
  }
}

/** The nearest EcamoError in a chain of causes (undici and net may wrap what a connector raised). */
export function findEcamoError(error: unknown): EcamoError | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    if (current instanceof EcamoError) return current;
  }
  return undefined;
}

/**
 * The process has run out of file descriptors (EMFILE) or the system has
 * (ENFILE), anywhere in a chain of causes: an overload of this host, not a
 * fault of whatever was being reached.
 */
export function isOutOfDescriptors(error: unknown): boolean {
  for (let current = error; current instanceof Error; current = current.cause) {
    const code = (current as NodeJS.ErrnoException).code;
    if (code === 'EMFILE' || code === 'ENFILE') return true;
  }
  return false;
}
