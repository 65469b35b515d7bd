import { acceptClass, SOURCE_ACCEPT } from '../cache/accept-class.js';
import { cacheKey, type ImageCache, type Obtained, type Ticket } from '../cache/cache.js';
import { TeeBody } from '../cache/tee.js';
import { EcamoError, refusesAuthentication, SourceResponseError } from '../errors.js';
import { reasonOf } from '../log.js';
import { assertDigestMatches } from '../tokens/digest.js';
import type { NowOrLater } from '../tokens/jws.js';
import type { VerifiedProxyToken } from '../tokens/proxy-token.js';
import type { Abandonable, FetchWatcher, SourceBody, SourceFetch, SourceHeaders, SourceRequest as FetchRequest, SourceResponse, SourceValidators } from '../upstream/fetch.js';
import { assertSourceAllowed } from '../upstream/url-policy.js';
import { type RequestTrace } from '../tracing/index.js';
import type { App } from './app.js';
import { answerFromEntry } from './cached-answer.js';
import { checkContent, checkContentThen, checkedContentType, type ContentWatcher } from './content-check.js';
import { essenceOf } from './media-type.js';
import { urlForLog, type RequestRecord } from './request-record.js';
import { BodyStream } from './stream-body.js';
import { validHeaderValue } from '../upstream/header-value.js';
import { redirectToSource, sendError } from './respond.js';
import { PASSED_ON_ERROR, relayHeaders, successFields } from './source-answer.js';
import { requestScheme } from './service-origin.js';
import type { Answering, HttpRequest, HttpResponse } from './request-response.js';

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
  /** What the response cache keys it by, worked out once: a string used again keeps its hash, so a cached token's lookups hash nothing. */
  readonly cacheKey: string;
  /** `url` as it was parsed when the request was checked: the fetch starts from it instead of parsing it again. */
  readonly parsedUrl: URL;
}

/** The source request for `url`, a source URL parsed and checked (tokens/source-url.ts). */
export function sourceRequestOf(url: URL, service: string, sendToken: boolean): SourceRequest {
  const href = url.href;
  return { url: href, service, sendToken, cacheKey: cacheKey(href, service, sendToken), parsedUrl: url };
}

