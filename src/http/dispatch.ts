import { asRefusal, countsTowardQuarantine, EcamoError, errorAnswer } from '../errors.js';
import type { ThrottledLog } from '../log.js';
import type { Quarantine } from '../quarantine/quarantine.js';
import { traced } from '../tracing/index.js';
import type { App } from './app.js';
import { resolveClient, type ClientAddressOptions } from './client-address.js';
import { handleCamo } from './camo.js';
import { handleProxy } from './proxy.js';
import { handleRedirect } from './redirect.js';
import { newRequestRecord, urlForLog, type RequestRecord } from './request-record.js';
import { logRefusal, sendError, sendText } from './respond.js';
import { route, type Route } from './router.js';
import type { Answering, HttpRequest, HttpResponse } from './request-response.js';

/** An ecamo `Via` entry means this request was sent by an ecamo: serving it would loop. */
function viaEcamo(via: string | undefined): boolean {
  return via !== undefined && via.split(',').some((entry) => entry.trim().split(/\s+/)[1]?.toLowerCase() === 'ecamo');
}

/**
 * RFC 9112 section 3.2: an HTTP/1.1 request has exactly one Host. node:http
 * keeps the first of several, while a front proxy may have routed on another:
 * the service origin must not depend on which one a hop believed.
 */
function hasOneHost(req: HttpRequest): boolean {
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i];
    if (name?.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  return hosts === 1 || (hosts === 0 && req.httpVersion === '1.0');
}

/**
 * RFC 9113 section 8.3.1: an HTTP/2 request names its host in `:authority`
 * (a Host header, if any, must agree). It is copied to `headers.host`, where
 * every handler reads the host, so that HTTP/1.1 and HTTP/2 requests are
 * judged alike; without a single host, `headers.host` is left unset and
 * dispatch refuses the request.
 */
function takeHttp2Authority(req: HttpRequest): void {
  const authority = req.headers[':authority'];
  const host = req.headers.host;
  const agreed = host === undefined || (typeof host === 'string' && (authority === undefined || host === authority));
  const name = authority ?? host;
  req.headers.host = agreed && typeof name === 'string' && name !== '' ? name : undefined;
}

type RequestListener = (req: HttpRequest, res: HttpResponse) => void;

/**
 * The status a request that ended before its answer's head was sent (the
 * client left) is counted and logged with, as nginx logs it: nothing was
 * answered, and `res.statusCode` would still say 200.
 */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * The request path of the plain listener (server/http-server.ts builds the
 * servers). `outOfDescriptors` is the server's: a request that fails for
 * want of descriptors counts with the accepts that did.
 */
export function requestListener(app: App, outOfDescriptors: ThrottledLog): RequestListener {
  const addressOptions: ClientAddressOptions = {
    trustedProxies: app.config.trustedProxies,
    onIgnored: (header) => app.metrics.forwardingHeaderIgnored(header),
  };
  return (req, res) => {
    const started = process.hrtime.bigint();
    const client = resolveClient(req, addressOptions);
    const record = newRequestRecord(client.text, app.quarantine?.keyOf(client));
    if (app.tracing !== undefined) record.trace = app.tracing.requestStarted(req.method, req.headers);
    app.metrics.inFlight.inc();
    // A response emits 'close' once: `on` spares the wrapper `once` builds.
    res.on('close', () => {
      app.metrics.inFlight.dec();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const status = res.headersSent ? res.statusCode : CLIENT_CLOSED_REQUEST;
      app.metrics.requestAnswered(record.route, status, record.error, record.bytes);
      app.metrics.requestTimed(record.route, seconds);
      if (record.cache !== undefined) app.metrics.cacheAnswered(record.cache);
      logAccess(app, req, record, status, res.writableFinished, seconds);
      record.trace?.end(record, res.headersSent ? status : undefined);
    });
    let answering: Answering;
    try {
      answering = dispatch(app, req, res, record);
    } catch (error) {
      void refuse(app, req, res, record, error, outOfDescriptors);
      return;
    }
    answering?.catch((error: unknown) => refuse(app, req, res, record, error, outOfDescriptors));
  };
}

/** The answer to a request that failed: its error's status and code, counted towards quarantine when it counts. */
async function refuse(app: App, req: HttpRequest, res: HttpResponse, record: RequestRecord, error: unknown, outOfDescriptors: ThrottledLog): Promise<void> {
  const failure = asRefusal(error);
  logRefusal(app.logger, failure, outOfDescriptors);
  record.error = failure.code;
  const quarantineKey = record.quarantineKey;
  if (quarantineKey !== undefined && countsTowardQuarantine(failure.code)) {
    // Counted before answering: once the client has its answer, its next request sees the count.
    await traced(record.trace, 'quarantine count', () => countRefusal(app, quarantineKey));
  }
  sendError(res, failure, {}, app.errorImage?.for(req));
}

