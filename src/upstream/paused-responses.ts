import type { Socket } from 'node:net';
import type { buildConnector } from 'undici';

/** What this workaround uses of undici's HTTP/1 parser. */
interface PausableParser {
  readonly paused: boolean;
  resume(): void;
}

/**
 * Wraps an undici connector so that a source that ends its connection while
 * ecamo holds its response back (a slow client's backpressure, or a head
 * waiting for its sink) has that response finished, instead of crashing the
 * process.
 *
 * Why: undici 7 pauses its HTTP/1 parser while a body is not wanted. When the
 * source then ends the connection (a `Connection: close` response sent whole,
 * or a body delimited by the connection's end), the socket's 'end' handler
 * asks the paused parser to finish, and an assertion throws from that event
 * handler: an uncaught exception (nodejs/undici#5360, fixed in undici 8,
 * which does not run on Node 20). Keep-alive responses fared little better:
 * a complete response still paused became "other side closed".
 *
 * 'end' comes only once every byte of the connection has been read and
 * handed to the parser, so resuming the parser just before undici's handler
 * runs delivers no more body: only the end of the message, or the state in
 * which undici's own handler completes a body delimited by the connection's
 * end. A parser paused inside a body first hands over an empty piece of it;
 * Exchange.onResponseData takes that as the signal to let the response
 * finish (the sink's backpressure costs nothing to ignore at that point).
 * test/upstream/exchange.test.ts holds every framing to this.
 */
export function finishingPausedResponses(connect: buildConnector.connector): buildConnector.connector {
  return (options, callback) => {
    connect(options, (...result) => {
      const socket = result[1];
      // Prepended: it must run before undici's own 'end' handler.
      if (socket) socket.prependListener('end', () => resumeIfPaused(socket));
      callback(...result);
    });
  };
}

function resumeIfPaused(socket: Socket): void {
  const parser = parserOf(socket);
  if (parser?.paused === true) parser.resume();
}

/** undici keeps a socket's parser under its (unexported) `Symbol('parser')`. */
function parserOf(socket: Socket): PausableParser | undefined {
  const key = Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === 'parser');
  const parser: unknown = key === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[key];
  if (typeof parser !== 'object' || parser === null) return undefined;
  const { paused, resume } = parser as Partial<Record<'paused' | 'resume', unknown>>;
  return typeof paused === 'boolean' && typeof resume === 'function' ? (parser as PausableParser) : undefined;
}
