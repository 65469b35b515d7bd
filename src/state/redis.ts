/**
 * The one Redis connection of an ecamo process (`ECAMO_REDIS_URL`), shared by
 * everything that keeps state across instances (quarantine counters, the
 * response cache).
 *
 * Redis is an optimisation of shared state, never a dependency of a request:
 * commands fail fast while it is unreachable (no offline queue, a short
 * command timeout, no retries of a command), the connection is re-established
 * in the background with capped backoff, and callers fall back to
 * per-instance memory. An outage is logged once per interval, not once per
 * request, and its state is readable (`status()`) for metrics.
 *
 * Use:
 * - `available`: cheap; false while disconnected, so a caller can skip
 *   Redis without paying for a failing command.
 * - `run(command)`: runs a command on the client; resolves with its result,
 *   or `undefined` when Redis is unavailable or the command failed (the
 *   failure is counted and logged once per interval). Never rejects.
 * - `client`: the ioredis client itself, for libraries that take one (e.g.
 *   rate-limiter-flexible); report their failures with `noteFailure`.
 * Keys of ecamo live under `ecamo:` (`ecamo:q:` quarantine, `ecamo:c:` cache).
 */
import { once } from 'node:events';
import { Redis } from 'ioredis';
import type { RedisTarget } from '../config/redis-url.js';
import { reasonOf, ThrottledLog, type Logger } from '../log.js';

export { parseRedisUrl, type RedisTarget } from '../config/redis-url.js';

export interface RedisTimings {
  /** A command not answered within this fails (and the caller falls back). */
  readonly commandTimeoutMs: number;
  /** Bound on connecting, so a black-holed address is noticed. */
  readonly connectTimeoutMs: number;
  /** Reconnect backoff grows by this per attempt... */
  readonly reconnectStepMs: number;
  /** ...up to this. */
  readonly reconnectMaxMs: number;
  /** At most one "Redis unavailable" log line per this interval. */
  readonly logIntervalMs: number;
}

export const DEFAULT_REDIS_TIMINGS: RedisTimings = Object.freeze({
  commandTimeoutMs: 200,
  connectTimeoutMs: 1000,
  reconnectStepMs: 100,
  reconnectMaxMs: 2000,
  logIntervalMs: 60_000,
});

export interface RedisStatus {
  /** Connected and ready for commands. */
  readonly available: boolean;
  /** When the current outage began (ms since the epoch), undefined while available. */
  readonly unavailableSince: number | undefined;
  /** Failed commands and connection errors since start. */
  readonly failures: number;
}

/** See the module comment. One per process; closed with the server. */
export class SharedRedis {
  readonly client: Redis;
  readonly target: RedisTarget;
  readonly #logger: Logger;
  readonly #outageLog: ThrottledLog<unknown>;
  #unavailableSince: number | undefined;
  #failures = 0;
  #closing = false;

  constructor(target: RedisTarget, logger: Logger, timings: RedisTimings = DEFAULT_REDIS_TIMINGS) {
    this.target = target;
    this.#logger = logger;
    this.#outageLog = new ThrottledLog(timings.logIntervalMs, (failures, error: unknown) => {
      // One line: what failed (ECONNREFUSED, "Command timed out"), never the stack of an expected failure.
      const code = (error as { code?: unknown } | undefined)?.code;
      logger.warn(
        { redis: target.display, ...(typeof code === 'string' ? { code } : {}), reason: reasonOf(error), failures, unavailableSince: this.#unavailableSince },
        'redis unavailable or failing; using per-instance memory state',
      );
    });
    // Down until the first connection is ready: requests before then use memory.
    this.#unavailableSince = Date.now();
    this.client = new Redis({
      host: target.host,
      port: target.port,
      db: target.db,
      ...(target.username === undefined ? {} : { username: target.username }),
      ...(target.password === undefined ? {} : { password: target.password }),
      ...(target.tls ? { tls: { servername: target.host } } : {}),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: timings.commandTimeoutMs,
      connectTimeout: timings.connectTimeoutMs,
      retryStrategy: (attempt: number) => (this.#closing ? null : Math.min(attempt * timings.reconnectStepMs, timings.reconnectMaxMs)),
    });
    this.client.on('ready', () => this.#becameAvailable());
    this.client.on('error', (error: Error) => this.noteFailure(error));
    this.client.on('close', () => this.#becameUnavailable());
  }

  /** Connected and ready: cheap enough to ask on every request. */
  get available(): boolean {
    return this.client.status === 'ready';
  }

  status(): RedisStatus {
    return { available: this.available, unavailableSince: this.#unavailableSince, failures: this.#failures };
  }

  /** Runs `command`, or answers undefined when Redis is unavailable or the command fails. Never rejects. */
  async run<T>(command: (client: Redis) => Promise<T>): Promise<T | undefined> {
    if (!this.available) return undefined;
    try {
      return await command(this.client);
    } catch (error) {
      this.noteFailure(error);
      return undefined;
    }
  }

  /** Counts a failure; at most once per interval logs one line with its reason and how many failures the line stands for. */
  noteFailure(error: unknown): void {
    if (this.#closing) return;
    this.#failures++;
    this.#outageLog.note(error);
  }

  /** Quits (or, when not connected, disconnects) and resolves once the connection has ended. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    if (this.client.status === 'end') return;
    if (this.client.status === 'reconnecting') {
      // Between attempts there is no socket: disconnect cancels the pending attempt, and no 'end' follows.
      this.client.disconnect();
      return;
    }
    const ended = once(this.client, 'end');
    if (this.client.status === 'ready') {
      // A failing quit must not hold the shutdown: disconnect instead.
      await this.client.quit().catch(() => this.client.disconnect());
    } else {
      this.client.disconnect();
    }
    await ended;
  }

  #becameAvailable(): void {
    if (this.#unavailableSince !== undefined && this.#outageLog.hasWritten) {
      this.#logger.info({ redis: this.target.display, downMs: Date.now() - this.#unavailableSince }, 'redis available again');
    }
    this.#unavailableSince = undefined;
  }

  #becameUnavailable(): void {
    this.#unavailableSince ??= Date.now();
  }
}
