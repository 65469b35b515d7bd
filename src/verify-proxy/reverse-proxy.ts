/**
 * The verify-proxy, started by `ecamo verify-proxy` (run.ts):
 * put in front of an image source that must only serve ecamo. Admits a
 * request only with a valid ecamo ID token (401 with `x-ecamo-error` otherwise; 503 while ecamo's keys are unreachable), and
 * forwards it to the upstream without the token or any client-supplied
 * `x-ecamo-*` header, adding `x-ecamo-service: <service origin>`. Bodies
 * stream both ways; nothing is buffered.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Agent, type Dispatcher } from 'undici';
import { asRefusal, EcamoError, isOutOfDescriptors, type EcamoErrorCode } from '../errors.js';
import { outOfDescriptorsLog, type Logger } from '../log.js';
import { answerClientErrors, drainable, listen, logRefusal, logServerErrors, sendError } from '../server/kit.js';
import type { SharedRedis } from '../state/redis.js';
import { IdTokenError, type IdTokenVerifier } from '../verify/index.js';

// node:http through CommonJS, not an ES import: see the node:http rule in eslint.config.js.
const nodeHttp = process.getBuiltinModule('node:http');

/** Meaningful for one connection only (RFC 9110 section 7.6.1), plus whatever Connection names. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate'];
const VIA = '1.1 ecamo-verify-proxy';

/** What one request did, logged once as its access line. */
interface ProxyRecord {
  error?: EcamoErrorCode;
  service?: string;
}

export interface VerifyProxyOptions {
  /** Where admitted requests go; its path is a prefix of theirs. */
  readonly upstream: URL;
  readonly verifier: IdTokenVerifier;
  readonly listen: { readonly host: string; readonly port: number };
  readonly logger: Logger;
  /** The Redis connection behind the verifier's replay store (--redis-url), closed with the proxy. */
  readonly redis?: SharedRedis;
  /** Services admitted (their ID token's `ecamo:svc` matches one); every service when empty. Compiled for RE2 (config/regexp.ts). */
  readonly serviceOriginRegexps?: readonly Pick<RegExp, 'test'>[];
}

export interface RunningVerifyProxy {
  readonly url: string;
  readonly port: number;
  /** True from the moment close() is called. */
  readonly draining: boolean;
  /** Stops accepting, lets responses in flight finish for up to `graceMs` (default 0), then cuts the rest, as `ecamo serve` does. */
  close(graceMs?: number): Promise<void>;
}

