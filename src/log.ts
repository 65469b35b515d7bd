import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/load.js';

export type { Logger };

/**
 * JSON logs on stdout. Nothing in the request path logs headers wholesale,
 * but the redaction list stands guard should anyone add them.
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: {
        paths: [
          'token',
          '*.token',
          'headers.cookie',
          'headers.authorization',
          'headers["set-cookie"]',
          '*.headers.cookie',
          '*.headers.authorization',
          '*.headers["set-cookie"]',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/**
 * One log line for a condition that can hit every request at once (running
 * out of file descriptors, a Redis outage): written at most once per
 * interval, with the number of occurrences it stands for and the detail of
 * the occurrence that wrote it (the others are only counted).
 */
export class ThrottledLog<Detail = void> {
  readonly #write: (occurrences: number, detail: Detail) => void;
  readonly #intervalMs: number;
  #lastWrittenAt = Number.NEGATIVE_INFINITY;
  #occurrences = 0;

  constructor(intervalMs: number, write: (occurrences: number, detail: Detail) => void) {
    this.#intervalMs = intervalMs;
    this.#write = write;
  }

  /** Whether a line has been written since this log was made. */
  get hasWritten(): boolean {
    return Number.isFinite(this.#lastWrittenAt);
  }

  note(detail: Detail): void {
    this.#occurrences++;
    if (Date.now() - this.#lastWrittenAt >= this.#intervalMs) this.#flush(detail);
  }

  /** Counts and writes this occurrence whatever the interval (e.g. the start of an outage); the interval starts again. */
  writeNow(detail: Detail): void {
    this.#occurrences++;
    this.#flush(detail);
  }

  #flush(detail: Detail): void {
    this.#write(this.#occurrences, detail);
    this.#lastWrittenAt = Date.now();
    this.#occurrences = 0;
  }
}

/** How often, at most, running out of file descriptors is logged: it hits every request at once. */
const OUT_OF_DESCRIPTORS_LOG_INTERVAL_MS = 10_000;

/** The one `error` line per interval for requests answered 503 `overloaded` (EMFILE, ENFILE). */
export function outOfDescriptorsLog(logger: Logger): ThrottledLog {
  return new ThrottledLog(OUT_OF_DESCRIPTORS_LOG_INTERVAL_MS, (occurrences) => {
    logger.error({ occurrences }, 'out of file descriptors: answering 503 overloaded (raise the limit, e.g. LimitNOFILE, or lower the load)');
  });
}

/** What a log line says of an expected failure: its message (and its cause's), never a stack. */
export function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error && !error.message.includes(error.cause.message) ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
