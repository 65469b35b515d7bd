import type { buildConnector } from 'undici';

/**
 * Wraps an undici connector so that a connection no request is written on
 * is closed as soon as it is handed over, instead of idling in the pool until
 * its keep-alive timeout.
 *
 * Why: when a request is aborted on its connection (a client went away, a
 * source timed out), undici 7 destroys that socket, puts the aborted request
 * back at the head of the client's queue, connects again for it, and only
 * then drops it (nodejs/undici#5845). Each cancelled fetch so left a fresh,
 * request-less connection to the source. undici writes a live request on a
 * new connection within the same turn of the event loop as it receives it
 * (a few promise steps); one with nothing written a turn later has no
 * request coming.
 */
export function closingUnusedConnections(connect: buildConnector.connector): buildConnector.connector {
  return (options, callback) => {
    connect(options, (...result) => {
      // On failure undici's connectors pass the error alone: no socket, not even null.
      const socket = result[1];
      if (!socket) return callback(...result);
      // A TLS socket has written its handshake already: count from here.
      const writtenBefore = socket.bytesWritten;
      callback(...result);
      setImmediate(() => {
        if (!socket.destroyed && socket.bytesWritten === writtenBefore) socket.destroy();
      });
    });
  };
}