export async function startVerifyProxy(options: VerifyProxyOptions): Promise<RunningVerifyProxy> {
  const agent = new Agent();
  const outOfDescriptors = outOfDescriptorsLog(options.logger);
  const server = nodeHttp.createServer((req, res) => {
    const started = process.hrtime.bigint();
    const record: ProxyRecord = {};
    res.once('close', () => {
      options.logger.info(
        { method: req.method, path: req.url?.split('?')[0], status: res.statusCode, complete: res.writableFinished, ...record, durationMs: Number(process.hrtime.bigint() - started) / 1e6 },
        'access',
      );
    });
    handle(req, res, record, options, agent).catch((error: unknown) => {
      const failure = asRefusal(error);
      logRefusal(options.logger, failure, outOfDescriptors);
      record.error = failure.code;
      sendError(res, failure);
    });
  });
  answerClientErrors(server);
  logServerErrors(server, options.logger, outOfDescriptors);
  const drain = drainable(server);
  const { url, port } = await listen(server, options.listen);
  return {
    url,
    port,
    get draining() {
      return drain.draining;
    },
    async close(graceMs = 0) {
      await drain.drain(graceMs);
      await agent.close();
      await options.redis?.close();
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  record: ProxyRecord,
  options: VerifyProxyOptions,
  agent: Agent,
): Promise<void> {
  // Origin-form only: an absolute-form target would make this an open forward proxy's look-alike.
  if (req.url === undefined || !req.url.startsWith('/')) throw new EcamoError('bad-request', 'request target is not origin-form');
  if (!staysUnderBase(req.url)) throw new EcamoError('bad-request', 'path could leave the upstream base path (dot segments, separators, empty segments, as is or decoded again)');
  let serviceOrigin: string;
  try {
    serviceOrigin = (await options.verifier.verify(req.headers.authorization)).serviceOrigin;
  } catch (error) {
    // An EcamoError is the replay store's own refusal (--replay-store-required while Redis is unavailable).
    throw error instanceof IdTokenError ? new EcamoError(error.code, error.message, { cause: error }) : error;
  }
  record.service = serviceOrigin;
  const admitted = options.serviceOriginRegexps ?? [];
  if (admitted.length > 0 && !admitted.some((regexp) => regexp.test(serviceOrigin))) {
    throw new EcamoError('unallowed-service', `service ${serviceOrigin} is not admitted`);
  }

  // If the client goes away, so does the upstream request.
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  const base = options.upstream.pathname.replace(/\/$/, '');
  let answer: Dispatcher.ResponseData;
  try {
    answer = await agent.request({
      origin: options.upstream.origin,
      path: `${base}${req.url}`,
      method: req.method as Dispatcher.HttpMethod,
      headers: upstreamRequestHeaders(req.headers, serviceOrigin),
      // A GET has no body; handing undici the empty stream would make it send a chunked one.
      body: hasBody(req.headers) ? req : null,
      signal: controller.signal,
    });
  } catch (error) {
    if (controller.signal.aborted) return;
    if (isOutOfDescriptors(error)) throw new EcamoError('overloaded', 'out of file descriptors', { cause: error });
    throw new EcamoError('upstream-request', 'upstream request failed', { cause: error });
  }
  try {
    res.writeHead(answer.statusCode, withoutHopByHop(answer.headers));
  } catch (error) {
    // Node refuses header values it would not send; that is the upstream's fault, not ours.
    answer.body.on('error', () => {}).destroy();
    throw new EcamoError('upstream-response', 'upstream response headers refused', { cause: error });
  }
  try {
    await pipeline(answer.body, res);
  } catch {
    // The client left or the upstream broke off mid-body; pipeline has destroyed both sides.
  }
}

/** How many times a segment is decoded to look for a hidden dot segment or separator. */
const DECODINGS = 3;

/**
 * Whether a request path, appended to the upstream's base path, stays under
 * it for any upstream, even one that decodes twice or normalises Unicode
 * (NFKC, which makes U+FF0E a `.` and U+FF0F a `/`): no segment that is, or
 * decodes to, `.` or `..`; no `/` or `\` in encoded form nor a raw backslash,
 * which an upstream might take for a separator (and so find a dot segment
 * ecamo did not see); no empty segment (`//`), which some upstreams merge and
 * others treat as a level. (Raw bytes beyond ASCII never get here: node:http's
 * parser refuses them.) ecamo's own requests never carry these (URLs are
 * normalised before they are fetched).
 */
function staysUnderBase(target: string): boolean {
  const queryAt = target.indexOf('?');
  const path = queryAt === -1 ? target : target.slice(0, queryAt);
  const segments = path.split('/').slice(1);
  // The trailing slash of a directory is the only empty segment allowed.
  return segments.every((segment, i) => (segment !== '' || i === segments.length - 1) && !segmentEscapes(segment));
}

/** Whether a segment is a dot segment or holds a separator, as it is or once decoded up to DECODINGS times. */
function segmentEscapes(segment: string): boolean {
  if (escapes(segment)) return true;
  let decoded = segment;
  for (let round = 0; round < DECODINGS && decoded.includes('%'); round++) {
    try {
      decoded = decodeURIComponent(decoded);
    } catch {
      // Broken percent-encoding at the first decoding; at a later one, a literal `%` in a name.
      return round === 0;
    }
    if (escapes(decoded)) return true;
  }
  return false;
}

/** A decoded segment that is a dot segment or holds a separator, as is or after NFKC. */
function escapes(decoded: string): boolean {
  return [decoded, decoded.normalize('NFKC')].some((form) => form === '.' || form === '..' || /[/\\\0]/.test(form));
}

function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return length === undefined ? headers['transfer-encoding'] !== undefined : length !== '0';
}

function hopByHopNames(connection: string | string[] | undefined): Set<string> {
  const names = new Set(HOP_BY_HOP);
  for (const name of [connection ?? []].flat().join(',').split(',')) {
    if (name.trim() !== '') names.add(name.trim().toLowerCase());
  }
  return names;
}

function withoutHopByHop(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const drop = hopByHopNames(headers.connection);
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !drop.has(name)) kept[name] = value;
  }
  return kept;
}

/**
 * What the upstream sees: the client's end-to-end headers, minus the token
 * (it is ours, and replayable while it lives) and any `x-ecamo-*` (only this
 * proxy may say which service a request is for), also spelt with underscores;
 * Host is the upstream's.
 */
function upstreamRequestHeaders(headers: IncomingHttpHeaders, serviceOrigin: string): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(withoutHopByHop(headers))) {
    // Some servers (CGI-style environments, several frameworks) read `x_ecamo_service` as `x-ecamo-service`.
    if (name === 'host' || name === 'authorization' || name.replace(/_/g, '-').startsWith('x-ecamo-')) continue;
    // Node's server already answered `Expect: 100-continue`; undici refuses the header outright.
    if (name === 'expect') continue;
    kept[name] = value;
  }
  kept['x-ecamo-service'] = serviceOrigin;
  kept.via = headers.via === undefined ? VIA : `${headers.via}, ${VIA}`;
  return kept;
}
