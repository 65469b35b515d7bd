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
 * ecamo. `startServer` serves in the calling process, whatever
 * `ECAMO_WORKERS` says; `runWorkers` runs the processes `ecamo serve` runs:
 *
 * ```ts
 * import { loadConfig, runWorkers } from 'ecamo/server';
 *
 * // Top level of the script: every worker is a fork of it, where this same call serves.
 * await runWorkers(await loadConfig());
 * ```
 */
import { availableParallelism } from 'node:os';
import { loadConfig as loadValidatedConfig, type Config } from '../config/load.js';
import { startServer as startInternal } from './start.js';
import { runWorkers as runInternal } from './workers.js';
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
  const config = await loadValidatedConfig(env, { cpus: availableParallelism() });
  const handle: EcamoConfig = Object.freeze({ canonicalHost: config.canonicalHost });
  validated.set(handle, config);
  return handle;
}

function validatedBy(caller: string, config: EcamoConfig): Config {
  const inside = validated.get(config);
  if (inside === undefined) throw new TypeError(`${caller} takes a configuration made by loadConfig`);
  return inside;
}

export async function startServer(config: EcamoConfig, options: EcamoServerOptions = {}): Promise<EcamoServer> {
  const inside = validatedBy('startServer', config);
  const running = await startInternal(inside, options);
  return Object.freeze({ url: running.url, port: running.port, reload: () => running.reload(), close: (graceMs?: number) => running.close(graceMs) });
}

/**
 * Serves as `ecamo serve` does, taking over the calling process: with
 * `ECAMO_WORKERS` above 1 (`auto`: one per CPU) this process becomes the
 * primary of that many workers sharing the port, each a fork of this script
 * (so call it where every process gets to it, as the script starts); the
 * primary restarts a worker that dies after it listened (after a delay that
 * grows while they keep dying), stops everything with exit code 1 when one
 * cannot start, passes SIGHUP on (each worker reloads), and serves
 * `ECAMO_ADMIN_BIND` for them all. SIGTERM and SIGINT drain every worker and
 * exit. With one worker, this process serves alone, with the same signals.
 * Resolves once started; logs `ecamo listening` from each serving process.
 */
export async function runWorkers(config: EcamoConfig): Promise<void> {
  await runInternal(validatedBy('runWorkers', config));
}
