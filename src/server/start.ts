/**
 * Starts and stops an ecamo server from a validated configuration: for
 * `ecamo serve`, the demo, the package entry `ecamo/server` (src/server/index.ts)
 * and tests, which alone use the hooks (the App, a private CA for sources).
 */
import cluster from 'node:cluster';
import type { Server } from 'node:http';
import type { Http2SecureServer } from 'node:http2';
import { reloadKeySet } from '../config/keys.js';
import { createAdminServer } from '../http/admin.js';
import type { App } from '../http/app.js';
import { createApp } from './compose.js';
import { listen } from './listen.js';
import { createHttpServer, createSecureHttpServer } from './http-server.js';
import { drainable } from './drain.js';
import { loadTlsFiles, type TlsFiles } from '../config/tls.js';
import { createLogger, type Logger } from '../log.js';
import { Metrics } from '../metrics.js';
import type { Config } from '../config/load.js';
import { startTracing } from '../tracing/index.js';

export interface StartOptions {
  readonly logger?: Logger;
  /** Overrides ECAMO_BIND, e.g. `{ host: '127.0.0.1', port: 0 }` in tests. */
  readonly listen?: { readonly host: string; readonly port: number };
  /** Extra trust for sources' TLS (tests with a private CA). */
  readonly sourceTls?: { readonly ca?: string | Buffer };
  /** The response cache's clock (ms since the epoch), default Date.now: tests move it rather than wait for entries to go stale. */
  readonly cacheClock?: () => number;
  /** Serve ECAMO_ADMIN_BIND from this process (default true; a cluster worker leaves it to the primary). */
  readonly admin?: boolean;
  /** Node's process metrics as well (default: when this process serves the admin listener). */
  readonly processMetrics?: boolean;
}

