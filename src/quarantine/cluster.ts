/**
 * Quarantine across the workers of one `ecamo serve` (ECAMO_WORKERS above 1)
 * when there is no Redis to share counts: the primary counts every worker's
 * refused credentials, and when an address trips it tells every worker, which
 * then answers 429 from its own memory. The request path asks nobody: only
 * refusals cross the IPC channel, so valid traffic pays nothing for it.
 */
import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import type { QuarantineSettings } from '../config/load.js';
import { RefusalCounts, rulesOf } from './refusal-counts.js';

const CHANNEL = 'ecamo-quarantine';
/** A refusal the primary has not acknowledged by then is not counted (the request is answered regardless). */
const REPLY_TIMEOUT_MS = 200;

type QuarantineMessage =
  | { readonly channel: typeof CHANNEL; readonly type: 'failure'; readonly id: string; readonly address: string }
  | { readonly channel: typeof CHANNEL; readonly type: 'counted'; readonly id: string; readonly tripped: boolean; readonly msLeft: number }
  | { readonly channel: typeof CHANNEL; readonly type: 'quarantined'; readonly address: string; readonly msLeft: number };

function isQuarantineMessage(message: unknown): message is QuarantineMessage {
  return typeof message === 'object' && message !== null && (message as { channel?: unknown }).channel === CHANNEL;
}

/** In the primary: counts the workers' refusals and announces quarantines to all of them. */
export function countForWorkers(settings: QuarantineSettings): void {
  const counts = new RefusalCounts(rulesOf(settings));
  cluster.on('message', (worker, message: unknown) => {
    if (!isQuarantineMessage(message) || message.type !== 'failure') return;
    // msLeft above 0 without tripping: the address was quarantined by a refusal in flight meanwhile.
    const { tripped, msLeft } = counts.count(message.address);
    if (tripped) {
      const announcement: QuarantineMessage = { channel: CHANNEL, type: 'quarantined', address: message.address, msLeft };
      for (const other of Object.values(cluster.workers ?? {})) {
        if (other !== undefined && other !== worker && other.isConnected()) other.send(announcement);
      }
    }
    if (worker.isConnected()) worker.send({ channel: CHANNEL, type: 'counted', id: message.id, tripped, msLeft } satisfies QuarantineMessage);
  });
}

/** In a worker: sends refusals to the primary and hears of quarantines from it. */
export class PrimaryCounter {
  readonly #pending = new Map<string, (answer: { tripped: boolean; msLeft: number }) => void>();

  /** `onQuarantined` is told of every address another worker's refusal tripped. */
  constructor(onQuarantined: (address: string, msLeft: number) => void) {
    process.on('message', (message: unknown) => {
      if (!isQuarantineMessage(message)) return;
      if (message.type === 'quarantined') onQuarantined(message.address, message.msLeft);
      else if (message.type === 'counted') this.#pending.get(message.id)?.({ tripped: message.tripped, msLeft: message.msLeft });
    });
  }

  /** Counts one refusal; says whether it tripped the quarantine and for how long. Never rejects. */
  count(address: string): Promise<{ tripped: boolean; msLeft: number }> {
    const id = randomUUID();
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish({ tripped: false, msLeft: 0 }), REPLY_TIMEOUT_MS);
      const finish = (answer: { tripped: boolean; msLeft: number }): void => {
        clearTimeout(timer);
        this.#pending.delete(id);
        resolve(answer);
      };
      this.#pending.set(id, finish);
      const message: QuarantineMessage = { channel: CHANNEL, type: 'failure', id, address };
      process.send?.(message, undefined, {}, (error: Error | null) => {
        if (error !== null) finish({ tripped: false, msLeft: 0 });
      });
    });
  }
}
