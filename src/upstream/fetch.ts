import type { AddressRanges } from '../config/ip-address.js';
import { SourceAgents } from './agents.js';
import { Deadline } from './deadline.js';
import { Exchange, sourceError, type ExchangeObserver, type SourceBody, type SourceHeaders } from './exchange.js';
import { nextHop, redirectLocation } from './redirects.js';
import type { SourcePolicy, UrlMatcher } from './url-policy.js';

export type { BodySink, SourceBody, SourceHeaders } from './exchange.js';

export interface SourceRequest {
  readonly url: string;
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
    const deadline = new Deadline(request.timeoutMs);
    const response = this.#follow(request, deadline).catch((error: unknown) => {
      deadline.clear();
      throw sourceError(error);
    });
    return { response, cancel: () => deadline.abandon() };
  }

  async close(): Promise<void> {
    await this.#agents.close();
  }

  async #follow(request: SourceRequest, deadline: Deadline): Promise<SourceResponse> {
    let url = new URL(request.url);
    const firstOrigin = url.origin;
    for (let hop = 0; ; hop++) {
      // URL's origin getter builds a new string on every read.
      const origin = hop === 0 ? firstOrigin : url.origin;
      const headers: Record<string, string> = { 'accept-encoding': 'identity', via: '1.1 ecamo', 'user-agent': this.#options.userAgent };
      if (request.accept !== undefined) headers.accept = request.accept;
      if (request.validators !== undefined) Object.assign(headers, request.validators);
      if (request.authorize !== undefined && origin === firstOrigin) headers.authorization = await request.authorize();

      const exchange = new Exchange(deadline, url.protocol === 'https:', request.trace?.hop(url, headers));
      this.#agents.for(url).dispatch({ origin, path: url.pathname + url.search, method: 'GET', headers }, exchange);
      const { statusCode, headers: responseHeaders } = await exchange.started;
      const location = redirectLocation(statusCode, responseHeaders);
      if (location === undefined || hop >= this.#options.maxRedirects) {
        return { url: url.href, statusCode, headers: responseHeaders, body: exchange };
      }
      exchange.skip();
      url = nextHop(url, location, this.#options);
    }
  }
}

