import { EcamoError } from '../errors.js';

/** Reason for a transfer nobody wants any more; never reported. */
export class AbandonedError extends Error {
  override readonly name = 'AbandonedError';
}

/** What the deadline stops: the exchange with a source now in flight. */
export interface Stoppable {
  stop(reason: Error): void;
}

/** The whole-fetch timer, and the one exchange it currently governs. */
export class Deadline {
  #timer: NodeJS.Timeout | undefined;
  #current: Stoppable | undefined;
  #reason: Error | undefined;

  constructor(timeoutMs: number) {
    this.#timer = setTimeout(() => this.#stop(new EcamoError('source-request', 'source timed out', { variant: 'timeout' })), timeoutMs);
  }

  /** The exchange now in flight; it is stopped at once if the fetch already was. */
  govern(exchange: Stoppable): void {
    this.#current = exchange;
    if (this.#reason !== undefined) exchange.stop(this.#reason);
  }

  abandon(): void {
    this.#stop(new AbandonedError('client went away'));
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#current = undefined;
  }

  #stop(reason: Error): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#current?.stop(reason);
  }
}
