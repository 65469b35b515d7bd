import type { Dispatcher } from 'undici';
import { EcamoError, findEcamoError, isOutOfDescriptors } from '../errors.js';
import { AbandonedError, type Deadline } from './deadline.js';
import { SocketReads } from './socket-reads.js';

export type SourceHeaders = Record<string, string | string[] | undefined>;

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
  /**
   * The sink's `chunk` has been written out and nothing holds it any more:
   * its memory may be freed now (upstream/socket-reads.ts). A chunk never
   * reported is left to the garbage collector.
   */
  spent(chunk: Buffer): void;
}

/** Told how one exchange went (a client span of src/tracing/). */
export interface ExchangeObserver {
  answered(statusCode: number): void;
  /** Once, when the exchange is over: the body bytes received, and the failure if it failed. */
  ended(bytes: number, error: unknown): void;
}

/** Told how an exchange's head came, once: its status and headers, or the failure that came instead. */
export interface HeadWatcher {
  /** Called from undici's own callback: the body may be given its sink (or discarded, or the exchange skipped) at once. */
  head(exchange: Exchange, statusCode: number, headers: SourceHeaders): void;
  failed(error: unknown): void;
}

/**
 * One request/response with a source, as an undici dispatch handler. The
 * connection is paused from the response head until the body is given a
 * sink (or discarded), so nothing is read that nobody will write.
 */
export class Exchange implements Dispatcher.DispatchHandler, SourceBody {
  #controller: Dispatcher.DispatchController | undefined;
  #pendingStop: Error | undefined;
  /** Where the body goes: set exactly while #state is 'flowing'. */
  #sink: BodySink | undefined;
  #state: 'connecting' | 'head' | 'flowing' | 'done' = 'connecting';
  /** How the transfer ended while it still waited for a sink: told to the sink when it comes. */
  #endedEarly: { readonly error: EcamoError | undefined } | undefined;
  #bytes = 0;
  /** Undefined over TLS, whose reads cannot be freed early (upstream/socket-reads.ts). */
  readonly #reads: SocketReads | undefined;

  constructor(
    private readonly deadline: Deadline,
    overTls: boolean,
    private readonly watcher: HeadWatcher,
    private readonly observer?: ExchangeObserver,
  ) {
    this.#reads = SocketReads.of({ overTls });
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
    this.observer?.answered(statusCode);
    this.watcher.head(this, statusCode, headers);
    // No sink yet: the body waits for one. (undici reads the pause when this callback returns.)
    if (this.#waitsForSink()) controller.pause();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    // Nothing: undici's parser, resumed by upstream/paused-responses.ts once the source has ended the
    // connection, flushing the body it had paused in. No more bytes can come: let it finish the response.
    if (chunk.length === 0) return controller.resume();
    this.#bytes += chunk.length;
    const sink = this.#sink;
    if (sink === undefined) return;
    this.#reads?.handedOut(chunk);
    if (!sink.data(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    if (this.#state === 'head') this.#endedEarly = { error: undefined };
    const sink = this.#sink;
    if (sink === undefined) return;
    this.#reads?.ended();
    this.#finish();
    sink.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const state = this.#state;
    if (state === 'done') return;
    if (state === 'connecting') {
      this.#finish(sourceError(error));
      this.watcher.failed(error);
      return;
    }
    if (error instanceof AbandonedError) {
      // Stopped on purpose (client gone): nobody is waiting for the news.
      this.#finish(error);
      return;
    }
    if (state === 'head') {
      this.#endedEarly = { error: sourceError(error) };
      return;
    }
    const sink = this.#sink;
    const failure = sourceError(error);
    this.#finish(failure);
    sink?.error(failure);
  }

  flow(sink: BodySink): void {
    if (this.#state !== 'head') return;
    const early = this.#endedEarly;
    if (early !== undefined) {
      this.#finish(early.error);
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
    const reason = new AbandonedError('body not wanted');
    this.#finish(reason);
    this.#controller?.abort(reason);
  }

  spent(chunk: Buffer): void {
    this.#reads?.spent(chunk);
  }

  /** Drops a redirect's body; the fetch, and its deadline, go on with the next hop. */
  skip(): void {
    this.#state = 'done';
    this.observer?.ended(0, undefined);
    this.#controller?.abort(new AbandonedError('redirect followed'));
  }

  /** Read through a method: the watcher changes #state, which the compiler cannot see. */
  #waitsForSink(): boolean {
    return this.#state === 'head';
  }

  #finish(error?: unknown): void {
    this.#state = 'done';
    this.#sink = undefined;
    this.deadline.clear();
    this.observer?.ended(this.#bytes, error);
  }
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
