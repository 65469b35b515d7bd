/**
 * Request-time errors. Clients only ever see `code` (in `x-ecamo-error`) and
 * `status`; `message` and `cause` are for logs.
 */

/** Codes of SPEC.md, plus the few this server adds (marked). */
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
  | 'not-found' // addition: unknown path, or proxy endpoint off the canonical host
  | 'method-not-allowed' // addition: only GET and HEAD are served
  | 'loop-detected' // addition: the request already went through an ecamo
  | 'unknown';

const STATUS_OF: Readonly<Record<EcamoErrorCode, number>> = Object.freeze({
  'bad-request': 400,
  'missing-claim': 400,
  url: 400,
  'token-deserialization': 400,
  'invalid-token': 401,
  jwt: 401,
  'unknown-key': 401,
  'unallowed-service-host': 403,
  'unallowed-source': 403,
  'source-response-too-large': 403,
  'unallowed-content-type': 403,
  'source-request': 502,
  'not-found': 404,
  'method-not-allowed': 405,
  'loop-detected': 400,
  unknown: 500,
});

export class EcamoError extends Error {
  override readonly name = 'EcamoError';
  readonly code: EcamoErrorCode;
  readonly status: number;

  constructor(code: EcamoErrorCode, message: string = code, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status ?? STATUS_OF[code];
  }
}

export function statusOf(code: EcamoErrorCode): number {
  return STATUS_OF[code];
}
