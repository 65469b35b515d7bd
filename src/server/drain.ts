import type { Server } from 'node:http';
import type { Http2SecureServer, ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { HttpRequest, HttpResponse } from '../http/request-response.js';

/** The stop that lets responses in flight end: one implementation for `ecamo serve` and `ecamo verify-proxy`. */
export interface Drain {
  /** True from the moment drain() is called (/readyz turns 503). */
  readonly draining: boolean;
  /**
   * Stops accepting and closes idle connections at once. Responses in flight
   * go on, and each ends its connection: an HTTP/1.1 response whose head is
   * still to be sent carries `Connection: close`, and a connection is closed
   * as soon as its last response has ended, so none takes another request
   * (HTTP/2 sessions are sent GOAWAY: their streams finish, no new one
   * starts). Resolves as soon as the last response has ended, or once
   * `graceMs` have passed, when whatever is left is cut.
   */
  drain(graceMs: number): Promise<void>;
}

/** Call before the server takes its first connection: it keeps count from then on. */
export function drainable(server: Server | Http2SecureServer): Drain {
  let draining = false;
  /**
   * HTTP/1.1 responses not yet ended, by connection (several when a client
   * pipelines). A connection's list is made with its first request and kept
   * until the connection closes: a request adds to it and its end takes from
   * it, so no table grows or shrinks per request, as a set of responses and a
   * count per connection did (they were rehashed as requests came and went).
   */
  const open = new Map<Socket, HttpResponse[]>();
  let busy = 0;
  let http2Streams = 0;
  const secure = 'setSecureContext' in server;
  /** With TLS, node:http's connection bookkeeping is not there: every connection, and HTTP/2 sessions. */
  const tlsSockets = new Set<TLSSocket>();
  const sessions = new Set<ServerHttp2Session>();
  let allEnded: (() => void) | undefined;

  const settle = (): void => {
    if (draining && busy === 0 && http2Streams === 0) allEnded?.();
  };
  const closeAfterward = (res: HttpResponse): void => {
    if (!res.headersSent) res.setHeader('connection', 'close');
  };
  const ended = (socket: Socket, responses: HttpResponse[], res: HttpResponse): void => {
    // Order does not matter: the last takes the ended one's place.
    const last = responses.pop();
    if (last !== undefined && last !== res) responses[responses.indexOf(res)] = last;
    busy--;
    if (responses.length !== 0 || !draining) return;
    // Its head may have promised keep-alive before the drain: close before another request comes.
    if (!socket.destroyed) socket.end(() => socket.destroy());
    settle();
  };

  // Before the handler, so that a request arriving during the drain is marked before anything is written.
  // (As Server: a union of two servers' overloads takes no listener; both emit 'request' with an HTTP/1.1 or HTTP/2 pair.)
  (server as Server).prependListener('request', (req: HttpRequest, res: HttpResponse) => {
    if (req.httpVersionMajor === 2) {
      http2Streams++;
      res.once('close', () => {
        http2Streams--;
        settle();
      });
      return;
    }
    const socket = req.socket;
    let responses = open.get(socket);
    if (responses === undefined) {
      responses = [];
      open.set(socket, responses);
      socket.once('close', () => open.delete(socket));
    }
    const list = responses;
    list.push(res);
    busy++;
    if (draining) closeAfterward(res);
    // A response emits 'close' once: `on` spares the wrapper `once` builds.
    res.on('close', () => ended(socket, list, res));
  });
  if (secure) {
    server.on('secureConnection', (socket: TLSSocket) => {
      tlsSockets.add(socket);
      socket.once('close', () => tlsSockets.delete(socket));
    });
    server.on('session', (session: ServerHttp2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
      if (draining) session.close();
    });
  }

  const closeIdle = (): void => {
    if (!secure) return (server).closeIdleConnections();
    for (const session of sessions) session.close();
    for (const socket of tlsSockets) if (socket.alpnProtocol !== 'h2' && (open.get(socket)?.length ?? 0) === 0) socket.destroy();
  };
  const closeAll = (): void => {
    if (!secure) return (server).closeAllConnections();
    for (const session of sessions) session.destroy();
    for (const socket of tlsSockets) socket.destroy();
  };

  let drained: Promise<void> | undefined;
  return {
    get draining() {
      return draining;
    },
    drain(graceMs) {
      drained ??= (async () => {
        draining = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        closeIdle();
        for (const responses of open.values()) for (const res of responses) closeAfterward(res);
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          allEnded = resolve;
          timer = setTimeout(resolve, graceMs);
          settle();
        });
        clearTimeout(timer);
        // Left now: responses the grace cut, and requests still arriving. Both too late.
        closeAll();
        await closed;
      })();
      return drained;
    },
  };
}
