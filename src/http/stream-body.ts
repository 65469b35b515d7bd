import type { EcamoError } from '../errors.js';
import type { BodySink, SourceBody } from '../upstream/fetch.js';
import type { RequestRecord } from './request-record.js';
import { abortResponse } from './respond.js';
import type { HttpResponse } from './request-response.js';

/**
 * Copies a source body to the client with backpressure, counting bytes into
 * the request record and stopping at `limit`.
 *
 * Over the limit, the bytes up to it are flushed and then the connection is
 * cut, so the client sees a broken body (no clean chunked terminator) rather
 * than a truncated image that looks complete.
 *
 * An answer that already watches its client for the whole request
 * (http/proxy.ts) starts it with `watchClient: false` and calls
 * `clientGone` itself: the response then carries one 'close' listener
 * instead of one per step.
 */
export class BodyStream implements BodySink {
  readonly #onDrain = (): void => this.body.resume();
  /** Set when this stream listens for the client leaving itself. */
  #onClose: (() => void) | undefined;

  constructor(
    private readonly body: SourceBody,
    private readonly res: HttpResponse,
    private readonly limit: number,
    private readonly record: RequestRecord,
    private readonly onSourceError: (error: EcamoError) => void,
  ) {}

  /** `watchClient`: listen for the client leaving here (else the caller calls clientGone). */
  start({ watchClient }: { readonly watchClient: boolean }): void {
    this.res.on('drain', this.#onDrain);
    if (watchClient) {
      // 'close' after a complete response comes once settled, with the listener gone.
      this.#onClose = (): void => this.clientGone();
      this.res.once('close', this.#onClose);
    }
    this.body.flow(this);
  }

  /** The client went away before the answer was complete: the source is not read on. */
  clientGone(): void {
    this.#settle();
    this.body.discard();
  }

  data(chunk: Buffer): boolean {
    const { body, res, record } = this;
    const room = this.limit - record.bytes;
    if (chunk.length <= room) {
      record.bytes += chunk.length;
      // Once written, its memory can be freed at once rather than at a collection (upstream/socket-reads.ts).
      return res.write(chunk, (error) => {
        if (error == null) body.spent(chunk);
      });
    }
    record.bytes = this.limit;
    this.#settle();
    body.discard();
    if (room > 0) res.write(chunk.subarray(0, room), () => abortResponse(res));
    else abortResponse(res);
    return false;
  }

  end(): void {
    this.#settle();
    this.res.end();
  }

  error(error: EcamoError): void {
    this.#settle();
    this.onSourceError(error);
    abortResponse(this.res);
  }

  /** The transfer is over (one way or another): stop listening to the client. */
  #settle(): void {
    this.res.off('drain', this.#onDrain);
    if (this.#onClose !== undefined) this.res.off('close', this.#onClose);
  }
}
