import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { discardBody } from '../upstream/fetch.js';
import type { RequestRecord } from './request-record.js';

export type StreamOutcome = 'complete' | 'over-limit' | 'client-gone' | 'source-failed';

/**
 * Copies a source body to the client with backpressure, counting bytes into
 * the request record and stopping at `limit`. Hand-written rather than
 * stream.pipeline: pipeline allocates an AbortController and an error per
 * stream on the success path, a measurable share of a small image's cost.
 *
 * Over the limit, the bytes up to it are flushed and then the connection is
 * cut, so the client sees a broken body (no clean chunked terminator) rather
 * than a truncated image that looks complete.
 */
export function streamBody(
  body: Readable,
  res: ServerResponse,
  limit: number,
  record: RequestRecord,
  done: (outcome: StreamOutcome, error?: unknown) => void,
): void {
  let settled = false;
  const settle = (outcome: StreamOutcome, error?: unknown): void => {
    if (settled) return;
    settled = true;
    body.off('data', onData).off('end', onEnd).off('error', onError);
    res.off('drain', onDrain).off('close', onClose);
    done(outcome, error);
  };

  const onData = (chunk: Buffer): void => {
    const room = limit - record.bytes;
    if (chunk.length <= room) {
      record.bytes += chunk.length;
      if (!res.write(chunk)) body.pause();
      return;
    }
    record.bytes = limit;
    settle('over-limit');
    discardBody(body);
    if (room > 0) res.write(chunk.subarray(0, room), () => res.destroy());
    else res.destroy();
  };
  const onDrain = (): void => {
    body.resume();
  };
  const onEnd = (): void => {
    settle('complete');
    res.end();
  };
  const onError = (error: unknown): void => {
    settle('source-failed', error);
    res.destroy();
  };
  const onClose = (): void => {
    // 'close' after a complete response is settled by onEnd already.
    settle('client-gone');
    discardBody(body);
  };

  body.on('data', onData).once('end', onEnd).once('error', onError);
  res.on('drain', onDrain).once('close', onClose);
}
