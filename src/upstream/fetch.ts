import { Agent, buildConnector, type Dispatcher } from 'undici';
import { EcamoError, findEcamoError, isOutOfDescriptors } from '../errors.js';
import { assertSourceAllowed, type SourcePolicy } from './url-policy.js';
import { guardedConnector } from './guarded-connect.js';
import { closingUnusedConnections } from './unused-connections.js';

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

export interface SourceRequest {
  readonly url: string;
  /** The client's Accept header, the only client header passed on. */
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
}

export interface SourceValidators {
  readonly 'if-none-match'?: string;
  readonly 'if-modified-since'?: string;
}

export type SourceHeaders = Record<string, string | string[] | undefined>;

export interface SourceResponse {
  readonly url: string;
  readonly statusCode: number;
  readonly headers: SourceHeaders;
  readonly body: SourceBody;
}

/** Receives a source body; `data` returning false pauses the source until `SourceBody.resume()`. */
export interface BodySink {
  data(chunk: Buffer): boolean;
  end(): void;
  /** Already mapped for the client (timeout: 504). */
  error(error: EcamoError): void;
}

/** A source body that waits (its connection paused) until it is sent somewhere or thrown away. */
export interface SourceBody {
  flow(sink: BodySink): void;
  resume(): void;
  /** Stops the transfer; nothing is reported to any sink afterwards. */
  discard(): void;
}

/** One fetch in progress: its response, and a way to abandon it (the client went away). */
export interface SourceFetch {
  readonly response: Promise<SourceResponse>;
  cancel(): void;
}

/** The allow/block lists apply to every hop, as does the private-address rule. */
export interface FetcherOptions extends SourcePolicy {
  readonly maxRedirects: number;
  readonly privateSourceAllowedRegexp: RegExp | undefined;
  /** Test hook: connection options for both pools (e.g. trusted CA). */
  readonly connect?: { readonly ca?: string | Buffer };
}

/** Reason for a transfer nobody wants any more; never reported. */
class AbandonedError extends Error {
  override readonly name = 'AbandonedError';
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
  readonly #guarded: Agent;
  readonly #open: Agent;
  readonly #options: FetcherOptions;

  constructor(options: FetcherOptions) {
    this.#options = options;
    const pool = { keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connections: 256 };
    this.#guarded = new Agent({ ...pool, connect: closingUnusedConnections(guardedConnector({ ...options.connect })) });
    this.#open = new Agent({ ...pool, connect: closingUnusedConnections(buildConnector({ ...options.connect })) });
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
    await Promise.all([this.#guarded.close(), this.#open.close()]);
  }

  async #follow(request: SourceRequest, deadline: Deadline): Promise<SourceResponse> {
    let url = new URL(request.url);
    const firstOrigin = url.origin;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'accept-encoding': 'identity', via: '1.1 ecamo' };
      if (request.accept !== undefined) headers.accept = request.accept;
      if (request.validators !== undefined) Object.assign(headers, request.validators);
      if (request.authorize !== undefined && url.origin === firstOrigin) headers.authorization = await request.authorize();

      const allowPrivate = this.#options.privateSourceAllowedRegexp?.test(url.href) ?? false;
      const exchange = new Exchange(deadline);
      (allowPrivate ? this.#open : this.#guarded).dispatch({ origin: url.origin, path: url.pathname + url.search, method: 'GET', headers }, exchange);
      const { statusCode, headers: responseHeaders } = await exchange.started;
      const location = responseHeaders.location;
      if (!REDIRECT_STATUSES.has(statusCode) || typeof location !== 'string' || hop >= this.#options.maxRedirects) {
        return { url: url.href, statusCode, headers: responseHeaders, body: exchange };
      }
      exchange.skip();
      url = nextHop(url, location);
      // An allowed source must not lead ecamo to one the operator refused (an open redirect would).
      assertSourceAllowed(url.href, this.#options);
    }
  }
}

/** The whole-fetch timer, and the one exchange it currently governs. */
class Deadline {
  #timer: NodeJS.Timeout | undefined;
  #current: Exchange | undefined;
  #reason: Error | undefined;

  constructor(timeoutMs: number) {
    this.#timer = setTimeout(() => this.#stop(new EcamoError('source-request', 'source timed out', { status: 504 })), timeoutMs);
  }

