/**
 * Real servers on 127.0.0.1 for tests: an ecamo server with generated keys,
 * a signer for its service origin, and sources that count what reaches them.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { request, type Dispatcher } from 'undici';
import { generateKey, type GeneratedKey } from '../../src/config/generate-key.js';
import { loadConfig, type Config } from '../../src/config/load.js';
import { createLogger, type Logger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { createSigner, type Signer } from '../../src/signer/index.js';
import { signProxyToken } from '../../src/tokens/proxy-token.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { selfSignedCertificate, type TestCertificate } from './tls.js';

/**
 * How tests reach ecamo: `http1` (plain HTTP/1.1, the default) or `h2`
 * (ecamo with ECAMO_TLS_*, requests over HTTP/2 with TLS), chosen by
 * ECAMO_TEST_TRANSPORT before this module loads, so that one suite runs over
 * both (see test/http/protocol-h2.system.test.ts).
 */
export const TRANSPORT: 'http1' | 'h2' = process.env.ECAMO_TEST_TRANSPORT === 'h2' ? 'h2' : 'http1';
/** The scheme ecamo's origins take in insecure mode: the one requests arrive on. */
const SCHEME = TRANSPORT === 'h2' ? 'https' : 'http';
let certificate: TestCertificate | undefined;
/** The self-signed certificate of every h2-mode ecamo of this process (also the CA clients trust). */
export function transportCertificate(): TestCertificate {
  certificate ??= selfSignedCertificate();
  return certificate;
}

/** Host names only ever sent in Host headers: nothing resolves or dials them. */
export const CANONICAL_HOST = 'ecamo.test';
export const SERVICE_HOST = 'wiki.test';
export const SERVICE_ORIGIN = `${SCHEME}://${SERVICE_HOST}`;
export const CANONICAL_ORIGIN = `${SCHEME}://${CANONICAL_HOST}`;

export interface Ecamo {
  readonly server: RunningServer;
  readonly config: Config;
  /** The ECAMO_* variables it was configured with: what `ecamo serve` (or `ecamo inspect`) would be given. */
  readonly env: Readonly<Record<string, string>>;
  readonly url: string;
  readonly ecamoKey: GeneratedKey;
  readonly serviceKey: GeneratedKey;
  /** Signs for SERVICE_ORIGIN with serviceKey. */
  readonly signer: Signer;
  /** Valid auth cookie header value (`name=token`) for SERVICE_ORIGIN. */
  readonly cookie: string;
  /** A request to ecamo; `host` defaults to the service host. */
  get(path: string, options?: GetOptions): Promise<Answer>;
  /** The canonical proxy path for a source URL, with a freshly signed proxy token. */
  proxyPath(sourceUrl: string, options?: { sendToken?: boolean; lifetimeSeconds?: number }): Promise<string>;
  close(): Promise<void>;
}

export interface GetOptions {
  readonly host?: string;
  /** For https URLs: the CA to trust (default: the h2 transport's certificate). */
  readonly ca?: Buffer;
  readonly method?: Dispatcher.HttpMethod;
  readonly headers?: Record<string, string>;
}

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  readonly bytes: Buffer;
  header(name: string): string | undefined;
}

export interface StartEcamoOptions {
  /** Where the server logs; default silent. */
  readonly logger?: Logger;
  /** The response cache's clock (test/cache/fixture.ts: movableClock); default Date.now. */
  readonly cacheClock?: () => number;
  /** The CA ecamo trusts for TLS sources (default: the h2 transport's certificate when the transport is h2, else none). */
  readonly sourceCa?: Buffer;
}

/**
 * ecamo in insecure mode (plain HTTP) with canonical host CANONICAL_HOST.
 * `env` adds or overrides ECAMO_* variables.
 */
export async function startEcamo(env: Record<string, string> = {}, options: StartEcamoOptions = {}): Promise<Ecamo> {
  const ecamoKey = await generateKey('ecamo-1');
  const serviceKey = await generateKey('svc-1');
  const configured: Record<string, string> = {
    ECAMO_CANONICAL_HOST: CANONICAL_HOST,
    ECAMO_INSECURE: 'true',
    ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamoKey.kid]: ecamoKey.privateJwk }),
    ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`${SERVICE_ORIGIN} ${serviceKey.kid}`]: serviceKey.publicJwk }),
    // h2: ecamo itself (https) may be a source too, as in the loop test.
    ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: TRANSPORT === 'h2' ? '^https?://127\\.0\\.0\\.1:' : '^http://127\\.0\\.0\\.1:',
    ECAMO_LOG_LEVEL: 'silent',
    // Every image kept from its first request: what most suites check is the cache's rules once it
    // keeps an image, not when it starts to (test/cache/admission.test.ts checks the default of 2).
    ECAMO_CACHE_MIN_USES: '1',
    ...(TRANSPORT === 'h2' ? { ECAMO_TLS_CERT: transportCertificate().certFile, ECAMO_TLS_KEY: transportCertificate().keyFile } : {}),
    ...env,
  };
  const config = await loadConfig(configured);
  const server = await startServer(config, {
    logger: options.logger ?? createLogger('silent'),
    listen: { host: '127.0.0.1', port: 0 },
    ...(options.cacheClock === undefined ? {} : { cacheClock: options.cacheClock }),
    ...(options.sourceCa !== undefined ? { sourceTls: { ca: options.sourceCa } } : TRANSPORT === 'h2' ? { sourceTls: { ca: transportCertificate().cert } } : {}),
  });
  const signer = await createSigner({ origin: SERVICE_ORIGIN, kid: serviceKey.kid, privateJwk: serviceKey.privateJwk });
  // The cookie follows the mode (secure mode: https canonical origin, `__Host-` name with Secure).
  const cookie = await signer.authCookie({
    canonicalOrigin: config.insecure ? CANONICAL_ORIGIN : `https://${CANONICAL_HOST}`,
    ttlSeconds: 600,
    insecure: config.insecure,
    cookieName: config.authCookie,
  });

  return {
    server,
    config,
    env: Object.freeze(configured),
    url: server.url,
    ecamoKey,
    serviceKey,
    signer,
    cookie: `${cookie.name}=${cookie.token}`,
    get: (path, options = {}) => fetchAnswer(`${server.url}${path}`, { ...options, host: options.host ?? SERVICE_HOST }),
    async proxyPath(sourceUrl, options = {}) {
      const url = new URL(sourceUrl).href;
      const token = await signProxyToken(
        { url, serviceOrigin: SERVICE_ORIGIN, sendToken: options.sendToken ?? false },
        config.ecamoKeys.signing,
        options.lifetimeSeconds ?? 45,
      );
      return `/${config.prefix}/v1/p/${urlDigest(url)}?t=${token}`;
    },
    close: () => server.close(0),
  };
}