/** The proxy endpoint and camo URLs only answer on ecamo's own origin. */
export function assertCanonicalHost(req: HttpRequest, config: App['config']): void {
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
export function handleProxy(
  app: App,
  req: HttpRequest,
  res: HttpResponse,
  record: RequestRecord,
  digest: string,
  proxyToken: string | undefined,
): Answering {
  assertCanonicalHost(req, app.config);
  const token = proxyToken ?? '';
  const remembered = app.tokens.rememberedProxyToken(token);
  if (remembered !== undefined) return serveClaims(app, req, res, record, { digest, token, claims: remembered });
  // An HS256 token is verified at once, and its request goes on in this tick; an ES256 one, or any token
  // while the request is traced (its span is a step of its own), when its verification ends.
  const trace = record.trace;
  const claims = trace === undefined ? verifyProxyToken(app, token) : trace.step('verify proxy token', async () => verifyProxyToken(app, token));
  if (claims instanceof Promise) return claims.then((verified) => serveClaims(app, req, res, record, { digest, token, claims: verified }));
  return serveClaims(app, req, res, record, { digest, token, claims });
}

/** A proxy request whose token checked out: its digest and token as they came, and the token's claims. */
interface ProxyCredentials {
  readonly digest: string;
  readonly token: string;
  readonly claims: VerifiedProxyToken;
}

function serveClaims(app: App, req: HttpRequest, res: HttpResponse, record: RequestRecord, { digest, token, claims }: ProxyCredentials): Answering {
  // A token answered from the verified-token cache comes back as the same claims object: with the
  // digest it was admitted with, neither a second SHA-384 nor another cache write is needed, and the
  // source request (with its cache key) is the one built then.
  const admitted = admissions.get(claims);
  const source: SourceRequest =
    admitted?.digest === digest ? admitted.source : sourceRequestOf(claims.sourceUrl, claims.serviceOrigin, claims.sendToken);
  admitSource(app, record, source);
  if (source !== admitted?.source) {
    assertDigestMatches(digest, claims.url);
    if (app.tokens.rememberProxyToken(token, claims)) admissions.set(claims, { digest, source });
  }
  return serveSource(app, req, res, record, source);
}

/** A proxy token not seen before. Only ecamo mints these, so any defect in one is an authentication failure. */
function verifyProxyToken(app: App, token: string): NowOrLater<VerifiedProxyToken> {
  try {
    const claims = app.tokens.verifyProxyToken(token);
    return claims instanceof Promise ? claims.catch(throwAsAuthenticationFailure) : claims;
  } catch (error) {
    return throwAsAuthenticationFailure(error);
  }
}

function throwAsAuthenticationFailure(error: unknown): never {
  if (error instanceof EcamoError && !refusesAuthentication(error.code)) throw new EcamoError('invalid-token', error.message, { cause: error });
  throw error;
}

/** The digest each verified token's claims were admitted with, and the source request they made (see handleProxy). */
const admissions = new WeakMap<VerifiedProxyToken, { readonly digest: string; readonly source: SourceRequest }>();

/**
 * The part every authenticated, admitted source request shares: a document
 * navigation goes to the source itself; anything else is answered from the
 * cache when it holds a fresh copy, else fetched (guarded, bounded, once for
 * concurrent requests) and answered under ecamo's response rules. Every
 * check has run before this point: a refused request learns nothing about
 * what the cache holds.
 */
export function serveSource(app: App, req: HttpRequest, res: HttpResponse, record: RequestRecord, sourceRequest: SourceRequest): Answering {
  if (req.headers['sec-fetch-dest'] === 'document') {
    redirectToSource(res, record, sourceRequest.url, 'src-fetch-dest');
    return;
  }

  // The source is asked with the fixed Accept of the client's class, never the client's own: any
  // Accept a client makes up costs at most one fetch (and one kept variant) per class.
  const variant = acceptClass(validHeaderValue(req.headers, 'accept'));
  const accept = SOURCE_ACCEPT[variant];
  const cache = app.cache;
  if (cache === undefined) return proxyFromSource(app, req, res, record, sourceRequest, accept);
  const key = sourceRequest.cacheKey;
  const now = cache.now();
  const found = cache.lookup(key, variant, now);
  if (typeof found !== 'string') {
    answerFromEntry(res, record, found, 'hit', now);
    return;
  }
  // An image not (yet) worth keeping, of which nothing is kept: as with the cache off.
  if (found === 'stream') return proxyFromSource(app, req, res, record, sourceRequest, accept);
  const ticket = cache.obtain({
    key,
    admission: found,
    query: { url: sourceRequest.url, variant, sendToken: sourceRequest.sendToken },
    trace: record.trace,
    fetch: (validators) => startFetch(app, fetchRequestOf(app, req, sourceRequest, accept, validators, record.trace)),
    admit: (source) => admitResponse(app, source),
  });
  return obtainThenAnswer(app, req, res, record, sourceRequest, { cache, ticket, accept });
}

/** A request the memory tier could not answer: its place in the cache's fetch, and the answer that comes of it. */
async function obtainThenAnswer(
  app: App,
  req: HttpRequest,
  res: HttpResponse,
  record: RequestRecord,
  sourceRequest: SourceRequest,
  { cache, ticket, accept }: { readonly cache: ImageCache; readonly ticket: Ticket; readonly accept: string },
): Promise<void> {
  const obtained: Obtained = await whileClientWaits(res, ticket.outcome, () => ticket.leave());
  switch (obtained.kind) {
    case 'entry':
      record.sourceStatus = obtained.status === 'hit' ? undefined : obtained.status === 'revalidated' ? 304 : 200;
      return answerFromEntry(res, record, obtained.entry, obtained.status, cache.now());
    case 'stream':
      answerFromSource(app, req, res, record, sourceRequest.url, obtained.source, obtained.body, obtained.status);
      return;
    case 'source-error':
      return sendSourceError(app, res, record, sourceRequest.url, obtained.statusCode, obtained.headers);
    case 'pass':
      return proxyFromSource(app, req, res, record, sourceRequest, accept);
  }
}

/**
 * Waits for `pending`, calling `cancel` if the client goes away first: a client that leaves
 * should not keep the source busy. ('close' also follows a complete response: nothing to cancel then.)
 */
async function whileClientWaits<T>(res: HttpResponse, pending: Promise<T>, cancel: () => void): Promise<T> {
  const onClientGone = (): void => {
    if (!res.writableFinished) cancel();
  };
  // on, not once: the finally below removes it either way, and once wraps it in a closure of its own.
  res.on('close', onClientGone);
  try {
    return await pending;
  } finally {
    res.off('close', onClientGone);
  }
}

/** One source fetch, counted in the metrics when it answers: the cache's (its flights wait on promises). */
function startFetch(app: App, request: FetchRequest): SourceFetch {
  const fetchStarted = process.hrtime.bigint();
  const fetching = app.fetcher.fetch(request);
  const response = fetching.response.then(
    (source) => {
      app.metrics.sourceAnswered(source.statusCode, secondsSince(fetchStarted));
      return source;
    },
    (error: unknown) => {
      app.metrics.sourceAnswered('error', secondsSince(fetchStarted));
      throw error;
    },
  );
  return { response, cancel: () => fetching.cancel() };
}

/** What the fetcher is asked for one source request. */
function fetchRequestOf(
  app: App,
  req: HttpRequest,
  sourceRequest: SourceRequest,
  accept: string,
  validators: SourceValidators | undefined,
  trace: RequestTrace | undefined,
): FetchRequest {
  const { config, tokens } = app;
  // Worked out only for a source that gets the ID token: parsing the URL for its origin costs every other request too.
  const authorize = sourceRequest.sendToken
    ? async (): Promise<string> => {
        const idToken = await tokens.signIdToken({
          canonicalOrigin: `${requestScheme(req, config)}://${config.canonicalHost}`,
          sourceOrigin: new URL(sourceRequest.url).origin,
          serviceOrigin: sourceRequest.service,
        });
        return `Bearer ${idToken}`;
      }
    : undefined;
  return { url: sourceRequest.url, parsedUrl: sourceRequest.parsedUrl, accept, authorize, timeoutMs: config.timeoutMs, validators, trace };
}

/** Straight from the source to the client, nothing kept: the cache is off, or another request's answer could not be shared. */
function proxyFromSource(
  app: App,
  req: HttpRequest,
  res: HttpResponse,
  record: RequestRecord,
  sourceRequest: SourceRequest,
  accept: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    new StreamedAnswer(app, req, res, record, sourceRequest.url, resolve, reject).start(fetchRequestOf(app, req, sourceRequest, accept, undefined, record.trace));
  });
}

