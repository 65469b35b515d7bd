import type { Server } from 'node:http';
import { constants as http2Constants, Http2ServerResponse, type Http2SecureServer } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { EcamoError, errorAnswer } from '../errors.js';
import { reasonOf, type Logger, type ThrottledLog } from '../log.js';
import type { RequestRecord } from './request-record.js';
import type { HttpResponse } from './request-response.js';

// node:http through CommonJS, not an ES import: see the node:http rule in eslint.config.js.
const { STATUS_CODES, ServerResponse } = process.getBuiltinModule('node:http');

/** Every redirect ecamo answers is personal and short-lived. */
export const NO_CACHE = 'no-cache, no-store, max-age=0, must-revalidate';

/** Served with every proxied byte: a source's SVG or HTML must not run as a page of ours. */
export const SOURCE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

export function sendText(res: HttpResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * Ends a response whose body cannot be completed (over the size limit, the
 * source failed) so that the client sees it broken, not short: HTTP/1.1 loses
 * its connection; HTTP/2 resets the stream with INTERNAL_ERROR (a bare
 * destroy would reset it with NO_ERROR, which reads like a finished body).
 */
export function abortResponse(res: HttpResponse): void {
  if (res instanceof Http2ServerResponse) res.stream.close(http2Constants.NGHTTP2_INTERNAL_ERROR);
  else res.destroy();
}

function isResponse(to: HttpResponse | Duplex): to is HttpResponse {
  return to instanceof ServerResponse || to instanceof Http2ServerResponse;
}

/** An image to answer an error with instead of its text (ECAMO_FALLBACK_IMAGE, see http/error-image.ts). */
export interface ErrorBodyImage {
  readonly type: string;
  readonly body: Buffer;
}

/** An image of ours is kept by nobody (it stands for an error) and is held to the rules of every proxied byte. */
function imageHeaders(image: ErrorBodyImage): Record<string, string> {
  return { 'content-type': image.type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-security-policy': SOURCE_CSP };
}

/**
 * What a refusal writes to the log besides its access line, as its code's row
 * in the registry says (`log` in src/errors.ts): a client's refusal or a
 * source's failure at `debug`, a server the operator runs at `warn`, a bug
 * with its stack. `outOfDescriptors` is the listener's one line per interval
 * for `overloaded`.
 */
export function logRefusal(logger: Logger, error: EcamoError, outOfDescriptors?: ThrottledLog): void {
  const log = errorAnswer(error.code).log;
  if (log === 'stack') {
    // A bug is wrapped as `unknown` where it was caught: the stack worth reading is the thing thrown.
    logger.error({ err: error.cause ?? error }, 'bug: unexpected failure');
    return;
  }
  if (log === 'warn') logger.warn({ code: error.code, reason: reasonOf(error) }, 'refused: a server the operator runs failed');
  else if (logger.isLevelEnabled('debug')) logger.debug({ code: error.code, reason: reasonOf(error) }, 'request refused');
  if (log === 'throttled-error') outOfDescriptors?.note();
}

/**
 * The one way any listener (ecamo, verify-proxy) refuses: the status and
 * headers of the error's code, `x-ecamo-error`, and a body that names the code
 * only. `to` is a response, or a bare socket for what node:http never turns
 * into one (a malformed request, CONNECT); the socket is closed after the answer.
 * `headers` adds to, or overrides, what the code brings; `image`, when
 * given, is the body instead of the code's text.
 */
export function sendError(to: HttpResponse | Duplex, error: EcamoError, headers: Readonly<Record<string, string>> = {}, image?: ErrorBodyImage): void {
  // A bare socket had no request read from it: nothing says an image is wanted.
  const shown = isResponse(to) ? image : undefined;
  const body = shown?.body ?? error.body;
  const all: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    ...errorAnswer(error.code).headers,
    ...headers,
    ...(shown === undefined ? {} : imageHeaders(shown)),
    'x-ecamo-error': error.code,
    'content-length': Buffer.byteLength(body),
  };
  if (!isResponse(to)) {
    if (!to.writable || to.destroyed) return;
    // The socket has left node:http's care: a reset while answering must not become an uncaught error.
    to.on('error', () => {});
    const lines = Object.entries({ connection: 'close', ...all }).map(([name, value]) => `${name}: ${value}\r\n`);
    to.end(`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\n${lines.join('')}\r\n${error.body}`);
    return;
  }
  if (to.headersSent) {
    abortResponse(to);
    return;
  }
  to.writeHead(error.status, all);
  to.end(to.req.method === 'HEAD' ? undefined : body);
}

/**
 * Malformed requests (oversized headers, bad syntax) and requests that do not
 * arrive in time never reach a request handler: node:http hands them to
 * 'clientError'. Answer them as every other refusal: `bad-request` (431 for
 * an oversized head), or 408 `request-timeout`.
 *
 * The TLS listener hands its TLS-level failures (a handshake that times out
 * or breaks) to the same event, and so does node:http a socket's own errors
 * (a reset). Those have no HTTP to answer in, and end() on a TLS socket that
 * never finished its handshake closes nothing: they are destroyed.
 */
export function answerClientErrors(server: Server | Http2SecureServer): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return sendError(socket, new EcamoError('request-timeout', error.message, { cause: error }));
    if (error.code?.startsWith('HPE_') !== true) return void socket.destroy();
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    sendError(socket, new EcamoError('bad-request', error.message, tooLarge ? { variant: 'head-too-large', cause: error } : { cause: error }));
  });
}

export type SourceRedirectReason = 'src-fetch-dest' | 'auth-cookie-missing';

/** Sends the browser to the image itself, so that a person can see where it lives. */
export function redirectToSource(res: HttpResponse, record: RequestRecord, url: string, reason: SourceRedirectReason): void {
  record.action = 'redirect-to-source';
  record.source = url;
  res.writeHead(302, {
    location: url,
    'cache-control': NO_CACHE,
    'x-ecamo-action': 'redirect-to-source',
    'x-ecamo-reason': reason,
    'x-ecamo-source': url,
    'content-length': 0,
  });
  res.end();
}