  /** The exchange now in flight; it is stopped at once if the fetch already was. */
  govern(exchange: Exchange): void {
    this.#current = exchange;
    if (this.#reason !== undefined) exchange.stop(this.#reason);
  }

  abandon(): void {
    this.#stop(new AbandonedError('client went away'));
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#current = undefined;
  }

  #stop(reason: Error): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#current?.stop(reason);
  }
}

/**
 * One request/response with a source, as an undici dispatch handler. The
 * connection is paused from the response head until the body is given a
 * sink (or discarded), so nothing is read that nobody will write.
 */
class Exchange implements Dispatcher.DispatchHandler, SourceBody {
  readonly started: Promise<{ statusCode: number; headers: SourceHeaders }>;
  #resolveStart!: (head: { statusCode: number; headers: SourceHeaders }) => void;
  #rejectStart!: (error: unknown) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #pendingStop: Error | undefined;
  /** Where the body goes: set exactly while #state is 'flowing'. */
  #sink: BodySink | undefined;
  #state: 'connecting' | 'head' | 'flowing' | 'done' = 'connecting';
  /** How the transfer ended while it still waited for a sink: told to the sink when it comes. */
  #endedEarly: { readonly error: EcamoError | undefined } | undefined;

  constructor(private readonly deadline: Deadline) {
    this.started = new Promise((resolve, reject) => {
      this.#resolveStart = resolve;
      this.#rejectStart = reject;
    });
    deadline.govern(this);
  }

  stop(reason: Error): void {
    if (this.#controller === undefined) this.#pendingStop = reason;
    else this.#controller.abort(reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#pendingStop !== undefined) controller.abort(this.#pendingStop);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: SourceHeaders): void {
    if (statusCode < 200) return; // 1xx: the real head follows
    this.#state = 'head';
    controller.pause();
    this.#resolveStart({ statusCode, headers });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#sink?.data(chunk) === false) controller.pause();
  }

  onResponseEnd(): void {
    if (this.#state === 'head') this.#endedEarly = { error: undefined };
    const sink = this.#sink;
    if (sink === undefined) return;
    this.#finish();
    sink.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const state = this.#state;
    if (state === 'done') return;
    if (state === 'connecting') {
      this.#finish();
      this.#rejectStart(error);
      return;
    }
    if (error instanceof AbandonedError) {
      // Stopped on purpose (client gone): nobody is waiting for the news.
      this.#finish();
      return;
    }
    if (state === 'head') {
      this.#endedEarly = { error: sourceError(error) };
      return;
    }
    const sink = this.#sink;
    this.#finish();
    sink?.error(sourceError(error));
  }

  flow(sink: BodySink): void {
    if (this.#state !== 'head') return;
    const early = this.#endedEarly;
    if (early !== undefined) {
      this.#finish();
      if (early.error === undefined) sink.end();
      else sink.error(early.error);
      return;
    }
    this.#state = 'flowing';
    this.#sink = sink;
    this.#controller?.resume();
  }

  resume(): void {
    if (this.#state === 'flowing') this.#controller?.resume();
  }

  discard(): void {
    if (this.#state === 'done') return;
    this.#finish();
    this.#controller?.abort(new AbandonedError('body not wanted'));
  }

  /** Drops a redirect's body; the fetch, and its deadline, go on with the next hop. */
  skip(): void {
    this.#state = 'done';
    this.#controller?.abort(new AbandonedError('redirect followed'));
  }

  #finish(): void {
    this.#state = 'done';
    this.#sink = undefined;
    this.deadline.clear();
  }
}

function nextHop(from: URL, location: string): URL {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new EcamoError('source-request', 'source redirected to an invalid URL');
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new EcamoError('unallowed-source', `source redirected to scheme ${next.protocol}`);
  }
  if (next.username !== '' || next.password !== '') throw new EcamoError('unallowed-source', 'source redirected to a URL with credentials');
  next.hash = '';
  return next;
}

/** Maps a failure of the upstream request (or of reading its body) to what the client sees. */
export function sourceError(error: unknown): EcamoError {
  // Ours (the deadline, the address guard, a redirect refused), however wrapped on the way.
  const ours = findEcamoError(error);
  if (ours !== undefined) return ours;
  // No socket could be opened: this host is overloaded, the source is not at fault.
  if (isOutOfDescriptors(error)) return new EcamoError('overloaded', 'out of file descriptors', { cause: error });
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new EcamoError('source-request', detail, { cause: error });
}
