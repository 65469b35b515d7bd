import type { AddressRanges } from '../config/ip-address.js';
import { SourceAgents } from './agents.js';
import { Deadline } from './deadline.js';
import { Exchange, sourceError, type ExchangeObserver, type HeadWatcher, type SourceBody, type SourceHeaders } from './exchange.js';
import type { EcamoError } from '../errors.js';
import { nextHop, redirectLocation } from './redirects.js';
import type { SourcePolicy, UrlMatcher } from './url-policy.js';

export type { BodySink, SourceBody, SourceHeaders } from './exchange.js';

export interface SourceRequest {
  readonly url: string;
  /**
   * `url` as the caller already parsed it, if it did: the first hop starts
   * from it, so that a request parses its source URL once. Used only while
   * it still serialises to `url`; otherwise `url` is parsed anew.
   */
  readonly parsedUrl?: URL | undefined;
  /** The Accept to send: the fixed one of the client's class (cache/accept-class.ts), the only trace of a client header. */
  readonly accept: string | undefined;
  /**
   * Makes the Authorization value for one hop: called for every hop on the
   * first URL's origin (each gets a fresh ID token, so a source that refuses
   * replayed `jti`s accepts its own redirects), never for other origins.
   */
  readonly authorize: (() => Promise<string>) | undefined;
  /** For the whole fetch, body included. */
  readonly timeoutMs: number;
  /** Asks the source whether a kept copy is still current (a 304 if so). */
  readonly validators?: SourceValidators | undefined;
  /** Traces each hop (src/tracing/). */
  readonly trace?: HopObserver | undefined;
}

/** Watches the hops of a fetch: called as each is about to be sent, it may add headers (a traceparent). */
export interface HopObserver {
  hop(url: URL, headers: Record<string, string>): ExchangeObserver;
}

export interface SourceValidators {
  readonly 'if-none-match'?: string;
  readonly 'if-modified-since'?: string;
}

export interface SourceResponse {
  readonly url: string;
  readonly statusCode: number;
  readonly headers: SourceHeaders;
  readonly body: SourceBody;
}

/** One fetch in progress: its response, and a way to abandon it (the client went away). */
export interface SourceFetch {
  readonly response: Promise<SourceResponse>;
  cancel(): void;
}

/** Told how a fetch went, once: the last hop's head (its body waiting for a sink), or the client's error. */
export interface FetchWatcher {
  answered(response: SourceResponse): void;
  failed(error: EcamoError): void;
}

/** A fetch under way, to abandon (the client went away): nothing is told of it afterwards but a failure before its head. */
export interface Abandonable {
  abandon(): void;
}

/** The allow/block lists apply to every hop, as does the private-address rule. */
export interface FetcherOptions extends SourcePolicy {
  readonly maxRedirects: number;
  readonly privateSourceAllowedRegexp: UrlMatcher | undefined;
  /** Addresses no hop may connect to, private ones allowed or not (ECAMO_SOURCE_BLOCKED_CIDRS). */
  readonly sourceBlockedCidrs?: AddressRanges | undefined;
  /** Sent on every hop: many image hosts refuse a request without one. */
  readonly userAgent: string;
  /** Test hook: connection options for both pools (e.g. trusted CA). */
  readonly connect?: { readonly ca?: string | Buffer };
}

/**
 * Fetches sources through two keep-alive pools: one whose sockets may only
 * reach global addresses, and one for URLs the operator allowed to be private.
 * Redirects are followed here, hop by hop, so that each hop picks its pool
 * (and so gets its address checked) and its scheme is re-validated.
 *
 * It drives undici's dispatch API directly rather than `request()`: the body
 * goes from undici's parser to the sink with no Readable, AbortController or
 * async resource in between, which is most of the per-response allocation
 * on a small image.
 */
export class SourceFetcher {
  readonly #agents: SourceAgents;
  readonly #options: FetcherOptions;

  constructor(options: FetcherOptions) {
    this.#options = options;
    this.#agents = new SourceAgents(options.privateSourceAllowedRegexp, options.sourceBlockedCidrs, options.connect);
  }

  fetch(request: SourceRequest): SourceFetch {
    let fetching!: Abandonable;
    const response = new Promise<SourceResponse>((resolve, reject) => {
      fetching = this.start(request, { answered: resolve, failed: reject });
    });
    return { response, cancel: () => fetching.abandon() };
  }

  /**
   * fetch told by callbacks: the head of the last hop comes from inside
   * undici's own callback, with no promise on the way unless a hop waits
   * for its ID token (docs/performance.md, issue 21).
   */
  start(request: SourceRequest, watcher: FetchWatcher): Abandonable {
    const deadline = new Deadline(request.timeoutMs);
    let hops: Hops;
    try {
      hops = new Hops(this.#agents, this.#options, request, deadline, watcher);
    } catch (error) {
      deadline.clear();
      watcher.failed(sourceError(error));
      return deadline;
    }
    hops.send();
    return deadline;
  }

  async close(): Promise<void> {
    await this.#agents.close();
  }
}

/** The hops of one fetch, each re-checked: the redirects it follows, up to the last, whose head is the answer. */
class Hops implements HeadWatcher {
  #url: URL;
  readonly #firstOrigin: string;
  #hop = 0;

  constructor(
    private readonly agents: SourceAgents,
    private readonly options: FetcherOptions,
    private readonly request: SourceRequest,
    private readonly deadline: Deadline,
    private readonly watcher: FetchWatcher,
  ) {
    const parsed = request.parsedUrl;
    this.#url = parsed !== undefined && parsed.href === request.url ? parsed : new URL(request.url);
    this.#firstOrigin = this.#url.origin;
  }

  send(): void {
    const request = this.request;
    // URL's origin getter builds a new string on every read.
    const origin = this.#hop === 0 ? this.#firstOrigin : this.#url.origin;
    const headers: Record<string, string> = { 'accept-encoding': 'identity', via: '1.1 ecamo', 'user-agent': this.options.userAgent };
    if (request.accept !== undefined) headers.accept = request.accept;
    if (request.validators !== undefined) Object.assign(headers, request.validators);
    if (request.authorize === undefined || origin !== this.#firstOrigin) {
      this.#dispatch(origin, headers);
      return;
    }
    request.authorize().then(
      (authorization) => {
        headers.authorization = authorization;
        this.#dispatch(origin, headers);
      },
      (error: unknown) => this.failed(error),
    );
  }

  // No try/catch: undici's dispatch throws only for a handler that is not an object; any other failure
  // (a header it refuses, a pool closed at shutdown) reaches the exchange's onResponseError, as a refused
  // connection does (test/upstream/fetch.test.ts).
  #dispatch(origin: string, headers: Record<string, string>): void {
    const url = this.#url;
    const exchange = new Exchange(this.deadline, url.protocol === 'https:', this, this.request.trace?.hop(url, headers));
    this.agents.for(url).dispatch({ origin, path: url.pathname + url.search, method: 'GET', headers }, exchange);
  }

  head(exchange: Exchange, statusCode: number, headers: SourceHeaders): void {
    const location = redirectLocation(statusCode, headers);
    if (location === undefined || this.#hop >= this.options.maxRedirects) {
      this.watcher.answered({ url: this.#url.href, statusCode, headers, body: exchange });
      return;
    }
    exchange.skip();
    try {
      this.#url = nextHop(this.#url, location, this.options);
    } catch (error) {
      this.failed(error);
      return;
    }
    this.#hop++;
    this.send();
  }

  failed(error: unknown): void {
    this.deadline.clear();
    this.watcher.failed(sourceError(error));
  }
}
