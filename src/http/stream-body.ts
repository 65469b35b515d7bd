import type { EcamoError } from '../errors.js';
import type { SourceBody } from '../upstream/fetch.js';
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
 */
export function streamBody(
  body: SourceBody,
  res: HttpResponse,
  limit: number,
  record: RequestRecord,
  onSourceError: (error: EcamoError) => void,
): void {
  // The transfer is over (one way or another): stop listening to the client.
  const settle = (): void => {
    res.off('drain', onDrain).off('close', onClose);
  };
  const onDrain = (): void => body.resume();
  // 'close' after a complete response comes once settled, with the listener gone.
  const onClose = (): void => {
    settle();
    body.discard();
  };
  res.on('drain', onDrain).once('close', onClose);

  body.flow({
    data(chunk) {
      const room = limit - record.bytes;
      if (chunk.length <= room) {
        record.bytes += chunk.length;
        // Once written, its memory can be freed at once rather than at a collection (upstream/socket-reads.ts).
        return res.write(chunk, (error) => {
          if (error == null) body.spent(chunk);
        });
      }
      record.bytes = limit;
      settle();
      body.discard();
      if (room > 0) res.write(chunk.subarray(0, room), () => abortResponse(res));
      else abortResponse(res);
      return false;
    },
    end() {
      settle();
      res.end();
    },
    error(error) {
      settle();
      onSourceError(error);
      abortResponse(res);
    },
  });
}
