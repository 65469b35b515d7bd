/**
 * The one Redis connection of an ecamo process (`ECAMO_REDIS_URL`), shared by
 * everything that keeps state across instances (quarantine counters, the
 * response cache).
 *
 * Redis is an optimisation of shared state, never a dependency of a request:
 * commands fail fast while it is unreachable (no offline queue, a short
 * command timeout, no retries of a command), the connection is re-established
 * in the background with capped backoff, and callers fall back to
 * per-instance memory. A Redis that keeps its connection but answers nothing
 * (stopped, overloaded) is treated as unavailable after a few commands in a
 * row timed out (the circuit opens): callers then use memory at once instead
 * of each waiting the command timeout, and one cheap command (PING) probes it
 * in the background until it answers, which closes the circuit again. The
 * start of an outage (the connection lost, the circuit opened) is logged at
 * once, the failures during it once per interval, and its end when it ends;
 * its state is readable (`status()`) for metrics.
 *
 * Use:
 * - `available`: cheap; false while disconnected or while the circuit is
 *   open, so a caller can skip Redis without paying for a failing command.
 *   A caller that uses `client` directly must ask it first.
 * - `run(command)`: runs a command on the client; resolves with its result,
 *   or `undefined` when Redis is unavailable or the command failed (the
 *   failure is counted and logged once per interval). Never rejects.
 * - `client`: the ioredis client itself, for libraries that take one (e.g.
 *   rate-limiter-flexible); report their failures with `noteFailure`.
 *   Every command sent on it counts towards opening the circuit.
 * Keys of ecamo live under `ecamo:` (`ecamo:q:` quarantine, `ecamo:c:` cache).
 */
import { Redis, type RedisOptions } from 'ioredis';
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
  /** At most one "Redis unavailable" log line per this interval (the start of an outage is always logged). */
  readonly logIntervalMs: number;
  /** This many commands in a row that timed out open the circuit: Redis counts as unavailable. */
  readonly circuitTimeouts: number;
  /** While the circuit is open, one PING per this interval asks whether Redis answers again. */
  readonly probeIntervalMs: number;
}

export const DEFAULT_REDIS_TIMINGS: RedisTimings = Object.freeze({
  commandTimeoutMs: 200,
  connectTimeoutMs: 1000,
  reconnectStepMs: 100,
  reconnectMaxMs: 2000,
  logIntervalMs: 60_000,
  circuitTimeouts: 3,
  probeIntervalMs: 1000,
});

export interface RedisStatus {
  /** Connected, ready for commands, and answering them (the circuit is closed). */
  readonly available: boolean;
  /** When the current outage began (ms since the epoch), undefined while available. */
  readonly unavailableSince: number | undefined;
  /** Failed commands and connection errors since start. */
  readonly failures: number;
}

/** ioredis's rejection of a command not answered within `commandTimeout`. */
const COMMAND_TIMED_OUT = 'Command timed out';

type CommandOutcome = 'answered' | 'timed-out' | 'failed';

function outcomeOf(rejection: unknown): CommandOutcome {
  if (!(rejection instanceof Error)) return 'failed';
  if (rejection.message === COMMAND_TIMED_OUT) return 'timed-out';
  // A reply of Redis's own (WRONGTYPE and the like) still shows that it answers.
  return rejection.name === 'ReplyError' ? 'answered' : 'failed';
}

/**
 * The ioredis client, telling of the outcome of every command sent on it:
 * the one place that sees the commands of every caller, libraries' included.
 */
class WatchedRedis extends Redis {
  constructor(
    options: Omit<RedisOptions, 'replyMapping'>,
    private readonly onOutcome: (outcome: CommandOutcome) => void,
  ) {
    super(options);
  }

  override sendCommand(...args: Parameters<Redis['sendCommand']>): unknown {
    const sent = super.sendCommand(...args);
    args[0].promise.then(
      () => this.onOutcome('answered'),
      (error: unknown) => this.onOutcome(outcomeOf(error)),
    );
    return sent;
  }
}

