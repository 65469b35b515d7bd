/**
 * The one registry of request errors: every code a client can read in
 * `x-ecamo-error`, from the ecamo server and from `ecamo verify-proxy`, with
 * the statuses and headers it is answered with, whether quarantine counts it
 * and how it is logged. Call sites name a code (and a variant where the code
 * has one), never a status. Clients only ever see the code (and the status);
 * `message` and `cause` are for logs.
 *
 * Configuration problems are `ConfigError` (src/config/errors.ts) and stop the
 * process at start. The SDK `@ecamo/verify` keeps its own `IdTokenError`
 * (packages/verify/src/errors.ts), because SDK code imports only jose; verify-proxy
 * answers with its codes, which are listed here too.
 */
import type { IdTokenErrorCode } from './verify/index.js';

/**
 * What a refusal writes to the log besides the access line (every request
 * has one, and it names the code); every listener writes it through
 * http/respond.ts's logRefusal.
 */
export type ErrorLog =
  /** The client's refusal, or a source's failure (anyone's server; the access line names it): one `debug` line with code and reason, nothing at the default level. */
  | 'debug'
  /** A server the operator runs failed (ecamo's JWKS, verify-proxy's upstream, a worker's metrics): one `warn` line with code and reason, no stack. */
  | 'warn'
  /** ecamo is out of file descriptors: besides the `debug` line, the one `error` line per 10 s of log.ts's outOfDescriptorsLog. */
  | 'throttled-error'
  /** A bug: one `error` line with its stack, and ecamo's access line at `error`. */
  | 'stack';

interface ErrorRow {
  /** The code's status. */
  readonly status: number;
  /** Other statuses of the same code, each named for what chooses it; a call site names the variant, never the number. */
  readonly variants?: Readonly<Record<string, number>>;
  /** Sent with the status, besides `x-ecamo-error` and `cache-control: no-store`. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * A credential the client presented (URL token, auth cookie, proxy token,
   * camo digest) was refused: ECAMO_QUARANTINE_FAILURES counts it.
   */
  readonly countsTowardQuarantine?: true;
  /** The status is the source's own when that is 4xx/5xx: data relayed, not ours; `status` otherwise (SourceResponseError). */
  readonly relaysSourceStatus?: true;
  readonly log: ErrorLog;
}

/** RFC 9110 section 11.6.1: a 401 names the scheme that would succeed. */
const CHALLENGE = { 'www-authenticate': 'Bearer error="invalid_token"' } as const;

/**
 * Every wire code (docs/protocol.md §10 lists each; a test holds the table to
 * these rows). verify-proxy answers with the codes of an ID token refused by
 * `ecamo/verify` unchanged, so each of those has a row too.
 */
const ROWS = {
  'bad-request': { status: 400, variants: { 'head-too-large': 431 }, log: 'debug' },
  'missing-claim': { status: 400, countsTowardQuarantine: true, log: 'debug' },
  url: { status: 400, log: 'debug' },
  'token-deserialization': { status: 400, countsTowardQuarantine: true, log: 'debug' },
  'loop-detected': { status: 400, log: 'debug' },
  'invalid-token': { status: 401, headers: CHALLENGE, countsTowardQuarantine: true, log: 'debug' },
  jwt: { status: 401, headers: CHALLENGE, countsTowardQuarantine: true, log: 'debug' },
  'unknown-key': { status: 401, headers: CHALLENGE, countsTowardQuarantine: true, log: 'debug' },
  // verify-proxy's refusals of an ID token; it keeps no quarantine.
  'missing-token': { status: 401, headers: CHALLENGE, log: 'debug' },
  expired: { status: 401, headers: CHALLENGE, log: 'debug' },
  'wrong-audience': { status: 401, headers: CHALLENGE, log: 'debug' },
  replayed: { status: 401, headers: CHALLENGE, log: 'debug' },
  'unallowed-service-host': { status: 403, log: 'debug' },
  'unallowed-source': { status: 403, log: 'debug' },
  'source-response-too-large': { status: 403, log: 'debug' },
  'unallowed-content-type': { status: 403, log: 'debug' },
  // verify-proxy: the ID token's service is not admitted.
  'unallowed-service': { status: 403, log: 'debug' },
  'not-found': { status: 404, log: 'debug' },
  // With Retry-After: the seconds of quarantine left (see src/quarantine/).
  quarantined: { status: 429, log: 'debug' },
  'method-not-allowed': { status: 405, headers: { allow: 'GET, HEAD' }, log: 'debug' },
  'request-timeout': { status: 408, log: 'debug' },
  'source-response': { status: 400, relaysSourceStatus: true, headers: { 'content-type': 'text/plain', 'x-ecamo-error-origin': 'source' }, log: 'debug' },
  'source-request': { status: 502, variants: { timeout: 504 }, log: 'debug' },
  // verify-proxy: its upstream could not be reached, or answered headers Node will not send.
  'upstream-request': { status: 502, log: 'warn' },
  'upstream-response': { status: 502, log: 'warn' },
  'jwks-unavailable': { status: 503, log: 'warn' },
  // The admin listener (ECAMO_ADMIN_BIND): a worker did not answer the metrics scrape.
  'metrics-unavailable': { status: 503, log: 'warn' },
  // verify-proxy --replay-store-required: Redis cannot say whether a token was already used (state/redis.ts logs the outage).
  'replay-store-unavailable': { status: 503, log: 'debug' },
  overloaded: { status: 503, log: 'throttled-error' },
  unknown: { status: 500, log: 'stack' },
} as const satisfies Readonly<Record<string, ErrorRow> & Record<IdTokenErrorCode, ErrorRow>>;

