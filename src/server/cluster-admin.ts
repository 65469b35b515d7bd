/**
 * The admin listener of `ecamo serve` with workers (ECAMO_WORKERS above 1),
 * served by the primary, which asks each worker over the cluster IPC channel.
 *
 * - Metrics: every listening worker's registry, summed. A worker that dies
 *   takes its counts with it, and a sum that drops reads to Prometheus as a
 *   counter reset (a phantom spike in every rate): the primary keeps the last
 *   counts each worker reported, and when a worker exits its counters and
 *   histograms join a sum of the departed that every later scrape adds. So
 *   every counter served only grows; what a worker counted after its last
 *   scrape is lost, never counted twice.
 * - Readiness: ready when every one of ECAMO_WORKERS workers listens and
 *   answers that it is ready (not while one is starting, or draining).
 *
 * A worker still starting is not asked for metrics (it has nothing to
 * report), so a scrape in that window neither waits for it nor fails.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { AggregatorRegistry, prometheusContentType, type Registry } from 'prom-client';
import { EcamoError } from '../errors.js';
import type { AdminSources } from '../http/admin.js';

const CHANNEL = 'ecamo-admin';
/** A listening worker that has not sent its metrics by then fails the scrape (503 metrics-unavailable). */
const METRICS_TIMEOUT_MS = 5000;
/** A worker that has not said it is ready by then is not. */
const READY_TIMEOUT_MS = 1000;

type WorkerMetrics = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;
type Metric = WorkerMetrics[number];
type Question = 'metrics' | 'ready';

type AdminMessage =
  | { readonly channel: typeof CHANNEL; readonly type: 'ask'; readonly id: string; readonly question: Question }
  | { readonly channel: typeof CHANNEL; readonly type: 'answer'; readonly id: string; readonly metrics?: WorkerMetrics; readonly ready?: boolean };

type Answer = Extract<AdminMessage, { type: 'answer' }>;

function isAdminMessage(message: unknown): message is AdminMessage {
  return typeof message === 'object' && message !== null && (message as { channel?: unknown }).channel === CHANNEL;
}

/** What a worker's server offers the primary, once it runs. */
export interface WorkerState {
  readonly registry: Registry;
  readonly ready: boolean;
}

/**
 * In a worker, from before its server starts: answers the primary's
 * questions from `current()`; while that is undefined (starting), with no
 * metrics and not ready.
 */
export function answerPrimary(current: () => WorkerState | undefined): void {
  process.on('message', (message: unknown) => {
    if (!isAdminMessage(message) || message.type !== 'ask') return;
    const state = current();
    const reply = (answer: { metrics?: WorkerMetrics; ready?: boolean }): void => {
      process.send?.({ channel: CHANNEL, type: 'answer', id: message.id, ...answer } satisfies AdminMessage);
    };
    if (message.question === 'ready') return reply({ ready: state?.ready === true });
    // A registry that cannot be read answers nothing: the primary says so.
    (state === undefined ? Promise.resolve([]) : state.registry.getMetricsAsJSON()).then(
      (metrics) => reply({ metrics }),
      () => reply({}),
    );
  });
}

/** Series that only ever grow, summed across processes: what a departed worker's counts can join. */
function isMonotonic(metric: Metric): boolean {
  const type = String(metric.type);
  return (type === 'counter' || type === 'histogram') && metric.aggregator === 'sum';
}

type Value = Metric['values'][number];

/** One series of a metric: a histogram's values name theirs (`_bucket`, `_sum`, `_count`), with their labels. */
function sameSeries(a: Value, b: Value): boolean {
  const name = (value: Value): unknown => (value as { metricName?: unknown }).metricName;
  const keys = Object.keys(a.labels);
  return name(a) === name(b) && keys.length === Object.keys(b.labels).length && keys.every((key) => a.labels[key] === b.labels[key]);
}

