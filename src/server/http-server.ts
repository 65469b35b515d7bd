/**
 * The public listener's server objects: node:http, or with ECAMO_TLS_*
 * node:http2's secure server (HTTP/2 and HTTP/1.1 by ALPN), with the limits
 * and timeouts that keep a slow or hostile client from holding them, and the
 * refusals Node leaves to listeners rather than the request path (http/dispatch.ts).
 */
import type { IncomingMessage, Server } from 'node:http';
import http2, { type Http2SecureServer } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { TlsFiles } from '../config/tls.js';
import { EcamoError } from '../errors.js';
import type { App } from '../http/app.js';
import { requestListener, secureRequestListener } from '../http/dispatch.js';
import { answerClientErrors, sendError } from '../http/respond.js';
import { outOfDescriptorsLog, type ThrottledLog } from '../log.js';
import { logServerErrors } from './listen.js';

// node:http through CommonJS, not an ES import: see the node:http rule in eslint.config.js.
const nodeHttp = process.getBuiltinModule('node:http');

/** Large enough for URL tokens of long source URLs, small enough to refuse junk early. */
const MAX_HEADER_BYTES = 32 * 1024;

/**
 * node:http's settings for HTTP/1.1, on the plain listener and for HTTP/1.1
 * on the TLS one (node:http2 hands those connections to node:http, which reads
 * these from the server object, and would otherwise apply its own defaults:
 * 16 KiB heads, 60 s for a head, 5 min for a request).
 * requireHostHeader off: node:http would answer a missing Host with a bare 400; dispatch checks Host itself.
 * Timeouts are checked every second rather than every 30 s, so that they are enforced when they fall due.
 */
const HTTP1_SETTINGS = {
  maxHeaderSize: MAX_HEADER_BYTES,
  headersTimeout: 30_000,
  requestTimeout: 30_000,
  connectionsCheckingInterval: 1_000,
  requireHostHeader: false,
} as const;

/** Ceiling on concurrent streams per HTTP/2 connection (RFC 9113 section 6.5.2); more are refused. */
const MAX_CONCURRENT_STREAMS = 100;

/**
 * Node's HTTP/1.1 parser leaves two kinds of request to listeners rather than
 * the request handler: malformed ones ('clientError') and CONNECT ('connect',
 * whose socket node:http would otherwise drop silently). Both get the usual
 * refusal.
 */
function answerOutsideHandler(server: Server | Http2SecureServer, app: App, outOfDescriptors: ThrottledLog): void {
  answerClientErrors(server);
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    sendError(socket, new EcamoError('method-not-allowed', `method ${req.method}`));
  });
  logServerErrors(server, app.logger, outOfDescriptors);
}

export function createHttpServer(app: App): Server {
  const outOfDescriptors = outOfDescriptorsLog(app.logger);
  const server = nodeHttp.createServer(HTTP1_SETTINGS, requestListener(app, outOfDescriptors));
  answerOutsideHandler(server, app, outOfDescriptors);
  return server;
}

/** The public listener with TLS: HTTP/2 and HTTP/1.1 on one port, chosen by ALPN. */
export function createSecureHttpServer(app: App, tls: TlsFiles): Http2SecureServer {
  const outOfDescriptors = outOfDescriptorsLog(app.logger);
  const server = http2.createSecureServer(
    {
      cert: tls.cert,
      key: tls.key,
      allowHTTP1: true,
      settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS, maxHeaderListSize: MAX_HEADER_BYTES },
      // A client that keeps opening streams past the limit, or sends protocol junk, loses its connection.
      maxSessionRejectedStreams: MAX_CONCURRENT_STREAMS,
      maxSessionInvalidFrames: 100,
      unknownProtocolTimeout: 10_000,
      handshakeTimeout: 10_000,
    },
    secureRequestListener(app, outOfDescriptors),
  );
  // Before listen(): node:http2 starts the timeout checks when the server starts listening.
  Object.assign(server, HTTP1_SETTINGS);
  // Idle HTTP/2 connections and HTTP/1.1 keep-alives are closed after two minutes.
  server.setTimeout(120_000);
  // A failed handshake (garbage, plain HTTP, no shared cipher) only ends that connection.
  server.on('tlsClientError', (error: Error) => app.logger.debug({ err: error }, 'TLS handshake failed'));
  server.on('sessionError', (error: Error) => app.logger.debug({ err: error }, 'HTTP/2 session error'));
  answerOutsideHandler(server, app, outOfDescriptors);
  return server;
}
