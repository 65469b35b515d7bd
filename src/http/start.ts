/**
 * Starts and stops an ecamo server from a validated configuration: for
 * `ecamo serve`, the demo, the package entry `ecamo/server` (src/server/index.ts)
 * and tests, which alone use the hooks (the App, a private CA for sources).
 */
import type { Server } from 'node:http';
import { createApp, type App } from './app.js';
import { listen } from './listen.js';
import { createHttpServer } from './dispatch.js';
import { createLogger, type Logger } from '../log.js';
import type { Config } from '../config/load.js';

export interface StartOptions {
  readonly logger?: Logger;
  /** Overrides ECAMO_BIND, e.g. `{ host: '127.0.0.1', port: 0 }` in tests. */
  readonly listen?: { readonly host: string; readonly port: number };
  /** Extra trust for sources' TLS (tests with a private CA). */
  readonly sourceTls?: { readonly ca?: string | Buffer };
}

export interface RunningServer {
  readonly server: Server;
  readonly app: App;
  /** `http://host:port` as bound (IPv6 in brackets). */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, lets responses in flight finish for up to `graceMs`, then cuts the rest. */
  close(graceMs?: number): Promise<void>;
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const app = createApp(config, logger, options.sourceTls === undefined ? {} : { connect: options.sourceTls });
  const server = createHttpServer(app);
  const { url, port } = await listen(server, options.listen ?? config.bind);

  let closing: Promise<void> | undefined;
  const close = (graceMs: number = config.shutdownGraceMs): Promise<void> => {
    closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
        timer.unref();
      });
      await Promise.race([closed, grace]);
      clearTimeout(timer);
      server.closeAllConnections();
      await closed;
      await app.fetcher.close();
    })();
    return closing;
  };

  return { server, app, url, port, close };
}
