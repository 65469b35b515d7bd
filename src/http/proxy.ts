import type { IncomingMessage, ServerResponse } from 'node:http';
import { EcamoError, SourceResponseError } from '../errors.js';
import { assertDigestMatches } from '../tokens/digest.js';
import type { SourceResponse } from '../upstream/fetch.js';
import { assertSourceAllowed } from '../upstream/url-policy.js';
import type { App } from './app.js';
import { essenceOf } from './media-type.js';
import { urlForLog, type RequestRecord } from './request-record.js';
import { streamBody } from './stream-body.js';
import { SOURCE_CSP, redirectToSource, sendError, validHeaderValue } from './respond.js';
import { requestScheme } from './service-origin.js';

/** Source headers passed to the client with a 200, besides Content-Type and Content-Length (handled apart). */
const PASSED_ON_SUCCESS: readonly string[] = [
  'etag', // lets browsers and CDNs revalidate
  'expires', // the source's own freshness
  'last-modified', // revalidation
  'vary', // what the source's representation depends on (e.g. Accept for webp/avif)
];

/** Source headers passed with a source error (no etag: the body is ours, not the source's). */
const PASSED_ON_ERROR: readonly string[] = ['expires', 'last-modified', 'vary'];

/**
 * What the shared pipeline fetches once a request is authenticated. Both the
 * Ecamo proxy endpoint and camo-format URLs describe their source this way,
 * so every policy, cache and counter downstream sees one shape.
 */
export interface SourceRequest {
  /** The source URL, WHATWG-serialised: what policies, fetch and logs use. */
  readonly url: string;
  /** The service origin that embeds the image, or a fixed marker for requests that name none (camo). */
  readonly service: string;
  /** Present ecamo's anonymous ID token to the source. */
  readonly sendToken: boolean;
}

/** The proxy endpoint and camo URLs only answer on ecamo's own origin. */
export function assertCanonicalHost(req: IncomingMessage, config: App['config']): void {
  if (req.headers.host !== config.canonicalHost) {
    throw new EcamoError('not-found', 'proxy endpoint only works on the canonical origin');
  }
}

/** Records the source and applies the operator's source policy (403 `unallowed-source`). */
export function admitSource(app: App, record: RequestRecord, source: SourceRequest): void {
  record.service = source.service;
  record.source = source.url;
  assertSourceAllowed(source.url, app.config);
}

/** `/{prefix}/v1/p/{DIGEST}?t={PROXY_TOKEN}` on the canonical origin, in the order of docs/protocol.md §7. */
export async function handleProxy(
  app: App,
  req: IncomingMessage,
  res: ServerResponse,
  record: RequestRecord,
  digest: string,
  proxyToken: string | undefined,
): Promise<void> {
  assertCanonicalHost(req, app.config);
  const token = proxyToken ?? '';
  let claims;
  try {
    claims = await app.tokens.verifyProxyToken(token);
  } catch (error) {
    // Only ecamo mints these, so any defect in one is an authentication failure.
    if (error instanceof EcamoError && error.status === 400) throw new EcamoError('invalid-token', error.message, { cause: error });
    throw error;
  }
  const source: SourceRequest = { url: claims.url, service: claims.serviceOrigin, sendToken: claims.sendToken };
  admitSource(app, record, source);
  assertDigestMatches(digest, claims.url);
  app.tokens.rememberProxyToken(token, claims);
  return serveSource(app, req, res, record, source);
}

/**
 * The part every authenticated, admitted source request shares: a document
 * navigation goes to the source itself; anything else is fetched (guarded,
 * bounded) and streamed back under ecamo's response rules.
 */