/** One HTTP exchange with the whole body read; `host` overrides the Host header (`:authority` over HTTP/2). */
export async function fetchAnswer(url: string, options: GetOptions = {}): Promise<Answer> {
  if (url.startsWith('https:')) return fetchAnswerHttp2(url, options);
  const headers: Record<string, string> = { ...options.headers };
  if (options.host !== undefined) headers.host = options.host;
  const response = await request(url, { method: options.method ?? 'GET', headers });
  const bytes = Buffer.from(await response.body.arrayBuffer());
  return answerOf(response.statusCode, response.headers, bytes);
}

function answerOf(status: number, headers: Record<string, string | string[] | undefined>, bytes: Buffer): Answer {
  return {
    status,
    headers,
    bytes,
    body: bytes.toString('utf8'),
    header(name) {
      const value = headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/** The same over HTTP/2 with TLS, trusting the transport certificate; one connection per exchange. Rejects when the stream is cut off. */
export async function fetchAnswerHttp2(url: string, options: GetOptions = {}): Promise<Answer> {
  const received = await exchangeHttp2(url, options);
  if (!received.complete) throw Object.assign(new Error('HTTP/2 stream reset before the end of the body'), { name: 'StreamResetError' });
  return answerOf(received.status, received.headers, received.bytes);
}

interface Received {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly bytes: Buffer;
  /** False when the response was cut off (HTTP/1.1: the connection closed early; HTTP/2: the stream was reset). */
  readonly complete: boolean;
}

async function exchangeHttp2(url: string, options: GetOptions): Promise<Received> {
  const target = new URL(url);
  const session = http2.connect(target.origin, { ca: options.ca ?? transportCertificate().cert });
  session.on('error', () => {}); // reported through the stream
  try {
    const stream = session.request({
      ':method': options.method ?? 'GET',
      ':path': `${target.pathname}${target.search}`,
      ':authority': options.host ?? target.host,
      ...options.headers,
    });
    stream.end();
    return await new Promise<Received>((resolve, reject) => {
      let status = 0;
      const headers: Record<string, string | string[] | undefined> = {};
      const chunks: Buffer[] = [];
      stream.once('response', (answer) => {
        for (const [name, value] of Object.entries(answer)) if (!name.startsWith(':')) headers[name] = typeof value === 'number' ? String(value) : value;
        status = Number(answer[':status']);
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', () => {}); // a reset: judged by rstCode on close
      stream.once('close', () => {
        if (status === 0) reject(new Error(`HTTP/2 stream closed without a response (code ${stream.rstCode})`));
        else resolve({ status, headers, bytes: Buffer.concat(chunks), complete: stream.rstCode === http2.constants.NGHTTP2_NO_ERROR && !stream.aborted });
      });
    });
  } finally {
    session.close();
  }
}

/** A GET that keeps what arrived even when the response is cut off, and says whether it was. */
export async function fetchCutOff(url: string, host: string): Promise<Received> {
  if (url.startsWith('https:')) return exchangeHttp2(url, { host });
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { host }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', () => {}); // "aborted": the cut is what is being observed
      res.on('close', () => resolve({ status: res.statusCode!, headers: res.headers, bytes: Buffer.concat(chunks), complete: res.complete }));
    });
    req.on('error', reject);
  });
}

export interface Source {
  readonly server: http.Server;
  readonly port: number;
  /** `http://127.0.0.1:port`. */
  readonly origin: string;
  /** Every request that reached the source, in order. */
  readonly requests: http.IncomingMessage[];
  close(): Promise<void>;
}

/** A real HTTP source on 127.0.0.1 (or `host`, e.g. `::1`) that records each request before handling it. */
export async function startSource(handler: http.RequestListener, host = '127.0.0.1'): Promise<Source> {
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    origin: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
