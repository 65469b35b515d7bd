/**
 * For the benchmarks of one piece of code in this process (bench/jws-verify.ts,
 * bench/sniff.ts): the main thread's CPU time, which unlike wall time is not
 * inflated when other processes take the core, and the median of rounds.
 * Linux only.
 */
import { readFileSync } from 'node:fs';

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