/**
 * The request path of the TLS listener: HTTP/2 and HTTP/1.1 on one port,
 * chosen by ALPN. Node's compatibility API gives an HTTP/2 request and
 * response what the request path uses of node:http's (http/request-response.ts),
 * so one path serves both, an HTTP/2 request with its host taken from
 * `:authority`. The protocol suite runs over both to hold this.
 */
export function secureRequestListener(app: App, outOfDescriptors: ThrottledLog): RequestListener {
  const serve = requestListener(app, outOfDescriptors);
  return (req, res) => {
    if (req.httpVersionMajor === 2) takeHttp2Authority(req);
    serve(req, res);
  };
}

/** The routes that carry credentials: what is left once fixed pages and unknown paths are answered. */
type CredentialRoute = Extract<Route, { kind: 'redirect' | 'proxy' | 'camo' }>;

function dispatch(app: App, req: HttpRequest, res: HttpResponse, record: RequestRecord): Answering {
  const target = route(req.url ?? '/');
  record.route = target.kind;
  if (req.httpVersionMajor === 2 ? req.headers.host === undefined : !hasOneHost(req)) {
    throw new EcamoError('bad-request', 'request needs exactly one Host header (HTTP/2: :authority)');
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new EcamoError('method-not-allowed', `method ${req.method}`);
  switch (target.kind) {
    case 'index':
      sendText(res, 200, 'ecamo: authenticating image proxy\n');
      return;
    case 'health':
      sendText(res, 200, 'ok');
      return;
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
  // Before anything of the request's credentials is parsed or verified.
  const quarantine = app.quarantine;
  const quarantineKey = record.quarantineKey;
  if (quarantine !== undefined && quarantineKey !== undefined) return unlessQuarantined(app, req, res, record, target, quarantine, quarantineKey);
  return handleCredentials(app, req, res, record, target);
}

async function unlessQuarantined(
  app: App,
  req: HttpRequest,
  res: HttpResponse,
  record: RequestRecord,
  target: CredentialRoute,
  quarantine: Quarantine,
  quarantineKey: string,
): Promise<void> {
  const secondsLeft = await traced(record.trace, 'quarantine check', () => quarantine.secondsLeft(quarantineKey));
  if (secondsLeft > 0) {
    record.error = 'quarantined';
    sendError(res, QUARANTINED, { 'retry-after': String(secondsLeft) }, app.errorImage?.for(req));
    return;
  }
  return handleCredentials(app, req, res, record, target);
}

function handleCredentials(app: App, req: HttpRequest, res: HttpResponse, record: RequestRecord, target: CredentialRoute): Answering {
  if (viaEcamo(req.headers.via)) throw new EcamoError('loop-detected', 'request came through an ecamo');
  if (target.kind === 'redirect') return handleRedirect(app, req, res, record, target.token);
  if (target.kind === 'camo') return handleCamo(app, req, res, record, target.digest, target.url);
  return handleProxy(app, req, res, record, target.digest, target.token);
}

/** One instance for every quarantined answer: only its code and status are read. */
const QUARANTINED = new EcamoError('quarantined', 'client address is quarantined');

async function countRefusal(app: App, quarantineKey: string): Promise<void> {
  if (await app.quarantine?.recordFailure(quarantineKey)) {
    app.metrics.quarantineTrips.inc();
    // An IPv6 client's key is its network (2001:db8:1:2::/64).
    app.logger.warn({ client: quarantineKey, periodSeconds: app.config.quarantine?.periodSeconds }, 'client quarantined after refused credentials');
  }
}

function logAccess(app: App, req: HttpRequest, record: RequestRecord, status: number, complete: boolean, seconds: number): void {
  const level = record.error !== undefined && errorAnswer(record.error).log === 'stack' ? 'error' : 'info';
  if (!app.logger.isLevelEnabled(level)) return;
  app.logger[level](
    {
      method: req.method,
      client: record.client,
      route: record.route,
      status,
      complete,
      action: record.action,
      error: record.error,
      service: record.service,
      source: urlForLog(record.source),
      sourceStatus: record.sourceStatus,
      cache: record.cache,
      bytes: record.bytes,
      durationMs: seconds * 1000,
    },
    'access',
  );
}
