/**
 * `ecamo/server`: run ecamo inside your own Node.js process.
 *
 * ```ts
 * import { loadConfig, startServer } from 'ecamo/server';
 *
 * const config = await loadConfig(process.env); // throws ConfigError naming the variable
 * const server = await startServer(config, { listen: { host: '127.0.0.1', port: 0 } });
 * console.log(`ecamo on ${server.url}`);
 * await server.close(); // lets responses in flight finish, up to ECAMO_SHUTDOWN_GRACE
 * ```
 *
 * The configuration is opaque: what it holds (keys among it) stays inside
 * ecamo. One call serves on one process; `ECAMO_WORKERS` is for `ecamo serve`.
 */
import { loadConfig as loadValidatedConfig, type Config } from '../config/load.js';
import { startServer as startInternal } from './start.js';
import type { Logger } from '../log.js';

export { ConfigError } from '../config/errors.js';
export { EcamoError, type EcamoErrorCode } from '../errors.js';

/** A configuration `loadConfig` validated and froze. */
export interface EcamoConfig {
  /** `ECAMO_CANONICAL_HOST`: where the proxy endpoint and the JWKS answer. */
  readonly canonicalHost: string;
}

export interface EcamoServerOptions {
  /** A pino logger; by default one on stdout at `ECAMO_LOG_LEVEL`. */
  readonly logger?: Logger;
  /** Overrides `ECAMO_BIND`; port 0 picks a free port. */
  readonly listen?: { readonly host: string; readonly port: number };
}

export interface EcamoServer {
  /** `http://host:port` as bound (IPv6 in brackets). */
  readonly url: string;
  readonly port: number;
  /** Re-reads `ECAMO_*_KEYS_FILE` and `ECAMO_FALLBACK_IMAGE` (what `ecamo serve` does on SIGHUP); an unusable file keeps the one in use. */
  reload(): Promise<void>;
  /** Stops accepting, lets responses in flight finish for up to `graceMs` (default `ECAMO_SHUTDOWN_GRACE`), then cuts the rest. */
  close(graceMs?: number): Promise<void>;
}

const validated = new WeakMap<EcamoConfig, Config>();

/** Reads and checks every `ECAMO_*` variable (docs/configuration.md); throws `ConfigError` naming the first wrong one. */
export async function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Promise<EcamoConfig> {
  const config = await loadValidatedConfig(env);
  const handle: EcamoConfig = Object.freeze({ canonicalHost: config.canonicalHost });
  validated.set(handle, config);
  return handle;
}

export async function startServer(config: EcamoConfig, options: EcamoServerOptions = {}): Promise<EcamoServer> {
  const inside = validated.get(config);
  if (inside === undefined) throw new TypeError('startServer takes a configuration made by loadConfig');
  const running = await startInternal(inside, options);
  return Object.freeze({ url: running.url, port: running.port, reload: () => running.reload(), close: (graceMs?: number) => running.close(graceMs) });
}
