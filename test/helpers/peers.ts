/**
 * Requests from distinct loopback addresses (127.0.0.2, 127.0.0.3, ...: all of
 * 127/8 is this machine), so that one test can play several clients and
 * proxies against one ecamo.
 */
import http from 'node:http';
import type { Ecamo } from './harness.js';
import { SERVICE_HOST } from './harness.js';

export interface PeerAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/**
 * One GET to `ecamo` from `localAddress`, with Host defaulting to the service host,
 * on a connection of its own unless an `agent` (keep-alive) is given.
 */
export function getFrom(
  ecamo: Ecamo,
  localAddress: string,
  path: string,
  options: { host?: string; headers?: Record<string, string | string[]>; agent?: http.Agent } = {},
): Promise<PeerAnswer> {
  const url = new URL(path, ecamo.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        localAddress,
        agent: options.agent ?? false,
        headers: { host: options.host ?? SERVICE_HOST, ...options.headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end();
  });
}

/** A copy of a compact JWS in a path or query whose signature has one character changed: a forgery. */
export function forge(pathWithToken: string): string {
  const match = /([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.)([A-Za-z0-9_-]{20,})/.exec(pathWithToken);
  if (match === null) throw new Error(`no token in ${pathWithToken}`);
  const signature = match[2]!;
  const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
  return pathWithToken.replace(signature, flipped);
}
