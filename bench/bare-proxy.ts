/**
 * The Node ceiling of the proxy scenario (started by servers.ts): what a Node
 * proxy costs when it does nothing but proxy. node:http in front of one
 * keep-alive undici Pool to the origin (`process.argv[2]`), driven the way
 * ecamo fetches: undici's `dispatch` with a handler, the parser paused by
 * backpressure, the body written with `res.write` (no body Readable, no
 * AbortSignal, no `pipeline`: on Node 20 those cost a Node proxy about as
 * much again as everything else). Status, Content-Type and Content-Length
 * relayed; no token, no check, no cache, no log. It takes nginx proxy_pass's
 * paths and maps them as nginx's rewrite does: the first segment names the
 * origin's file (`/30k.png/v1/p/<digest>?t=<token>` → `/30k.png`). Listens on
 * 127.0.0.1 port 0 and prints the port it got.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';

const RELAYED = ['content-type', 'content-length'] as const;

/** Why an exchange was stopped: the client went away (wrk closes connections with requests in flight). */
class ClientGone extends Error {}

const origin = process.argv[2]!;
const pool = new Pool(origin);
const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const end = url.indexOf('/', 1);
  let controller: Dispatcher.DispatchController | undefined;
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(started) {
      controller = started;
    },
    onResponseStart(started, statusCode, headers) {
      if (res.destroyed) {
        started.abort(new ClientGone());
        return;
      }
      const head: Record<string, string | string[]> = {};
      for (const name of RELAYED) {
        const value = headers[name];
        if (value !== undefined) head[name] = value;
      }
      res.writeHead(statusCode, head);
    },
    onResponseData(started, chunk) {
      if (!res.write(chunk)) started.pause();
    },
    onResponseEnd() {
      res.end();
    },
    onResponseError(_started, error) {
      if (error instanceof ClientGone) return;
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end();
    },
  };
  res.on('drain', () => controller?.resume());
  res.on('close', () => {
    if (!res.writableFinished) controller?.abort(new ClientGone());
  });
  pool.dispatch({ origin, method: 'GET', path: end === -1 ? url : url.slice(0, end), headers: {} }, handler);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`bare-proxy-listening ${(server.address() as AddressInfo).port}\n`));
