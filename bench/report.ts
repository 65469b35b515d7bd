/**
 * Medians over rounds, ratios, and the two outputs: a Markdown report for
 * people and a JSON file for comparing runs over time.
 */
import type { ServerCpu } from './cpu.js';
import type { MemoryReading } from './memory.js';
import type { WrkResult } from './wrk.js';

export interface Run extends WrkResult {
  readonly round: number;
  /** CPU of the target's process tree during the run. */
  readonly serverCpu: ServerCpu;
  /** Only for scenarios that watch memory. */
  readonly memory?: MemoryReading;
  /** CPU used by processes outside the benchmark during the run, as a share of the machine. */
  readonly foreignCpuPercent?: number;
}

export interface TargetInfo {
  readonly id: string;
  readonly label: string;
  /** RSS right after the start-up checks, before any load. */
  readonly idleRssMb: number;
}

export interface ScenarioResult {
  /** A scenario id, or `<id>-first` for its first-sight pass. */
  readonly id: string;
  readonly title: string;
  /** Show throughput in MB/s first, and idle memory. */
  readonly bulk: boolean;
  readonly targets: readonly TargetInfo[];
  /** target id → one run per round. */
  readonly runs: Record<string, Run[]>;
  /** Smallest body a correct response carries, if the scenario serves one. */
  readonly bodyBytes?: number;
}

