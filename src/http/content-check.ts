import type { SharedTier } from '../cache/cache.js';
import { judgeByFileType, judgeBytes, judgeBytesAtOnce, SNIFF_WINDOW_BYTES, type ContentRules, type Verdict } from '../content/sniff.js';
import { EcamoError } from '../errors.js';
import type { Logger } from '../log.js';
import type { BodySink, SourceBody, SourceHeaders, SourceResponse } from '../upstream/fetch.js';
import { essenceOf } from './media-type.js';
import { urlForLog } from './request-record.js';

/**
 * Checks the bytes of a source's 200 before any of them is answered or kept:
 * the first window of the body is read and judged (content/sniff.ts); an
 * allowed image is served under the type its bytes show, anything else is
 * 403 `unallowed-content-type`, with none of its bytes sent. Only the window
 * is held back: the rest of the body flows as it arrives.
 *
 * `declared` is the essence of the source's Content-Type (undefined: none,
 * admitted by ECAMO_SNIFF_UNLABELLED). The answer is the response to serve
 * and keep: its body the same bytes, its Content-Type the one they showed.
 * A source that fails or stalls inside the window rejects with its error
 * (502, or 504 at ECAMO_TIMEOUT).
 */
export function checkContent(source: SourceResponse, declared: string | undefined, rules: ContentRules, logger: Logger): Promise<SourceResponse> {
  return new Promise((resolve, reject) => checkContentThen(source, declared, rules, logger, { checked: resolve, refused: reject }));
}

/** Told how a check of a source's bytes came out: exactly one of the two, once. */
export interface ContentWatcher {
  /** The response to serve, under the type its bytes showed. */
  checked(response: SourceResponse): void;
  /** The client's error (or file-type's failure); the body was let go. */
  refused(error: unknown): void;
}

/**
 * checkContent told by callbacks: in the tick the window arrives when the
 * bytes' signature tells them (judgeBytesAtOnce), later only for what
 * file-type must read. The path the long tail takes, where a promise per
 * step was a measurable share of a request's CPU (docs/performance.md).
 */
export function checkContentThen(source: SourceResponse, declared: string | undefined, rules: ContentRules, logger: Logger, watcher: ContentWatcher): void {
  new WindowedBody(source.body, SNIFF_WINDOW_BYTES, (body, window) => {
    if (window instanceof EcamoError) {
      body.discard();
      watcher.refused(window);
      return;
    }
    const verdict = judgeBytesAtOnce(window, rules);
    if (verdict !== undefined) {
      tell(watcher, source, body, declared, verdict, logger);
      return;
    }
    judgeByFileType(window, rules).then(
      (later) => {
        // The source failed while file-type judged (a compressed format's verdict waits on zlib's threads):
        // nothing is answered yet, so the client gets its error, as for a failure within the window.
        const failure = body.failure;
        if (failure === undefined) {
          tell(watcher, source, body, declared, later, logger);
          return;
        }
        body.discard();
        watcher.refused(failure);
      },
      // file-type documents no failure for a buffer, and fuzzing every signature it reads (ZIP entries
      // too) found none: one would be a bug of its own, answered as a bug (500 `unknown`, its stack
      // logged) rather than left an unhandled rejection, which ends the process.
      (error: unknown) => {
        body.discard();
        watcher.refused(error);
      },
    );
  });
}

function tell(watcher: ContentWatcher, source: SourceResponse, body: SourceBody, declared: string | undefined, verdict: Verdict, logger: Logger): void {
  if (!verdict.ok) {
    body.discard();
    logger.info({ source: urlForLog(source.url), declared, reason: verdict.reason }, 'source content refused');
    watcher.refused(new EcamoError('unallowed-content-type', verdict.reason));
    return;
  }
  let headers = source.headers;
  if (verdict.type !== declared) {
    logger.info({ source: urlForLog(source.url), declared, sniffed: verdict.type }, 'source content type corrected');
    headers = { ...source.headers, 'content-type': verdict.type };
  }
  watcher.checked(new CheckedResponse(source.url, source.statusCode, headers, body, verdict.type));
}

/**
 * A source's 200 whose bytes were judged, with the type they showed. Only
 * checkContent makes one. (A class, not a WeakMap of the checked responses:
 * an entry per response, its key short-lived, cost close to a microsecond of
 * garbage collection each.)
 */
class CheckedResponse implements SourceResponse {
  constructor(
    readonly url: string,
    readonly statusCode: number,
    readonly headers: SourceHeaders,
    readonly body: SourceBody,
    readonly checkedType: string,
  ) {}
}

/**
 * The type a checked response is served under. Every 200 relayed from a
 * source goes through here: one that was never checked is a bug, and is not
 * served.
 */
export function checkedContentType(source: SourceResponse): string {
  if (!(source instanceof CheckedResponse)) throw new EcamoError('unknown', 'bug: a source response was about to be served unchecked');
  return source.checkedType;
}

