/**
 * For the benchmarks of one piece of code in this process (bench/jws-verify.ts,
 * bench/sniff.ts, bench/tracing-off.ts): the main thread's CPU time, which
 * unlike wall time is not inflated when other processes take the core, the
 * median of rounds, and their options.
 * Linux only.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const MAIN_THREAD_SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;

/** Time the main thread (the event loop) has run on a CPU, ns (the first field of schedstat). */
export function mainThreadCpuNs(): number {
  return Number(readFileSync(MAIN_THREAD_SCHEDSTAT, 'utf8').split(' ')[0]);
}

export function median(numbers: readonly number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** `--ms` (how long one measurement lasts) and `--rounds` of a benchmark of this kind, checked. */
export function measurementOptions(defaults: { readonly ms: number; readonly rounds: number }): { readonly ms: number; readonly rounds: number } {
  const { values } = parseArgs({
    options: {
      ms: { type: 'string', default: String(defaults.ms) },
      rounds: { type: 'string', default: String(defaults.rounds) },
    },
  });
  const chosen = { ms: Number(values.ms), rounds: Number(values.rounds) };
  for (const [name, value] of Object.entries(chosen)) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  }
  return chosen;
}

/**
 * The main thread's CPU per call of `call`, ns: called one after the other,
 * `batch` calls between looks at the clock, for `ms` milliseconds (the CPU
 * clock moves by scheduler ticks: a measurement spans many).
 */
export async function cpuNsPerCall(call: () => Promise<unknown>, ms: number, batch: number): Promise<number> {
  const started = performance.now();
  const before = mainThreadCpuNs();
  let calls = 0;
  while (performance.now() - started < ms) {
    for (let index = 0; index < batch; index++) await call();
    calls += batch;
  }
  return (mainThreadCpuNs() - before) / calls;
}
