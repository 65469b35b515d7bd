import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { EcamoError } from '../errors.js';
import type { App } from './app.js';
import { handleCamo } from './camo.js';
import { handleProxy } from './proxy.js';
import { handleRedirect } from './redirect.js';
import { newRequestRecord, urlForLog, type RequestRecord } from './request-record.js';
import { answerClientErrors, sendError, sendText } from './respond.js';
import { route } from './router.js';

/** Large enough for URL tokens of long source URLs, small enough to refuse junk early. */
const MAX_HEADER_BYTES = 32 * 1024;

/** An ecamo `Via` entry means this request was sent by an ecamo: serving it would loop. */
function viaEcamo(via: string | undefined): boolean {
  return via !== undefined && via.split(',').some((entry) => entry.trim().split(/\s+/)[1]?.toLowerCase() === 'ecamo');
}

/**
 * RFC 9112 section 3.2: an HTTP/1.1 request has exactly one Host. node:http
 * keeps the first of several, while a front proxy may have routed on another:
 * the service origin must not depend on which one a hop believed.
 */
function hasOneHost(req: IncomingMessage): boolean {
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  return hosts === 1 || (hosts === 0 && req.httpVersion === '1.0');
}

export function createHttpServer(app: App): http.Server {
  // requireHostHeader off: node:http would answer a missing Host with a bare 400; dispatch checks Host itself.
  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 30_000, requireHostHeader: false }, (req, res) => {
    const started = process.hrtime.bigint();
    const record = newRequestRecord();
    app.metrics.inFlight.inc();
    res.once('close', () => {
      app.metrics.inFlight.dec();
      app.metrics.requestAnswered(record.route, res.statusCode, record.error, record.bytes);
      logAccess(app, req, res, record, started);
    });
    dispatch(app, req, res, record).catch((error: unknown) => {
      const failure = error instanceof EcamoError ? error : new EcamoError('unknown', 'unexpected failure', { cause: error });
      if (failure.code === 'unknown') app.logger.error({ err: error }, 'bug: unexpected failure');
      else app.logger.debug({ err: failure, code: failure.code }, 'request refused');
      record.error = failure.code;
      sendError(res, failure);
    });
  });
  answerClientErrors(server);
  // CONNECT never reaches the handler either: node:http gives it to 'connect'
  // listeners and silently drops the socket when there are none. Answer it as
  // any other method we do not serve.
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    sendError(socket, new EcamoError('method-not-allowed', `method ${req.method}`));
  });
  return server;
}

async function dispatch(app: App, req: IncomingMessage, res: ServerResponse, record: RequestRecord): Promise<void> {
  const target = route(req.url ?? '/');
  record.route = target.kind;
  if (!hasOneHost(req)) throw new EcamoError('bad-request', 'request needs exactly one Host header');
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new EcamoError('method-not-allowed', `method ${req.method}`);
  switch (target.kind) {
    case 'index':
      return sendText(res, 200, 'ecamo: authenticating image proxy\n');
    case 'health':
      return sendText(res, 200, 'ok');
    case 'jwks': {
      if (req.headers.host !== app.config.canonicalHost) throw new EcamoError('not-found', 'JWKS is served on the canonical origin');
      const body = app.tokens.jwksBody;
      res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    case 'none':
      throw new EcamoError('not-found', 'no such path');
    case 'camo':
      if (app.config.camoKeys.length === 0) throw new EcamoError('not-found', 'no such path (camo URLs are off: ECAMO_CAMO_KEY is unset)');
      break;
  }
  if (viaEcamo(req.headers.via)) throw new EcamoError('loop-detected', 'request came through an ecamo');
  if (target.kind === 'redirect') return handleRedirect(app, req, res, record, target.token);
  if (target.kind === 'camo') return handleCamo(app, req, res, record, target.digest, target.url);
  return handleProxy(app, req, res, record, target.digest, target.token);
}

function logAccess(app: App, req: IncomingMessage, res: ServerResponse, record: RequestRecord, started: bigint): void {
  const level = record.error === 'unknown' ? 'error' : 'info';
  if (!app.logger.isLevelEnabled(level)) return;
  app.logger[level](
    {
      method: req.method,
      route: record.route,
      status: res.statusCode,
      complete: res.writableFinished,
      action: record.action,
      error: record.error,
      service: record.service,
      source: urlForLog(record.source),
      sourceStatus: record.sourceStatus,
      bytes: record.bytes,
      durationMs: Number(process.hrtime.bigint() - started) / 1e6,
    },
    'access',
  );
}