/**
 * The shared tier with every entry read from it judged again, as a source's
 * bytes are: another instance may run an older ecamo, which kept bytes
 * unchecked, or other rules (ECAMO_SVG, the allow-list). An entry whose bytes
 * do not pass, or show another type than it is kept under, is a miss, and is
 * overwritten by the fetch that follows. Once per read from the shared tier,
 * never on a hit in memory.
 */
export function checkedSharedTier(shared: SharedTier, rules: ContentRules, logger: Logger): SharedTier {
  return {
    async get(key, url, trace) {
      const stored = await shared.get(key, url, trace);
      if (stored === undefined || !('body' in stored)) return stored;
      const verdict = await judgeBytes(stored.body.subarray(0, SNIFF_WINDOW_BYTES), rules);
      const keptAs = essenceOf(stored.headers['content-type']);
      if (verdict.ok && verdict.type === keptAs) return stored;
      logger.info({ source: urlForLog(stored.url), keptAs, reason: verdict.ok ? `sniffed ${verdict.type}` : verdict.reason }, 'shared cache entry refused');
      return undefined;
    },
    set: (key, value, keepMs) => shared.set(key, value, keepMs),
  };
}

/**
 * A source body whose first `windowBytes` (or all of it, when shorter) are
 * read ahead and held, as views of the chunks that brought them, until the
 * body is given a sink; the source is paused meanwhile. What comes after
 * flows straight through.
 */
class WindowedBody implements SourceBody, BodySink {
  #held: Buffer[] = [];
  #heldBytes = 0;
  /**
   * Told once: the held bytes as one buffer (a view of the first chunk when it holds the window,
   * else a copy of the window only), or the source's failure within it. It may give the body its
   * sink at once, from inside the source's own callback (see data).
   */
  #onWindow: ((body: WindowedBody, window: Buffer | EcamoError) => void) | undefined;
  /** Set while the source's `data` is being told: a sink given then is answered through its return value. */
  #delivering = false;
  /** What a sink given during #delivering said of the held chunks: whether the source may go on. */
  #wantsMore = true;
  #sink: BodySink | undefined;
  /** The source ended while nothing flowed yet: told to the sink when it comes. */
  #ended = false;
  /**
   * The source failed while nothing flowed yet: told through the window's callback, or, once the
   * window was read, by the verdict's (checkContentThen), so no failed body is ever given a sink.
   */
  #failure: EcamoError | undefined;
  #discarded = false;

  constructor(
    private readonly source: SourceBody,
    private readonly windowBytes: number,
    onWindow: (body: WindowedBody, window: Buffer | EcamoError) => void,
  ) {
    this.#onWindow = onWindow;
    source.flow(this);
  }

  get failure(): EcamoError | undefined {
    return this.#failure;
  }

  // The source flows into the body itself: held until the window is read, then straight to the sink once there is one.

  data(chunk: Buffer): boolean {
    if (this.#sink !== undefined) return this.#sink.data(chunk);
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    if (this.#heldBytes < this.windowBytes) return true;
    this.#delivering = true;
    this.#wantsMore = false;
    try {
      this.#readWindow();
    } finally {
      this.#delivering = false;
    }
    // Unless the window's verdict gave the body a sink that wants more, the source waits.
    return this.#wantsMore;
  }

  end(): void {
    if (this.#sink !== undefined) return this.#sink.end();
    this.#ended = true;
    this.#readWindow();
  }

  error(error: EcamoError): void {
    if (this.#sink !== undefined) return this.#sink.error(error);
    this.#failure = error;
    const onWindow = this.#onWindow;
    this.#onWindow = undefined;
    onWindow?.(this, error);
  }

  flow(sink: BodySink): void {
    if (this.#discarded || this.#sink !== undefined) return;
    this.#sink = sink;
    const held = this.#held;
    this.#held = [];
    let wantsMore = true;
    for (const chunk of held) {
      wantsMore = sink.data(chunk);
      // The sink may have discarded the body (over ECAMO_MAX_LENGTH).
      if (this.#sink !== sink) return;
    }
    if (this.#ended) {
      sink.end();
      return;
    }
    if (this.#delivering) this.#wantsMore = wantsMore;
    else if (wantsMore) this.source.resume();
  }

  resume(): void {
    if (this.#sink !== undefined) this.source.resume();
  }

  /** The window (a view of the first chunk, or a copy) was judged before any chunk flowed: nothing here holds a chunk once it is written. */
  spent(chunk: Buffer): void {
    this.source.spent(chunk);
  }

  discard(): void {
    if (this.#discarded) return;
    this.#discarded = true;
    this.#sink = undefined;
    this.#held = [];
    this.source.discard();
  }

  #readWindow(): void {
    const onWindow = this.#onWindow;
    if (onWindow === undefined) return;
    this.#onWindow = undefined;
    const first = this.#held[0];
    const window =
      first === undefined ? Buffer.alloc(0)
      : first.length >= this.windowBytes || this.#held.length === 1 ? first.subarray(0, this.windowBytes)
      : Buffer.concat(this.#held, Math.min(this.#heldBytes, this.windowBytes));
    onWindow(this, window);
  }
}