/** In the primary: the AdminSources of the whole group of workers (see the module comment). */
export class WorkerGroupAdmin implements AdminSources {
  readonly metricsContentType = prometheusContentType;
  readonly #workers: { readonly expected: number; listening(): readonly Worker[]; stopping(): boolean };
  /** Questions in flight, by id: the worker asked and how to settle. */
  readonly #pending = new Map<string, { readonly worker: Worker; readonly settle: (answer: Answer | undefined) => void }>();
  /** Each live worker's latest metrics: joins #departed when it exits. */
  readonly #lastReported = new Map<Worker, WorkerMetrics>();
  /** The monotonic series of every worker that exited, summed, by metric name. */
  readonly #departed = new Map<string, Metric>();

  constructor(workers: { readonly expected: number; listening(): readonly Worker[]; stopping(): boolean }) {
    this.#workers = workers;
    cluster.on('message', (worker: Worker, message: unknown) => {
      if (!isAdminMessage(message) || message.type !== 'answer') return;
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return;
      // Kept as it arrives: should the worker exit before the scrape is answered, these are the counts it leaves.
      if (message.metrics !== undefined) this.#lastReported.set(worker, message.metrics);
      pending.settle(message);
    });
    cluster.on('exit', (worker: Worker) => {
      const last = this.#lastReported.get(worker);
      this.#lastReported.delete(worker);
      if (last !== undefined) this.#depart(last);
      for (const pending of this.#pending.values()) if (pending.worker === worker) pending.settle(undefined);
    });
  }

  async metrics(): Promise<string> {
    const asked = this.#workers.listening();
    const answers = await Promise.all(asked.map((worker) => this.#ask(worker, 'metrics', METRICS_TIMEOUT_MS)));
    const silent = asked.filter((worker, i) => answers[i]?.metrics === undefined && !worker.isDead()).map((worker) => worker.process.pid);
    if (silent.length > 0) throw new EcamoError('metrics-unavailable', `worker ${silent.join(', ')} did not send its metrics within ${METRICS_TIMEOUT_MS} ms`);
    // A worker that exited meanwhile is in #departed with the very counts it answered (or its earlier ones): not twice.
    const live = asked.map((worker) => this.#lastReported.get(worker)).filter((metrics) => metrics !== undefined);
    return AggregatorRegistry.aggregate([...live, [...this.#departed.values()]]).metrics();
  }

  async ready(): Promise<boolean> {
    const listening = this.#workers.listening();
    if (this.#workers.stopping() || listening.length < this.#workers.expected) return false;
    const answers = await Promise.all(listening.map((worker) => this.#ask(worker, 'ready', READY_TIMEOUT_MS)));
    return answers.every((answer) => answer?.ready === true);
  }

  /** The worker's answer, or undefined when it did not answer in time or exited. */
  #ask(worker: Worker, question: Question, timeoutMs: number): Promise<Answer | undefined> {
    const id = randomUUID();
    return new Promise((resolve) => {
      const settle = (answer: Answer | undefined): void => {
        clearTimeout(timer);
        this.#pending.delete(id);
        resolve(answer);
      };
      const timer = setTimeout(() => settle(undefined), timeoutMs);
      this.#pending.set(id, { worker, settle });
      if (!worker.isConnected()) return settle(undefined);
      worker.send({ channel: CHANNEL, type: 'ask', id, question } satisfies AdminMessage, (error: Error | null) => {
        if (error !== null) settle(undefined);
      });
    });
  }

  #depart(metrics: WorkerMetrics): void {
    for (const metric of metrics) {
      if (!isMonotonic(metric)) continue;
      let kept = this.#departed.get(metric.name);
      if (kept === undefined) this.#departed.set(metric.name, (kept = { ...metric, values: [] }));
      for (const value of metric.values) {
        const same = kept.values.find((known) => sameSeries(known, value));
        if (same === undefined) kept.values.push({ ...value });
        else same.value += value.value;
      }
    }
  }
}