export interface Summary {
  readonly requestsPerSecond: number;
  readonly megabytesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly bytesPerResponse: number;
  readonly errors: number;
  /** The server's CPU per answered request, in µs, user and kernel apart. */
  readonly userMicrosPerRequest: number;
  readonly systemMicrosPerRequest: number;
  readonly peakRssMb?: number;
  readonly hwmMb?: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Medians of each metric over the rounds; errors are summed (any error matters). */
export function summarize(runs: readonly Run[]): Summary {
  const of = (pick: (run: Run) => number): number => median(runs.map(pick));
  const withMemory = runs.filter((run) => run.memory !== undefined);
  return {
    requestsPerSecond: of((run) => run.requestsPerSecond),
    megabytesPerSecond: of((run) => run.megabytesPerSecond),
    p50Ms: of((run) => run.latencyMs.p50),
    p99Ms: of((run) => run.latencyMs.p99),
    bytesPerResponse: of((run) => run.bytesPerResponse),
    errors: runs.reduce((sum, run) => sum + run.errorCount, 0),
    userMicrosPerRequest: of((run) => perRequest(run, run.serverCpu.userSeconds)),
    systemMicrosPerRequest: of((run) => perRequest(run, run.serverCpu.systemSeconds)),
    ...(withMemory.length === 0
      ? {}
      : {
          peakRssMb: Math.max(...withMemory.map((run) => run.memory!.peakRssMb)),
          hwmMb: Math.max(...withMemory.map((run) => run.memory!.hwmMb)),
        }),
  };
}

function perRequest(run: Run, seconds: number): number {
  return run.requests === 0 ? NaN : (seconds * 1e6) / run.requests;
}

export type Metric = 'requestsPerSecond' | 'megabytesPerSecond' | 'p99Ms' | 'peakRssMb' | 'cpuPerRequest';

export interface RatioSpec {
  readonly label: string;
  readonly metric: Metric;
  /** [scenario result id, target id] */
  readonly numerator: readonly [string, string];
  readonly denominator: readonly [string, string];
  /** Which way is good for ecamo, so the reader need not guess. */
  readonly better: 'higher' | 'lower';
  /** The value issue 21 asks for, on the `better` side. */
  readonly goal?: number;
  /** No goal, but shown next to the goals: what the goals are measured against (e.g. the bare Node proxy). */
  readonly reference?: true;
}

export interface Ratio {
  readonly label: string;
  readonly better: 'higher' | 'lower';
  readonly goal?: number;
  readonly reference?: true;
  /** Median of the per-round ratios: both sides of a round ran minutes apart at most, so drift cancels. */
  readonly value: number;
  readonly perRound: readonly number[];
}

function metricOf(run: Run, metric: Metric): number | undefined {
  switch (metric) {
    case 'requestsPerSecond':
      return run.requestsPerSecond;
    case 'megabytesPerSecond':
      return run.megabytesPerSecond;
    case 'p99Ms':
      return run.latencyMs.p99;
    case 'peakRssMb':
      return run.memory?.peakRssMb;
    case 'cpuPerRequest':
      return perRequest(run, run.serverCpu.userSeconds + run.serverCpu.systemSeconds);
  }
}

/** undefined when a side was not run (e.g. `--only`). */
export function ratio(results: readonly ScenarioResult[], spec: RatioSpec): Ratio | undefined {
  const runsOf = ([scenario, target]: readonly [string, string]): Run[] | undefined =>
    results.find((result) => result.id === scenario)?.runs[target];
  const top = runsOf(spec.numerator);
  const bottom = runsOf(spec.denominator);
  if (top === undefined || bottom === undefined) return undefined;
  const perRound: number[] = [];
  for (const run of top) {
    const other = bottom.find((candidate) => candidate.round === run.round);
    const a = metricOf(run, spec.metric);
    const b = other === undefined ? undefined : metricOf(other, spec.metric);
    if (a !== undefined && b !== undefined && b > 0) perRound.push(a / b);
  }
  if (perRound.length === 0) return undefined;
  return {
    label: spec.label,
    better: spec.better,
    ...(spec.goal === undefined ? {} : { goal: spec.goal }),
    ...(spec.reference === undefined ? {} : { reference: spec.reference }),
    value: median(perRound),
    perRound,
  };
}

/** An absolute figure with a limit: the highest peak RSS of a target over a scenario's runs. */
export interface MemorySpec {
  readonly label: string;
  /** [scenario result ids, target id]: the first-sight pass counts with its rounds. */
  readonly of: readonly [readonly string[], string];
  readonly limitMb: number;
}

export interface MemoryFigure {
  readonly label: string;
  readonly peakRssMb: number;
  readonly limitMb: number;
}

export function memoryFigure(results: readonly ScenarioResult[], spec: MemorySpec): MemoryFigure | undefined {
  const [scenarios, target] = spec.of;
  const peaks = results
    .filter((result) => scenarios.includes(result.id))
    .flatMap((result) => result.runs[target] ?? [])
    .flatMap((run) => (run.memory === undefined ? [] : [run.memory.peakRssMb]));
  if (peaks.length === 0) return undefined;
  return { label: spec.label, peakRssMb: Math.max(...peaks), limitMb: spec.limitMb };
}

/** Whether a ratio reached its goal; undefined without one. */
export function goalMet(r: Ratio): boolean | undefined {
  if (r.goal === undefined) return undefined;
  return r.better === 'higher' ? r.value >= r.goal : r.value <= r.goal;
}

/**
 * The latest run in the form README's Performance section shows: one row per
 * ratio with a goal, then the memory figures, then the reference ratios;
 * nothing but ratios and limits, since the machines are shared and absolute
 * rates move from run to run.
 */
export function goalsTable(ratios: readonly Ratio[], memory: readonly MemoryFigure[]): string[] {
  const rows = ratios.filter((r) => r.goal !== undefined).map((r) =>
    `| ${r.label} | ${r.value.toFixed(2)} | ${r.better === 'higher' ? '≥' : '≤'} ${r.goal!} | ${goalMet(r)! ? 'met' : '**not met**'} |`);
  const memoryRows = memory.map((m) => `| ${m.label} | ${fmt(m.peakRssMb)} MiB | ≤ ${m.limitMb} MiB | ${m.peakRssMb <= m.limitMb ? 'met' : '**not met**'} |`);
  const referenceRows = ratios.filter((r) => r.reference === true).map((r) => `| ${r.label} | ${r.value.toFixed(2)} | – | reference |`);
  if (rows.length + memoryRows.length + referenceRows.length === 0) return [];
  return ['| figure | latest run | goal | |', '|---|--:|--:|---|', ...rows, ...memoryRows, ...referenceRows];
}

/** Above this, another process took enough CPU to move a result. */
const FOREIGN_CPU_WARNING_PERCENT = 10;

/** Errors, bodies shorter than the image (a server cut responses short), and runs disturbed by other processes. */
export function warnings(results: readonly ScenarioResult[]): string[] {
  const found: string[] = [];
  const busy = results.flatMap((result) => result.targets.flatMap((target) =>
    (result.runs[target.id] ?? [])
      .filter((run) => (run.foreignCpuPercent ?? 0) > FOREIGN_CPU_WARNING_PERCENT)
      .map((run) => `${result.id} / ${target.label} round ${run.round + 1} (${run.foreignCpuPercent!.toFixed(0)}%)`)));
  if (busy.length > 0) {
    found.push(`other processes used more than ${FOREIGN_CPU_WARNING_PERCENT}% of the CPU during ${busy.length} run(s), whose numbers are unreliable: ${busy.join(', ')}`);
  }
  for (const result of results) {
    for (const target of result.targets) {
      const runs = result.runs[target.id] ?? [];
      const summary = summarize(runs);
      if (summary.errors > 0) {
        const kinds = runs.reduce<Record<string, number>>((sum, run) => {
          for (const [kind, count] of Object.entries<number>(run.errors)) sum[kind] = (sum[kind] ?? 0) + count;
          return sum;
        }, {});
        const detail = Object.entries(kinds).filter(([, count]) => count > 0).map(([kind, count]) => `${kind} ${count}`).join(', ');
        found.push(`${result.id} / ${target.label}: ${summary.errors} errors (${detail})`);
      }
      if (result.bodyBytes !== undefined && runs.some((run) => run.requests > 0 && run.bytesPerResponse < result.bodyBytes!)) {
        found.push(`${result.id} / ${target.label}: fewer bytes per response than the ${result.bodyBytes}-byte image`);
      }
    }
  }
  return found;
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const fmt = (value: number | undefined, format = integer): string => (value === undefined || Number.isNaN(value) ? '–' : format.format(value));
const ms = (value: number): string => (value < 10 ? value.toFixed(2) : value.toFixed(1));
const cpu = (s: Summary): string => `${fmt(s.userMicrosPerRequest)} + ${fmt(s.systemMicrosPerRequest)}`;

export function markdown(header: readonly string[], results: readonly ScenarioResult[], ratios: readonly Ratio[], memory: readonly MemoryFigure[], notes: readonly string[]): string {
  const out: string[] = ['# ecamo benchmark', '', ...header.map((line) => `${line}  `), ''];
  const goals = goalsTable(ratios, memory);
  if (goals.length > 0) out.push('## Goals (the table README shows)', '', ...goals, '');
  for (const result of results) {
    const memory = Object.values(result.runs).some((runs) => runs.some((run) => run.memory !== undefined));
    out.push(`## ${result.title}`, '');
    out.push(result.bulk
      ? '| target | MB/s | req/s | p50 ms | p99 ms | CPU µs/req, user + kernel | peak RSS MiB | idle RSS MiB | errors | MB/s per round |'
      : `| target | req/s | p50 ms | p99 ms | MB/s | CPU µs/req, user + kernel |${memory ? ' peak RSS MiB |' : ''} errors | req/s per round |`);
    out.push(result.bulk ? '|---|--:|--:|--:|--:|--:|--:|--:|--:|---|' : `|---|--:|--:|--:|--:|--:|${memory ? '--:|' : ''}--:|---|`);
    for (const target of result.targets) {
      const runs = result.runs[target.id] ?? [];
      const s = summarize(runs);
      if (result.bulk) {
        const rounds = runs.map((run) => decimal.format(run.megabytesPerSecond)).join(' / ');
        out.push(`| ${target.label} | ${fmt(s.megabytesPerSecond, decimal)} | ${fmt(s.requestsPerSecond)} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ` +
          `${cpu(s)} | ${fmt(s.peakRssMb)} | ${fmt(target.idleRssMb)} | ${s.errors} | ${rounds} |`);
      } else {
        const rounds = runs.map((run) => integer.format(run.requestsPerSecond)).join(' / ');
        const rss = memory ? ` ${fmt(s.peakRssMb)} |` : '';
        out.push(`| ${target.label} | ${fmt(s.requestsPerSecond)} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ${fmt(s.megabytesPerSecond, decimal)} | ${cpu(s)} |${rss} ${s.errors} | ${rounds} |`);
      }
    }
    out.push('');
  }
  if (ratios.length > 0) {
    out.push('## Ratios (median of per-round ratios)', '', '| ratio | value | better | per round |', '|---|--:|---|---|');
    for (const r of ratios) {
      out.push(`| ${r.label} | ${r.value.toFixed(2)} | ${r.reference === true ? 'reference' : r.better} | ${r.perRound.map((v) => v.toFixed(2)).join(' / ')} |`);
    }
    out.push('');
  }
  if (notes.length > 0) out.push(...notes.map((note) => `- ${note}`), '');
  return out.join('\n');
}
