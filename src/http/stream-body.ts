import type { ServerResponse } from 'node:http';
import type { EcamoError } from '../errors.js';
import type { SourceBody } from '../upstream/fetch.js';
import type { RequestRecord } from './request-record.js';

export type StreamOutcome = 'complete' | 'over-limit' | 'client-gone' | 'source-failed';

/**
 * Copies a source body to the client with backpressure, counting bytes into
 * the request record and stopping at `limit`.
 *
 * Over the limit, the bytes up to it are flushed and then the connection is
 * cut, so the client sees a broken body (no clean chunked terminator) rather
 * than a truncated image that looks complete.
 */
export function streamBody(
  body: SourceBody,
  res: ServerResponse,
  limit: number,
  record: RequestRecord,
  done: (outcome: StreamOutcome, error?: EcamoError) => void,
): void {
  let settled = false;
  const settle = (outcome: StreamOutcome, error?: EcamoError): void => {
    if (settled) return;
    settled = true;
    res.off('drain', onDrain).off('close', onClose);
    done(outcome, error);
  };
  const onDrain = (): void => body.resume();
  const onClose = (): void => {
    // 'close' after a complete response is settled already.
    settle('client-gone');
    body.discard();
  };
  res.on('drain', onDrain).once('close', onClose);

  body.flow({
    data(chunk) {
      const room = limit - record.bytes;
      if (chunk.length <= room) {
        record.bytes += chunk.length;
        return res.write(chunk);
      }
      record.bytes = limit;
      settle('over-limit');
      body.discard();
      if (room > 0) res.write(chunk.subarray(0, room), () => res.destroy());
      else res.destroy();
      return false;
    },
    end() {
      settle('complete');
      res.end();
    },
    error(error) {
      settle('source-failed', error);
      res.destroy();
    },
  });
}
