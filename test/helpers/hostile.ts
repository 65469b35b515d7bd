/**
 * What the hostile-input suites (test/http/hostile-*.test.ts) share: an ecamo
 * whose log is watched, the health check, assertions for refusals, raw
 * exchanges below any HTTP client, sources that misbehave on the wire, and
 * JWS forging below jose.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, sign as signBytes, type JsonWebKey as NodeJwk } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import type { JWK } from 'jose';
import { request } from 'undici';
import { createLogger } from '../../src/log.js';
import { startEcamo, type Ecamo } from './harness.js';
import { PNG } from './images.js';

export { PNG };

/** An ecamo whose log lines are kept, so that a hidden 500 ("bug: ...") is seen too. */
export async function startWatchedEcamo(env: Record<string, string> = {}): Promise<{ ecamo: Ecamo; logs: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger('warn', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  return { ecamo: await startEcamo(env, { logger }), logs };
}

/** The server is still up and never logged an unexpected failure. */
export async function assertHealthy(ecamo: Ecamo, logs: Record<string, unknown>[]): Promise<void> {
  const health = await ecamo.get('/healthz');
  assert.equal(health.status, 200);
  assert.equal(health.body, 'ok');
  const bugs = logs.filter((line) => typeof line.level === 'number' && line.level >= 50);
  assert.deepEqual(bugs, [], 'no error-level log line (a 500 would log "bug: unexpected failure")');
}

/**
 * A hostile suite's `after` hook: whatever its tests sent, the server is still
 * healthy; ecamo and every server in `others` are closed even when it is not.
 */
export async function assertHealthyThenClose(ecamo: Ecamo, logs: Record<string, unknown>[], ...others: readonly ({ close(): Promise<void> } | undefined)[]): Promise<void> {
  try {
    await assertHealthy(ecamo, logs);
  } finally {
    await ecamo.close();
    for (const other of others) await other?.close();
  }
}

export function assertNoStackTrace(body: string): void {
  assert.doesNotMatch(body, /\bat .+[(:]\d+|node:internal|\/src\/|\/dist\/|Error: .*\n|\bstack\b/i, `body leaks internals: ${body.slice(0, 200)}`);
}

export interface Reply {
  readonly status: number;
  readonly body: string;
  header(name: string): string | undefined;
}

/** A refusal made by ecamo itself: status, code, the fixed body, nothing else. */
export function assertRefused(answer: Reply, status: number, code: string, context = ''): void {
  const what = `${context} -> ${answer.status} ${answer.header('x-ecamo-error')} ${answer.body.slice(0, 80)}`;
  assert.equal(answer.status, status, what);
  assert.equal(answer.header('x-ecamo-error'), code, what);
  assert.equal(answer.body, `Error: ${code}`, what);
  assert.equal(answer.header('location'), undefined, `${what}: a refusal never redirects`);
  assert.equal(answer.header('set-cookie'), undefined, what);
  assert.equal(answer.header('cache-control'), 'no-store', what);
  assert.equal(answer.header('www-authenticate'), status === 401 ? 'Bearer error="invalid_token"' : undefined, what);
  assert.equal(answer.header('allow'), status === 405 ? 'GET, HEAD' : undefined, what);
  assertNoStackTrace(answer.body);
}

export interface RawAnswer extends Reply {
  readonly statusLine: string;
  readonly headers: Record<string, string>;
}

/**
 * Sends bytes as they are (requests undici would refuse to build) and reads
 * until the server closes. Requests should say `connection: close`.
 */
export async function rawExchange(baseUrl: string, bytes: string | Buffer): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl);
  const socket = net.connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  // The server may close while the request is still being written (oversized headers): not a failure.
  socket.on('error', () => {});
  socket.write(bytes);
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const raw = Buffer.concat(chunks).toString('latin1');
  const headEnd = raw.indexOf('\r\n\r\n');
  assert.notEqual(headEnd, -1, `no complete answer, got ${JSON.stringify(raw.slice(0, 200))}`);
  const [statusLine, ...lines] = raw.slice(0, headEnd).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return {
    statusLine: statusLine!,
    status: Number(statusLine!.split(' ')[1]),
    headers,
    body: raw.slice(headEnd + 4),
    header: (name) => headers[name.toLowerCase()],
  };
}

/**
 * Reads a streamed answer to its end or its cut-off: how many bytes arrived,
 * and whether it ended cleanly. `onFirstChunk` runs once the first bytes are in.
 */
export async function readStream(
  url: string,
  host: string,
  onFirstChunk: () => void = () => {},
): Promise<{ status: number; headers: Record<string, unknown>; bytes: number; complete: boolean }> {
  const response = await request(url, { headers: { host } });
  let bytes = 0;
  let complete = true;
  try {
    for await (const chunk of response.body) {
      if (bytes === 0) onFirstChunk();
      bytes += (chunk as Buffer).length;
    }
  } catch {
    complete = false;
  }
  return { status: response.statusCode, headers: response.headers, bytes, complete };
}

/** A source on 127.0.0.1 that answers each request with raw bytes: what no well-behaved HTTP server would send. */
export interface RawSource {
  readonly port: number;
  readonly origin: string;
  /** Requests that reached it (one per connection). */
  readonly requests: number;
  close(): Promise<void>;
}

export async function startRawSource(respond: (socket: net.Socket) => void): Promise<RawSource> {
  let requests = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      requests++;
      respond(socket);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// JWS forging, below jose, so that anything can be built.

export const b64u = (data: string | Uint8Array): string => Buffer.from(data).toString('base64url');
export const jsonPart = (value: unknown): string => b64u(JSON.stringify(value));

/** An ES256 signature with whatever s it comes out with, as jose, WebCrypto and the reference server sign. */
export function es256(privateJwk: JWK, input: string, dsaEncoding: 'ieee-p1363' | 'der' = 'ieee-p1363'): Buffer {
  return signBytes('sha256', Buffer.from(input), { key: createPrivateKey({ key: privateJwk as NodeJwk, format: 'jwk' }), dsaEncoding });
}

/**
 * A compact JWS. `header` and `payload` are JSON-encoded unless given as
 * ready-made segments (`{ segment }`); `sign` gets the signing input.
 */
export function jws(header: unknown, payload: unknown, sign: (input: string) => Buffer | string): string {
  const segment = (value: unknown): string =>
    typeof value === 'object' && value !== null && 'segment' in value ? (value as { segment: string }).segment : jsonPart(value);
  const input = `${segment(header)}.${segment(payload)}`;
  const signature = sign(input);
  return `${input}.${typeof signature === 'string' ? signature : b64u(signature)}`;
}

export const now = (): number => Math.floor(Date.now() / 1000);