export interface RunningServer {
  /** node:http, or with ECAMO_TLS_* node:http2's secure server (HTTP/2 and HTTP/1.1). */
  readonly server: Server | Http2SecureServer;
  readonly app: App;
  /** `http://host:port` (`https` with TLS) as bound (IPv6 in brackets). */
  readonly url: string;
  readonly port: number;
  /** `http://host:port` of the admin listener, when this process serves one. */
  readonly adminUrl: string | undefined;
  /** True from the moment close() is called: /readyz answers 503. */
  readonly draining: boolean;
  /**
   * Re-reads the key files (TLS files, the fallback image), keeping what was loaded when a
   * file is unusable. Calls during a reload are folded into one more pass.
   */
  reload(): Promise<void>;
  /** Stops accepting, lets responses in flight finish for up to `graceMs`, then cuts the rest. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Settings that are valid but likely to hurt, each one warning line at start
 * (in the process that starts the others: the primary, not every worker).
 */
export function warnOfRiskySettings(config: Config, logger: Logger): void {
  if (config.quarantine !== undefined && config.trustedProxies === undefined) {
    logger.warn(
      { setting: 'ECAMO_QUARANTINE_FAILURES' },
      'quarantine counts peer addresses (ECAMO_TRUSTED_PROXIES is unset): everyone behind one NAT, proxy or load balancer shares one count and one quarantine; list your proxies in ECAMO_TRUSTED_PROXIES',
    );
  }
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  if (!cluster.isWorker) warnOfRiskySettings(config, logger);
  const serveAdmin = options.admin !== false && config.adminBind !== undefined;
  const metrics = new Metrics({ processMetrics: options.processMetrics ?? serveAdmin });
  const tracing = config.tracing === undefined ? undefined : await startTracing(config.tracing);
  const hooks = {
    ...(options.sourceTls === undefined ? {} : { connect: options.sourceTls }),
    ...(options.cacheClock === undefined ? {} : { cacheClock: options.cacheClock }),
  };
  const app = await createApp(config, logger, metrics, hooks, tracing);
  const server = config.tls === undefined ? createHttpServer(app) : createSecureHttpServer(app, config.tls);
  const drain = drainable(server);
  let tls = config.tls;
  let listening = false;
  const ready = (): boolean => listening && !drain.draining;
  metrics.watchReadiness(ready);

  // The admin listener comes up first, so that probes see "alive, not ready" rather than nothing.
  const adminServer = serveAdmin
    ? createAdminServer(
        {
          metrics: () => metrics.registry.metrics(),
          metricsContentType: metrics.registry.contentType,
          ready,
        },
        logger,
      )
    : undefined;
  let adminUrl: string | undefined;
  let bound;
  try {
    adminUrl = adminServer === undefined || config.adminBind === undefined ? undefined : (await listen(adminServer, config.adminBind)).url;
    bound = await listen(server, options.listen ?? config.bind, { secure: tls !== undefined });
  } catch (error) {
    adminServer?.close();
    // An open Redis connection would keep a process that failed to start alive.
    await app.redis?.close();
    await tracing?.shutdown();
    throw error;
  }
  listening = true;

  const reloadKeys = async (): Promise<void> => {
    const { keySources } = config;
    if (keySources.servicePublicKeysFile === undefined && keySources.privateKeysFile === undefined) return;
    try {
      app.tokens.replaceKeys(await reloadKeySet(keySources, app.tokens.keys));
      metrics.keyReloads.labels('success').inc();
      logger.info({ signingKid: app.tokens.keys.ecamoKeys.signing.kid, serviceKeys: app.tokens.keys.serviceKeys.size }, 'keys reloaded');
    } catch (error) {
      metrics.keyReloads.labels('failure').inc();
      logger.error({ err: error }, 'key reload failed; the previous keys stay in use');
    }
  };
  const reloadTls = async (): Promise<void> => {
    if (tls === undefined || !('setSecureContext' in server)) return;
    try {
      const next: TlsFiles = await loadTlsFiles(tls.certFile, tls.keyFile);
      // New handshakes use the new pair; connections already open keep theirs.
      server.setSecureContext({ cert: next.cert, key: next.key });
      tls = next;
      metrics.tlsReloads.labels('success').inc();
      logger.info({ cert: next.certFile }, 'TLS certificate reloaded');
    } catch (error) {
      metrics.tlsReloads.labels('failure').inc();
      logger.error({ err: error }, 'TLS reload failed; the previous certificate stays in use');
    }
  };
  const reloadErrorImage = async (): Promise<void> => {
    if (app.errorImage === undefined) return;
    try {
      await app.errorImage.reload();
      logger.info({ path: app.errorImage.current.path, type: app.errorImage.current.type }, 'fallback image reloaded');
    } catch (error) {
      logger.error({ err: error }, 'fallback image reload failed; the previous image stays in use');
    }
  };
  const reloadOnce = async (): Promise<void> => {
    await reloadKeys();
    await reloadErrorImage();
    await reloadTls();
  };
  let reloading: Promise<void> | undefined;
  /** Reloads asked for so far: one asked for while another runs is done after it, once. */
  let requested = 0;
  const reload = (): Promise<void> => {
    requested++;
    reloading ??= (async () => {
      let served: number;
      do {
        served = requested;
        await reloadOnce();
      } while (requested !== served);
    })().finally(() => {
      reloading = undefined;
    });
    return reloading;
  };

  let closing: Promise<void> | undefined;
  const close = (graceMs: number = config.shutdownGraceMs): Promise<void> => {
    closing ??= (async () => {
      await drain.drain(graceMs);
      if (adminServer !== undefined) {
        const adminClosed = new Promise<void>((resolve) => adminServer.close(() => resolve()));
        adminServer.closeAllConnections();
        await adminClosed;
      }
      await reloading;
      await app.fetcher.close();
      await app.redis?.close();
      // Last: the spans of the requests the drain let finish.
      await tracing?.shutdown();
    })();
    return closing;
  };

  return {
    server,
    app,
    url: bound.url,
    port: bound.port,
    adminUrl,
    get draining() {
      return drain.draining;
    },
    reload,
    close,
  };
}
