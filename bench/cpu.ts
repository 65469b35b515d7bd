/**
 * CPU time from /proc (Linux only): what each server spends per request, and
 * how much went to processes that are not part of the benchmark during a run.
 * On a shared 2-core machine somebody's test suite can halve a result; the
 * latter makes such a run visible instead of silently wrong.
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

/** utime and stime of a process, in ticks; zero once it is gone. */
function cpuTicks(pid: number | 'self'): { user: number; system: number; childrenUser: number; childrenSystem: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name: state is [0], utime [11], stime [12], cutime [13], cstime [14].
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return { user: fields[11]!, system: fields[12]!, childrenUser: fields[13]!, childrenSystem: fields[14]! };
  } catch {
    return { user: 0, system: 0, childrenUser: 0, childrenSystem: 0 };
  }
}

/**
 * utime + stime of a process, in ticks; with `children`, also the CPU of its
 * exited and reaped children (for the benchmark itself: every finished wrk).
 */
function processTicks(pid: number | 'self', children = false): number {
  const ticks = cpuTicks(pid);
  return ticks.user + ticks.system + (children ? ticks.childrenUser + ticks.childrenSystem : 0);
}

/** CPU time of one server's process tree over a run, split as the kernel accounts it. */
export interface ServerCpu {
  /** In the server's own code (user mode). */
  readonly userSeconds: number;
  /** In the kernel on the server's behalf: socket reads and writes, and loopback delivery to the peer. */
  readonly systemSeconds: number;
}

/** Starts counting the CPU of `root` and its descendants (nginx's worker, ecamo's cluster workers). */
export function watchServerCpu(root: number): { stop(): ServerCpu } {
  const pids = processTree(root);
  const sum = (): { user: number; system: number } => pids.reduce((total, pid) => {
    const ticks = cpuTicks(pid);
    return { user: total.user + ticks.user, system: total.system + ticks.system };
  }, { user: 0, system: 0 });
  const before = sum();
  return {
    stop() {
      const after = sum();
      return { userSeconds: (after.user - before.user) / TICKS_PER_SECOND, systemSeconds: (after.system - before.system) / TICKS_PER_SECOND };
    },
  };
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
