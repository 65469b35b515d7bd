import type { Readable } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import { EcamoError } from '../errors.js';
import { guardedConnector, isPrivateAddressError } from './guarded-connect.js';

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
  readonly signal: AbortSignal;
}

export interface SourceResponse {
  readonly url: string;
  readonly statusCode: number;
  readonly headers: Dispatcher.ResponseData['headers'];
  readonly body: Dispatcher.ResponseData['body'];
}

export interface FetcherOptions {
  readonly maxRedirects: number;
  readonly privateSourceAllowedRegexp: RegExp | undefined;
  /** Test hook: connection options for both pools (e.g. trusted CA). */
  readonly connect?: { readonly ca?: string | Buffer };
}

/** Abort reason for the whole-fetch deadline; mapped to 504. */
export class SourceTimeoutError extends Error {
  override readonly name = 'SourceTimeoutError';
}

/**
 * Fetches sources through two keep-alive pools: one whose sockets may only
 * reach global addresses, and one for URLs the operator allowed to be private.
 * Redirects are followed here, hop by hop, so that each hop picks its pool
 * (and so gets its address checked) and its scheme is re-validated.
 */
export class SourceFetcher {
  readonly #guarded: Agent;
  readonly #open: Agent;
  readonly #options: FetcherOptions;

  constructor(options: FetcherOptions) {
    this.#options = options;
    const pool = { keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connections: 256 };
    this.#guarded = new Agent({ ...pool, connect: guardedConnector({ ...options.connect }) });
    this.#open = new Agent({ ...pool, connect: { ...options.connect } });
  }

  async fetch(request: SourceRequest): Promise<SourceResponse> {
    let url = new URL(request.url);
    const firstOrigin = url.origin;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'accept-encoding': 'identity', via: '1.1 ecamo' };
      if (request.accept !== undefined) headers.accept = request.accept;
      if (request.authorize !== undefined && url.origin === firstOrigin) headers.authorization = await request.authorize();

      const response = await this.#send(url, headers, request.signal);
      const location = response.headers.location;
      if (!REDIRECT_STATUSES.has(response.statusCode) || typeof location !== 'string' || hop >= this.#options.maxRedirects) {
        return { url: url.href, statusCode: response.statusCode, headers: response.headers, body: response.body };
      }
      discardBody(response.body);
      url = nextHop(url, location);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.#guarded.close(), this.#open.close()]);
  }

  async #send(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    const allowPrivate = this.#options.privateSourceAllowedRegexp?.test(url.href) ?? false;
    const dispatcher = allowPrivate ? this.#open : this.#guarded;
    try {
      return await dispatcher.request({ origin: url.origin, path: url.pathname + url.search, method: 'GET', headers, signal });
    } catch (error) {
      throw sourceError(error, signal);
    }
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

/**
 * Drops a source body that will not be read. undici fails an unfinished body
 * that is destroyed with an AbortError; with no listener that error would be
 * an uncaught exception, so it is swallowed here.
 */
export function discardBody(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

/** Maps a failure of the upstream request (or of reading its body) to what the client sees. */
export function sourceError(error: unknown, signal: AbortSignal): EcamoError {
  if (error instanceof EcamoError) return error;
  if (isPrivateAddressError(error)) return new EcamoError('unallowed-source', 'source address is not global', { cause: error });
  if (signal.aborted && signal.reason instanceof SourceTimeoutError) {
    return new EcamoError('source-request', 'source timed out', { status: 504, cause: error });
  }
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new EcamoError('source-request', detail, { cause: error });
}
