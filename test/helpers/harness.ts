/**
 * Real servers on 127.0.0.1 for tests: an ecamo server with generated keys,
 * a signer for its service origin, and sources that count what reaches them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request, type Dispatcher } from 'undici';
import { generateKey, type GeneratedKey } from '../../src/config/generate-key.js';
import { loadConfig, type Config } from '../../src/config/load.js';
import { createLogger, type Logger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/http/start.js';
import { createSigner, type Signer } from '../../src/signer/index.js';
import { signProxyToken } from '../../src/tokens/proxy-token.js';
import { urlDigest } from '../../src/tokens/digest.js';

/** Host names only ever sent in Host headers: nothing resolves or dials them. */
export const CANONICAL_HOST = 'ecamo.test';
export const SERVICE_HOST = 'wiki.test';
export const SERVICE_ORIGIN = `http://${SERVICE_HOST}`;
export const CANONICAL_ORIGIN = `http://${CANONICAL_HOST}`;

export interface Ecamo {
  readonly server: RunningServer;
  readonly config: Config;
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
}

/**
 * ecamo in insecure mode (plain HTTP) with canonical host CANONICAL_HOST.
 * `env` adds or overrides ECAMO_* variables.
 */
export async function startEcamo(env: Record<string, string> = {}, options: StartEcamoOptions = {}): Promise<Ecamo> {
  const ecamoKey = await generateKey('ecamo-1');
  const serviceKey = await generateKey('svc-1');
  const config = await loadConfig({
    ECAMO_CANONICAL_HOST: CANONICAL_HOST,
    ECAMO_INSECURE: 'true',
    ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamoKey.kid]: ecamoKey.privateJwk }),
    ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`${SERVICE_ORIGIN} ${serviceKey.kid}`]: serviceKey.publicJwk }),
    ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://127\\.0\\.0\\.1:',
    ECAMO_LOG_LEVEL: 'silent',
    ...env,
  });
  const server = await startServer(config, { logger: options.logger ?? createLogger('silent'), listen: { host: '127.0.0.1', port: 0 } });
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

/** One HTTP exchange with the whole body read; `host` overrides the Host header. */
export async function fetchAnswer(url: string, options: GetOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.host !== undefined) headers.host = options.host;
  const response = await request(url, { method: options.method ?? 'GET', headers });
  const bytes = Buffer.from(await response.body.arrayBuffer());
  const responseHeaders = response.headers as Record<string, string | string[] | undefined>;
  return {
    status: response.statusCode,
    headers: responseHeaders,
    bytes,
    body: bytes.toString('utf8'),
    header(name) {
      const value = responseHeaders[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
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
