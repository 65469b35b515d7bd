/**
 * The processes of a server: one, or ECAMO_WORKERS workers under a primary
 * that forks them, replaces those that die, passes signals on and serves
 * their admin listener (cluster-admin.ts).
 */
import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config/load.js';
import { createAdminServer } from '../http/admin.js';
import { answerPrimary, WorkerGroupAdmin } from './cluster-admin.js';
import { exitOnSignals } from './kit.js';
import { listen } from './listen.js';
import { createLogger } from '../log.js';
import { countForWorkers } from '../quarantine/cluster.js';
import { startServer, warnOfRiskySettings, type RunningServer } from './start.js';

/** Sent by a worker that could not start (e.g. the port is taken), so that the primary can say why it gives up. */
interface StartFailedMessage {
  readonly ecamoStartFailed: string;
}

/** Restart delays after a listening worker died: doubling from the first, up to the last. */
const FIRST_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;
/** A worker that served this long before dying was not crash-looping: the next restart is quick again. */
const STABLE_WORKER_MS = 60_000;

/**
 * Serves `config` as `ecamo serve` does, from the process that calls it,
 * which it takes over: with `ECAMO_WORKERS` above 1 this process becomes the
 * primary of that many worker processes sharing the port (each a fork of
 * this script, where the same call starts the worker's server); otherwise it
 * serves alone. SIGHUP reloads, SIGTERM and SIGINT drain and exit. Resolves
 * once started (the primary: once the workers are forked).
 */
export async function runWorkers(config: Config): Promise<void> {
  if (config.workers > 1 && cluster.isPrimary) return runPrimary(config);
  return runWorker(config);
}

async function runWorker(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  const inCluster = cluster.isWorker;
  // From the start: Node's default for SIGHUP would end the process. One asked for while starting is done once started,
  // since the files may have changed after they were read.
  let running: RunningServer | undefined;
  const whileStarting = { reloadAsked: false };
  process.on('SIGHUP', () => {
    logger.info({ signal: 'SIGHUP' }, 'reloading');
    if (running === undefined) whileStarting.reloadAsked = true;
    else void running.reload();
  });
  // Before the server starts: the primary may ask as soon as it sees this worker listen, before startServer returns.
  if (inCluster) answerPrimary(() => (running === undefined ? undefined : { registry: running.app.metrics.registry, ready: !running.draining }));
  try {
    running = await startServer(config, { logger, admin: !inCluster, processMetrics: inCluster || config.adminBind !== undefined });
  } catch (error) {
    // In a cluster worker process.send exists: the primary reports it, once for all workers, and exits.
    if (!inCluster || process.send === undefined) throw error;
    const message: StartFailedMessage = { ecamoStartFailed: error instanceof Error ? error.message : String(error) };
    process.send(message, undefined, {}, () => process.exit(1));
    return;
  }
  const started = running;
  if (whileStarting.reloadAsked) void started.reload();
  exitOnSignals(() => started.close(), logger);
  // Last: whoever waits for this line may signal at once.
  logger.info({ url: started.url, admin: started.adminUrl, canonicalHost: config.canonicalHost, workers: config.workers }, 'ecamo listening');
}

/**
 * Forks the workers and keeps their number. A worker that dies before it
 * listens stops everything (it would fail again: say why and exit 1, so that
 * a supervisor sees it); one that dies later is replaced after a delay that
 * grows while replacements keep dying.
 */
async function runPrimary(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  warnOfRiskySettings(config, logger);
  const listening = new Set<Worker>();
  const startedAt = new WeakMap<Worker, number>();
  const startFailures = new WeakMap<Worker, string>();
  const pendingRestarts = new Set<NodeJS.Timeout>();
  let quickDeathsInARow = 0;
  let stopping = false;
  let exitCode = 0;

  const fork = (): void => {
    startedAt.set(cluster.fork(), Date.now());
  };
  const remainingWorkers = (): Worker[] => Object.values(cluster.workers ?? {}).filter((worker) => worker !== undefined);
  const stopAll = (): void => {
    stopping = true;
    for (const timer of pendingRestarts) clearTimeout(timer);
    for (const worker of remainingWorkers()) worker.process.kill('SIGTERM');
    if (remainingWorkers().length === 0) process.exit(exitCode);
  };

  /** Workers that were starting when a SIGHUP came: they get it once they listen. */
  const reloadOnceListening = new WeakSet<Worker>();
  cluster.on('listening', (worker) => {
    listening.add(worker);
    if (reloadOnceListening.delete(worker)) worker.process.kill('SIGHUP');
  });
  cluster.on('message', (worker, message: unknown) => {
    if (typeof message === 'object' && message !== null && 'ecamoStartFailed' in message && typeof message.ecamoStartFailed === 'string') {
      startFailures.set(worker, message.ecamoStartFailed);
    }
  });
  cluster.on('exit', (worker, code, signalName) => {
    // @types/node says string; a worker that exited with a code has none.
    const signal = signalName as string | null;
    const listened = listening.delete(worker);
    if (stopping) {
      if (remainingWorkers().length === 0) process.exit(exitCode);
      return;
    }
    if (!listened) {
      const reason = startFailures.get(worker) ?? `a worker exited before listening (${signal ?? `code ${code}`})`;
      process.stderr.write(`ecamo: ${reason}\n`);
      exitCode = 1;
      stopAll();
      return;
    }
    const lived = Date.now() - (startedAt.get(worker) ?? 0);
    quickDeathsInARow = lived >= STABLE_WORKER_MS ? 0 : quickDeathsInARow + 1;
    const restartInMs = Math.min(MAX_RESTART_DELAY_MS, FIRST_RESTART_DELAY_MS * 2 ** Math.max(0, quickDeathsInARow - 1));
    logger.error({ worker: worker.process.pid, code, signal, restartInMs }, 'worker died; starting another');
    const timer = setTimeout(() => {
      pendingRestarts.delete(timer);
      fork();
    }, restartInMs);
    pendingRestarts.add(timer);
  });
  // Every worker re-reads its own keys: each holds them in its own memory. A worker still starting may not handle
  // SIGHUP yet (Node's default would kill it, and a worker that dies before listening stops everything): it is
  // signalled once it listens.
  process.on('SIGHUP', () => {
    logger.info({ signal: 'SIGHUP' }, 'reloading workers');
    for (const worker of remainingWorkers()) {
      if (listening.has(worker)) worker.process.kill('SIGHUP');
      else reloadOnceListening.add(worker);
    }
  });
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'stopping workers');
    stopAll();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // Without Redis, the workers' refused credentials are counted here, for one quarantine across them.
  if (config.quarantine !== undefined && config.redis === undefined) countForWorkers(config.quarantine);
  for (let i = 0; i < config.workers; i++) fork();
  if (config.adminBind !== undefined) {
    const group = new WorkerGroupAdmin({ expected: config.workers, listening: () => [...listening], stopping: () => stopping });
    const admin = createAdminServer(group, logger);
    const { url } = await listen(admin, config.adminBind);
    // Off the event loop's books: the primary exits once its last worker has.
    admin.unref();
    logger.info({ admin: url, workers: config.workers }, 'ecamo admin listening');
  }
}
