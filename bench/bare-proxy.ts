/**
 * The Node ceiling of the proxy scenario (started by servers.ts): what a Node
 * proxy costs when it does nothing but proxy. node:http in front of one
 * keep-alive undici Pool to the origin (`process.argv[2]`); status,
 * Content-Type and Content-Length relayed, the body streamed; no token, no
 * check, no cache, no log. It takes nginx proxy_pass's paths and maps them as
 * nginx's rewrite does: the first segment names the origin's file
 * (`/30k.png/v1/p/<digest>?t=<token>` → `/30k.png`). Listens on 127.0.0.1
 * port 0 and prints the port it got.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { Pool } from 'undici';

const RELAYED = ['content-type', 'content-length'] as const;

const pool = new Pool(process.argv[2]!);
const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const end = url.indexOf('/', 1);
  pool.request({ method: 'GET', path: end === -1 ? url : url.slice(0, end) }).then(({ statusCode, headers, body }) => {
    // wrk closes its connections at the end of a run with requests in flight: their answers go nowhere
    // (Node 26's pipeline throws on a destroyed destination; dump reads the body off, errors included).
    if (res.destroyed) {
      void body.dump();
      return;
    }
    const head: Record<string, string | string[]> = {};
    for (const name of RELAYED) if (headers[name] !== undefined) head[name] = headers[name];
    res.writeHead(statusCode, head);
    // A client gone mid-body destroys the source's body too.
    pipeline(body, res, () => {});
  }, () => res.writeHead(502).end());
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`bare-proxy-listening ${(server.address() as AddressInfo).port}\n`));
