import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import { loadConfig, type Config } from '../config/load.js';
import { createAdminServer } from '../http/admin.js';
import { listen } from '../http/listen.js';
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
  const inCluster = cluster.isWorker;
  const running = await startServer(config, { logger, admin: !inCluster, processMetrics: inCluster || config.adminBind !== undefined });
  if (inCluster) {
    // The primary's AggregatorRegistry asks every worker for this registry over IPC.
    AggregatorRegistry.setRegistries([running.app.metrics.registry]);
    new AggregatorRegistry();
  }
  logger.info({ url: running.url, admin: running.adminUrl, canonicalHost: config.canonicalHost, workers: config.workers }, 'ecamo listening');
  process.on('SIGHUP', () => {
    logger.info({ signal: 'SIGHUP' }, 'reloading');
    void running.reload();
  });
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

async function runPrimary(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  let stopping = false;
  const listening = new Set<number>();
  cluster.on('listening', (worker) => listening.add(worker.id));
  const fork = (): void => {
    cluster.fork();
  };
  for (let i = 0; i < config.workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    listening.delete(worker.id);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.error({ worker: worker.process.pid, code, signal }, 'worker died; starting another');
    fork();
  });
  // Every worker re-reads its own keys: each holds them in its own memory.
  process.on('SIGHUP', () => {
    logger.info({ signal: 'SIGHUP' }, 'reloading workers');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
  });
  const stop = (signal: NodeJS.Signals): void => {
    stopping = true;
    logger.info({ signal }, 'stopping workers');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (config.adminBind !== undefined) {
    const aggregator = new AggregatorRegistry();
    const admin = createAdminServer(
      {
        metrics: () => aggregator.clusterMetrics(),
        metricsContentType: aggregator.contentType,
        ready: () => !stopping && listening.size > 0,
      },
      logger,
    );
    const { url } = await listen(admin, config.adminBind);
    // Off the event loop's books: the primary exits once its last worker has.
    admin.unref();
    logger.info({ admin: url, workers: config.workers }, 'ecamo admin listening');
  }
}