/** See the module comment. One per process; closed with the server. */
export class SharedRedis {
  readonly client: Redis;
  readonly target: RedisTarget;
  readonly #logger: Logger;
  readonly #timings: RedisTimings;
  readonly #outageLog: ThrottledLog<unknown>;
  #unavailableSince: number | undefined;
  #failures = 0;
  #closing = false;
  /** Commands in a row that timed out on the current connection. */
  #timeoutsInARow = 0;
  /** Set while the circuit is open: the pending probe. */
  #probe: NodeJS.Timeout | undefined;

  constructor(target: RedisTarget, logger: Logger, timings: RedisTimings = DEFAULT_REDIS_TIMINGS) {
    this.target = target;
    this.#logger = logger;
    this.#timings = timings;
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
    this.client = new WatchedRedis(
      {
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
      },
      (outcome) => this.#commandSettled(outcome),
    );
    this.client.on('ready', () => this.#becameAvailable());
    this.client.on('error', (error: Error) => this.noteFailure(error));
    this.client.on('close', () => this.#connectionLost());
  }

  /** Connected, ready and answering (the circuit is closed): cheap enough to ask on every request. */
  get available(): boolean {
    return this.client.status === 'ready' && this.#probe === undefined;
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

  /** Runs `command`, or rejects at once when Redis is unavailable: for callers with a fallback of their own. */
  async whenAvailable<T>(command: (client: Redis) => Promise<T>): Promise<T> {
    if (!this.available) throw new Error(`redis ${this.target.display} is unavailable`);
    return command(this.client);
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
    this.#stopProbing();
    if (this.client.status === 'end') return;
    if (this.client.status === 'reconnecting') {
      // Between attempts there is no socket: disconnect cancels the pending attempt, and no 'end' follows.
      this.client.disconnect();
      return;
    }
    // Not events.once: it rejects on 'error', and a connection that fails in its handshake emits one while it closes.
    const ended = new Promise((resolve) => this.client.once('end', resolve));
    if (this.client.status === 'ready') {
      // A failing quit must not hold the shutdown: disconnect instead.
      await this.client.quit().catch(() => this.client.disconnect());
    } else {
      this.client.disconnect();
    }
    await ended;
  }

  #commandSettled(outcome: CommandOutcome): void {
    if (outcome === 'answered') this.#timeoutsInARow = 0;
    if (outcome !== 'timed-out' || this.#probe !== undefined || this.#closing) return;
    this.#timeoutsInARow++;
    if (this.#timeoutsInARow < this.#timings.circuitTimeouts || this.client.status !== 'ready') return;
    // Connected, but not answering: callers use memory at once from now on, while a probe asks.
    this.#outageBegan(new Error(`${this.#timeoutsInARow} commands in a row timed out (${this.#timings.commandTimeoutMs} ms each)`));
    this.#scheduleProbe();
  }

  #scheduleProbe(): void {
    this.#probe = setTimeout(() => {
      this.client.ping().then(
        () => {
          this.#stopProbing();
          this.#becameAvailable();
        },
        () => {
          if (this.#probe !== undefined && !this.#closing) this.#scheduleProbe();
        },
      );
    }, this.#timings.probeIntervalMs);
    // A probe alone must not keep the process alive.
    this.#probe.unref();
  }

  #stopProbing(): void {
    clearTimeout(this.#probe);
    this.#probe = undefined;
    this.#timeoutsInARow = 0;
  }

  /** The start of an outage: logged at once, whatever the interval; what follows it is throttled. */
  #outageBegan(reason: Error): void {
    if (this.#closing || this.#unavailableSince !== undefined) return;
    this.#unavailableSince = Date.now();
    this.#outageLog.writeNow(reason);
  }

  #becameAvailable(): void {
    if (this.#unavailableSince !== undefined && this.#outageLog.hasWritten) {
      this.#logger.info({ redis: this.target.display, downMs: Date.now() - this.#unavailableSince }, 'redis available again');
    }
    this.#unavailableSince = undefined;
  }

  #connectionLost(): void {
    // The reconnecting connection is what callers wait for now; a new one starts with the circuit closed.
    this.#stopProbing();
    this.#outageBegan(new Error('connection lost'));
  }
}
