/**
 * How much CPU went to processes that are not part of the benchmark during a
 * run. On a shared 2-core machine somebody's test suite can halve a result;
 * this makes such a run visible instead of silently wrong. Linux /proc only.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { processTree } from './memory.js';

/** USER_HZ: /proc reports CPU times in these ticks; 100 on every mainstream Linux. */
const TICKS_PER_SECOND = 100;

/** All CPUs' non-idle time, in ticks (user, nice, system, irq, softirq, steal). */
function busyTicks(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return user! + nice! + system! + irq! + softirq! + (steal ?? 0);
  } catch {
    return undefined;
  }
}

/**
 * utime + stime of a process, in ticks; with `children`, also the CPU of its
 * exited and reaped children (for the benchmark itself: every finished wrk).
 */
function processTicks(pid: number | 'self', children = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name: state is [0], utime [11], stime [12], cutime [13], cstime [14].
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return fields[11]! + fields[12]! + (children ? fields[13]! + fields[14]! : 0);
  } catch {
    return 0;
  }
}

export interface CpuWatch {
  /** Share of all CPUs used by other processes since the watch began, in percent; undefined without /proc. */
  stop(): number | undefined;
}

/** `roots`: the servers; their process trees, this process and its reaped children (wrk) count as ours. */
export function watchForeignCpu(roots: readonly number[]): CpuWatch {
  const pids = roots.flatMap((root) => processTree(root));
  const ours = (): number => processTicks('self', true) + pids.reduce((sum, pid) => sum + processTicks(pid), 0);
  const busyBefore = busyTicks();
  const oursBefore = ours();
  const startedAt = process.hrtime.bigint();
  return {
    stop() {
      const busyAfter = busyTicks();
      if (busyBefore === undefined || busyAfter === undefined) return undefined;
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      const foreign = Math.max(0, busyAfter - busyBefore - (ours() - oursBefore)) / TICKS_PER_SECOND;
      return (100 * foreign) / (seconds * os.availableParallelism());
    },
  };
}

/**
 * Waits (up to `maxSeconds`) until other processes leave the CPU mostly idle,
 * checking one second at a time while our servers sit idle. Returns the last
 * foreign share seen, so a run that had to start anyway can be flagged.
 */
export async function waitForQuiet(roots: readonly number[], maxSeconds: number, quietPercent: number, onWait: (percent: number) => void): Promise<number | undefined> {
  const deadline = Date.now() + maxSeconds * 1000;
  let told = false;
  for (;;) {
    const watch = watchForeignCpu(roots);
    await sleep(1000);
    const percent = watch.stop();
    if (percent === undefined || percent < quietPercent || Date.now() >= deadline) return percent;
    if (!told) onWait(percent);
    told = true;
  }
}