/** Every wire code; docs/protocol.md, "Error codes", says which are ours. */
export type EcamoErrorCode = keyof typeof ROWS;

/** The variants a code has (none for most): `new EcamoError('source-request', reason, { variant: 'timeout' })`. */
export type ErrorVariant<C extends EcamoErrorCode> = (typeof ROWS)[C] extends { readonly variants: infer Variants } ? keyof Variants & string : never;

/** Every registered code, in the registry's order (docs/protocol.md §10 lists each, a test checks). */
export const ERROR_CODES: readonly EcamoErrorCode[] = Object.freeze(Object.keys(ROWS) as EcamoErrorCode[]);

/** A code's row, with what a row may leave out filled in. */
export interface ErrorAnswer {
  readonly status: number;
  readonly variants: Readonly<Record<string, number>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly countsTowardQuarantine: boolean;
  readonly relaysSourceStatus: boolean;
  readonly log: ErrorLog;
}

const ANSWERS = Object.freeze(
  Object.fromEntries(
    Object.entries(ROWS as Readonly<Record<EcamoErrorCode, ErrorRow>>).map(([code, row]) => [
      code,
      Object.freeze({
        status: row.status,
        variants: Object.freeze({ ...row.variants }),
        headers: Object.freeze({ ...row.headers }),
        countsTowardQuarantine: row.countsTowardQuarantine === true,
        relaysSourceStatus: row.relaysSourceStatus === true,
        log: row.log,
      }),
    ]),
  ) as Record<EcamoErrorCode, ErrorAnswer>,
);

/** The registry's row of a code: its statuses, headers, whether quarantine counts it, how it is logged. */
export function errorAnswer(code: EcamoErrorCode): ErrorAnswer {
  return ANSWERS[code];
}

/** The status a code (in one of its variants) is answered with. */
export function errorStatus<C extends EcamoErrorCode>(code: C, variant?: ErrorVariant<C>): number {
  return statusOf(code, variant);
}

function statusOf(code: EcamoErrorCode, variant: string | undefined): number {
  const answer = ANSWERS[code];
  return variant === undefined ? answer.status : (answer.variants[variant] ?? answer.status);
}

/** A refused credential of the client's: what ECAMO_QUARANTINE_FAILURES counts. */
export function countsTowardQuarantine(code: EcamoErrorCode): boolean {
  return ANSWERS[code].countsTowardQuarantine;
}

/** The credential was read and refused (a 401 with its challenge), as opposed to unreadable or not allowed. */
export function refusesAuthentication(code: EcamoErrorCode): boolean {
  return ANSWERS[code].status === 401;
}

export interface EcamoErrorOptions<C extends EcamoErrorCode> {
  readonly cause?: unknown;
  /** Where the code has more than one status: which (a source timeout, an oversized request head). */
  readonly variant?: ErrorVariant<C>;
}

/**
 * A code, then the message for the log and the options that code allows: one
 * tuple per code, so that a variant is checked against the code it is given with.
 */
type EcamoErrorArguments = { [C in EcamoErrorCode]: [code: C, message?: string, options?: EcamoErrorOptions<C>] }[EcamoErrorCode];

export class EcamoError extends Error {
  override readonly name: string = 'EcamoError';
  readonly code: EcamoErrorCode;
  readonly status: number;

  constructor(...[code, message = code, options = {}]: EcamoErrorArguments) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = statusOf(code, options.variant);
  }

  /** What the client reads: the code, never the message. */
  get body(): string {
    return `Error: ${this.code}`;
  }
}

/** The source answered with something other than 200: its 4xx/5xx is relayed, anything else becomes the code's own status. */
export class SourceResponseError extends EcamoError {
  override readonly name = 'SourceResponseError';
  override readonly status: number;
  readonly sourceStatus: number;

  constructor(sourceStatus: number) {
    super('source-response', `source answered ${sourceStatus}`);
    this.sourceStatus = sourceStatus;
    this.status = sourceStatus >= 400 && sourceStatus <= 599 ? sourceStatus : errorStatus('source-response');
  }

  override get body(): string {
    return this.status === this.sourceStatus ? `${this.sourceStatus} (from upstream)` : `${this.sourceStatus} (from upstream, converted to ${this.status})`;
  }
}

/** What a request path caught, as the refusal to answer: an EcamoError as it is; anything else is a bug, `unknown`, with it as its cause (logRefusal logs that cause's stack). */
export function asRefusal(error: unknown): EcamoError {
  return error instanceof EcamoError ? error : new EcamoError('unknown', 'unexpected failure', { cause: error });
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
