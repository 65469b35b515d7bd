import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { loadConfig, type Config } from '../config/load.js';
import { createLogger } from '../log.js';
import { startServer } from '../http/start.js';

/**
 * `ecamo serve`: configuration from ECAMO_* (validated before anything
 * listens), one process or ECAMO_WORKERS processes sharing the port.
 */
export async function serve(env: NodeJS.ProcessEnv): Promise<void> {
  const config = await loadConfig(env, { cpus: availableParallelism() });
  if (config.workers > 1 && cluster.isPrimary) return runPrimary(config);
  return runWorker(config);
}

async function runWorker(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  const running = await startServer(config, { logger });
  logger.info({ url: running.url, canonicalHost: config.canonicalHost, workers: config.workers }, 'ecamo listening');
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'shutting down');
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

function runPrimary(config: Config): void {
  const logger = createLogger(config.logLevel);
  let stopping = false;
  const fork = (): void => {
    cluster.fork();
  };
  for (let i = 0; i < config.workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.error({ worker: worker.process.pid, code, signal }, 'worker died; starting another');
    fork();
  });
  const stop = (signal: NodeJS.Signals): void => {
    stopping = true;
    logger.info({ signal }, 'stopping workers');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