export async function serveSource(app: App, req: IncomingMessage, res: ServerResponse, record: RequestRecord, sourceRequest: SourceRequest): Promise<void> {
  const { config, tokens } = app;
  if (req.headers['sec-fetch-dest'] === 'document') return redirectToSource(res, record, sourceRequest.url, 'src-fetch-dest');

  const idTokenClaims = {
    canonicalOrigin: `${requestScheme(req, config)}://${config.canonicalHost}`,
    sourceOrigin: new URL(sourceRequest.url).origin,
    serviceOrigin: sourceRequest.service,
  };
  const authorize = sourceRequest.sendToken ? async (): Promise<string> => `Bearer ${await tokens.signIdToken(idTokenClaims)}` : undefined;

  const fetchStarted = process.hrtime.bigint();
  const fetching = app.fetcher.fetch({ url: sourceRequest.url, accept: validHeaderValue(req.headers, 'accept'), authorize, timeoutMs: config.timeoutMs });
  // A client that goes away should not keep the source busy. ('close' also follows a complete response: nothing to cancel then.)
  const onClientGone = (): void => {
    if (!res.writableFinished) fetching.cancel();
  };
  res.once('close', onClientGone);
  let source: SourceResponse;
  try {
    source = await fetching.response;
    app.metrics.sourceAnswered(source.statusCode, secondsSince(fetchStarted));
  } catch (error) {
    app.metrics.sourceAnswered('error', secondsSince(fetchStarted));
    throw error;
  } finally {
    res.off('close', onClientGone);
  }
  record.action = 'proxy-source';
  record.sourceStatus = source.statusCode;

  const common: Record<string, string> = {
    'x-ecamo-action': 'proxy-source',
    'x-ecamo-source': sourceRequest.url,
    'x-frame-options': 'deny',
    'x-content-type-options': 'nosniff',
    'content-security-policy': SOURCE_CSP,
  };

  if (source.statusCode !== 200) {
    source.body.discard();
    return sendSourceError(res, record, source, common);
  }

  try {
    const declaredLength = source.headers['content-length'];
    const length = typeof declaredLength === 'string' ? Number(declaredLength) : undefined;
    if (length !== undefined && length > config.maxLength) throw new EcamoError('source-response-too-large', `source declares ${length} bytes`);
    const contentType = essenceOf(validHeaderValue(source.headers, 'content-type'));
    if (contentType === undefined || !config.contentTypeAllowed.has(contentType)) {
      throw new EcamoError('unallowed-content-type', `source content-type ${String(source.headers['content-type'])}`);
    }

    // The defaults are for images: an error must not be kept for their hour (sendSourceError).
    const headers: Record<string, string | number> = {
      ...common,
      'content-type': contentType,
      'cache-control': validHeaderValue(source.headers, 'cache-control') ?? config.defaultCacheControl,
    };
    if (config.defaultSurrogateControl !== undefined) headers['surrogate-control'] = config.defaultSurrogateControl;
    for (const name of PASSED_ON_SUCCESS) {
      const value = validHeaderValue(source.headers, name);
      if (value !== undefined) headers[name] = value;
    }
    if (length !== undefined) headers['content-length'] = length;
    res.writeHead(200, headers);
  } catch (error) {
    source.body.discard();
    throw error;
  }

  if (req.method === 'HEAD') {
    source.body.discard();
    res.end();
    return;
  }

  streamBody(source.body, res, config.maxLength, record, (error) => {
    app.logger.warn({ err: error, source: urlForLog(sourceRequest.url) }, 'source stream failed');
  });
}

function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * A source error is relayed as not storable: a 503 or 429 passes, and a
 * browser or CDN that kept it would show a broken image long after the source
 * recovered. A 404 or 410 is as lasting as its source says, when it says so.
 */
function sendSourceError(res: ServerResponse, record: RequestRecord, source: SourceResponse, common: Record<string, string>): void {
  const sourceCacheControl = validHeaderValue(source.headers, 'cache-control');
  const lasting = (source.statusCode === 404 || source.statusCode === 410) && sourceCacheControl !== undefined;
  const headers: Record<string, string> = { ...common, 'cache-control': lasting ? sourceCacheControl : 'no-store' };
  for (const name of PASSED_ON_ERROR) {
    const value = validHeaderValue(source.headers, name);
    if (value !== undefined) headers[name] = value;
  }
  record.error = 'source-response';
  sendError(res, new SourceResponseError(source.statusCode), headers);
}
