/**
 * Resident memory of a server and the processes it forked (nginx's worker,
 * ecamo's cluster workers), from /proc. Linux only; elsewhere it reads nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The pid and all its descendants, found by each process's parent pid (works without /proc/…/children). */
export function processTree(root: number): number[] {
  const parents = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [root];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = parentOf(Number(entry));
    if (ppid === undefined) continue;
    const siblings = parents.get(ppid) ?? [];
    siblings.push(Number(entry));
    parents.set(ppid, siblings);
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    tree.push(pid);
    queue.push(...(parents.get(pid) ?? []));
  }
  return tree;
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses; the fields after its last ')' are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]);
  } catch {
    return undefined;
  }
}

/** A `Vm*` line of /proc/PID/status in kB (VmRSS: now, VmHWM: the process's peak). */
export function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

export interface MemoryReading {
  /** Highest sum of VmRSS over the tree among the samples. */
  readonly peakRssMb: number;
  /** Sum of each process's VmHWM at the end: peaks since start, an upper bound for the tree. */
  readonly hwmMb: number;
}

const MB = 1024;

export function rssNowMb(root: number): number {
  return processTree(root).reduce((sum, pid) => sum + statusKb(pid, 'VmRSS'), 0) / MB;
}

/** Samples the tree's RSS every `intervalMs` until stopped. */
export function sampleMemory(root: number, intervalMs = 50): { stop(): MemoryReading } {
  // The tree is found once: servers don't fork during a run (a dying worker shows up as errors).
  const pids = processTree(root);
  const sum = (field: 'VmRSS' | 'VmHWM'): number => pids.reduce((total, pid) => total + statusKb(pid, field), 0);
  let peak = sum('VmRSS');
  const timer = setInterval(() => {
    peak = Math.max(peak, sum('VmRSS'));
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, sum('VmRSS'));
      return { peakRssMb: peak / MB, hwmMb: sum('VmHWM') / MB };
    },
  };
}