/**
 * proxyFromSource's steps as one object, driven by the fetch's and the
 * byte check's callbacks from the source's head to the answer's: the
 * common case (one hop, an image its signature tells) runs in the tick
 * its first bytes arrive, with one promise for the whole request (the
 * handler's) and one 'close' listener on the response (docs/performance.md,
 * issue 21). A client that leaves stops the fetch at any step.
 */
class StreamedAnswer implements FetchWatcher, ContentWatcher {
  readonly #started = process.hrtime.bigint();
  #fetching: Abandonable | undefined;
  #stream: BodyStream | undefined;
  #gone = false;
  // 'close' also follows a complete response: nothing to stop then.
  readonly #onClose = (): void => {
    if (!this.res.writableFinished) this.#clientGone();
  };

  constructor(
    private readonly app: App,
    private readonly req: HttpRequest,
    private readonly res: HttpResponse,
    private readonly record: RequestRecord,
    private readonly url: string,
    private readonly resolve: () => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  start(request: FetchRequest): void {
    // on, not once: a response closes once, and once wraps the listener in a closure of its own.
    this.res.on('close', this.#onClose);
    this.#fetching = this.app.fetcher.start(request, this);
  }

  answered(source: SourceResponse): void {
    const app = this.app;
    // No head comes once the client has left: the fetch was abandoned, its exchange aborted.
    app.metrics.sourceAnswered(source.statusCode, secondsSince(this.#started));
    if (source.statusCode !== 200) {
      source.body.discard();
      this.#settle(() => sendSourceError(app, this.res, this.record, this.url, source.statusCode, source.headers));
      return;
    }
    let declared: string | undefined;
    try {
      declared = admitHead(app, source);
    } catch (error) {
      source.body.discard();
      this.reject(error);
      return;
    }
    checkContentThen(source, declared, app.config, app.logger, this);
  }

  failed(error: EcamoError): void {
    this.app.metrics.sourceAnswered('error', secondsSince(this.#started));
    this.reject(error);
  }

  checked(response: SourceResponse): void {
    // A verdict file-type gave after the client left (the fetch abandoned meanwhile).
    if (this.#gone) {
      response.body.discard();
      return;
    }
    this.#settle(() => {
      this.#stream = answerFromSource(this.app, this.req, this.res, this.record, this.url, response, response.body, 'bypass', { watchClient: false });
    });
  }

  refused(error: unknown): void {
    this.reject(error);
  }

  /**
   * The last step: the answer's promise settles as it returns or throws. Only a bug throws
   * (checkedContentType refusing an unchecked response: every header value is checked before
   * writeHead), and it is answered as one (500 `unknown`) instead of thrown into undici's
   * callback, which would abort the source and leave the client without an answer.
   */
  #settle(answer: () => void): void {
    try {
      answer();
      this.resolve();
    } catch (error) {
      this.reject(error);
    }
  }

  #clientGone(): void {
    this.#gone = true;
    if (this.#stream !== undefined) this.#stream.clientGone();
    else this.#fetching?.abandon();
  }
}

function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * A 200 that may be served: its declared length within ECAMO_MAX_LENGTH, its
 * declared type allowed (or none, with ECAMO_SNIFF_UNLABELLED), and its first
 * bytes an allowed image. The response to serve, under the type those bytes
 * show; throws the client's error otherwise, the body let go.
 */
async function admitResponse(app: App, source: SourceResponse): Promise<SourceResponse> {
  try {
    return await checkContent(source, admitHead(app, source), app.config, app.logger);
  } catch (error) {
    source.body.discard();
    throw error;
  }
}

/** The checks of admitResponse that its head alone answers; the essence of its declared type. */
function admitHead(app: App, source: SourceResponse): string | undefined {
  const { config } = app;
  const length = declaredLength(source);
  if (length !== undefined && length > config.maxLength) throw new EcamoError('source-response-too-large', `source declares ${length} bytes`);
  const label = source.headers['content-type'];
  const declared = essenceOf(validHeaderValue(source.headers, 'content-type'));
  const unlabelled = label === undefined && config.sniffUnlabelled;
  if (!unlabelled && (declared === undefined || !config.contentTypeAllowed.has(declared))) {
    throw new EcamoError('unallowed-content-type', `source content-type ${String(label)}`);
  }
  return declared;
}

function declaredLength(source: SourceResponse): number | undefined {
  const value = source.headers['content-length'];
  return typeof value === 'string' ? Number(value) : undefined;
}

/** Streams a source's 200 as it comes (`miss`: the cache keeps a copy on the way, when it arrives whole). */
function answerFromSource(
  app: App,
  req: HttpRequest,
  res: HttpResponse,
  record: RequestRecord,
  url: string,
  source: SourceResponse,
  body: SourceBody,
  cacheStatus: 'miss' | 'bypass',
  { watchClient }: { readonly watchClient: boolean } = { watchClient: true },
): BodyStream | undefined {
  const { config } = app;
  record.action = 'proxy-source';
  record.sourceStatus = source.statusCode;
  record.cache = cacheStatus;
  try {
    const fields = successFields(config, {
      url,
      contentType: checkedContentType(source),
      // The defaults are for images: an error must not be kept for their hour (sendSourceError).
      cacheControl: validHeaderValue(source.headers, 'cache-control') ?? config.defaultCacheControl,
      sourceHeader: (name) => validHeaderValue(source.headers, name),
      length: declaredLength(source),
    });
    fields.push('x-ecamo-cache', cacheStatus);
    res.writeHead(200, fields);
  } catch (error) {
    // A bug only (see StreamedAnswer's #settle): the source is let go before the 500.
    body.discard();
    throw error;
  }

  if (req.method === 'HEAD') {
    // What a GET would get, without the body. The source was asked with a GET (its own HEAD may answer
    // otherwise, and leaves nothing to keep): a body the cache keeps is read on without the client, so
    // the GET that usually follows is a hit; any other body is not read (docs/caching.md, HEAD).
    if (body instanceof TeeBody) body.keepWithoutClient();
    else body.discard();
    res.end();
    return undefined;
  }

  const stream = new BodyStream(body, res, config.maxLength, record, (error) => {
    // An expected failure of someone else's server: what and why, in one line; stacks are for bugs.
    app.logger.warn({ source: urlForLog(url), code: error.code, reason: reasonOf(error) }, 'source stream failed');
  });
  stream.start({ watchClient });
  return stream;
}

/**
 * A source error is relayed as not storable: a 503 or 429 passes, and a
 * browser or CDN that kept it would show a broken image long after the source
 * recovered. A 404 or 410 is as lasting as its source says, when it says so.
 * (ecamo's own cache never keeps one.) The status is the source's, relayed
 * as data (SourceResponseError), not one of ecamo's codes.
 */
function sendSourceError(app: App, res: HttpResponse, record: RequestRecord, url: string, sourceStatus: number, sourceHeaders: SourceHeaders): void {
  record.action = 'proxy-source';
  record.sourceStatus = sourceStatus;
  record.cache = 'bypass';
  const sourceCacheControl = validHeaderValue(sourceHeaders, 'cache-control');
  const lasting = (sourceStatus === 404 || sourceStatus === 410) && sourceCacheControl !== undefined;
  const headers: Record<string, string> = { ...relayHeaders(url), 'x-ecamo-cache': 'bypass', 'cache-control': lasting ? sourceCacheControl : 'no-store' };
  for (const name of PASSED_ON_ERROR) {
    const value = validHeaderValue(sourceHeaders, name);
    if (value !== undefined) headers[name] = value;
  }
  record.error = 'source-response';
  sendError(res, new SourceResponseError(sourceStatus), headers, app.errorImage?.for(res.req));
}
