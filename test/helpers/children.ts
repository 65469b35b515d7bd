/**
 * The one record of the long-lived processes tests start (`ecamo serve`,
 * verify-proxy, redis-server, nginx, ...), so that none outlives its test
 * file however its test ends. A test that stops its child in a `finally` or
 * an `after` hook still does; this catches what a test that fails before its
 * `finally`, times out or is killed leaves behind:
 * - when the file's tests and hooks are done (a node:test `after` hook that
 *   runs after the file's own), every child still running is killed (its
 *   process group where it was started `detached`), and waited for, so that
 *   it no longer keeps the file's process alive;
 * - when the process exits, or is ended by SIGTERM or SIGINT (the runner
 *   ends a file that ran out of time with SIGTERM), they are killed at once.
 * A test process killed with SIGKILL cannot do any of this.
 */
import { AsyncResource } from 'node:async_hooks';
import {
  spawn,
  type ChildProcess,
  type ChildProcessByStdio,
  type ChildProcessWithoutNullStreams,
  type SpawnOptions,
  type SpawnOptionsWithStdioTuple,
  type StdioNull,
  type StdioPipe,
} from 'node:child_process';
import { once } from 'node:events';
import { after } from 'node:test';
import type { Readable } from 'node:stream';

/** Each child not yet seen to exit, and whether it leads a process group of its own. */
const running = new Map<ChildProcess, boolean>();

/**
 * Created as this module loads, outside any test: an `after` hook registered
 * in its scope belongs to the file's root, not to the test or hook that
 * happens to be running.
 */
const fileScope = new AsyncResource('test-children');

let watching = false;

function killAll(): void {
  for (const [child, leadsGroup] of running) {
    try {
      process.kill(leadsGroup ? -child.pid! : child.pid!, 'SIGKILL');
    } catch {
      // Gone already; its exit is on its way.
    }
  }
}

async function endAll(): Promise<void> {
  const exits = [...running.keys()].map((child) => once(child, 'exit'));
  killAll();
  await Promise.all(exits);
}

function watch(): void {
  watching = true;
  // Root `after` hooks run in the order registered, and a root `before` hook runs (and may start a
  // child) while the file is still registering its own: this first hook only registers the one that
  // kills, which then runs after every hook of the file, once they have stopped what they stop.
  fileScope.runInAsyncScope(() => after(() => fileScope.runInAsyncScope(() => after(endAll))));
  process.on('exit', killAll);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      killAll();
      // Listening replaced the default action; with no other listener, end as the signal would have.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

/** `spawn`, with the child (its process group with `detached`) ended when this test file ends at the latest. */
export function spawnChild(command: string, args: readonly string[], options: SpawnOptionsWithStdioTuple<StdioPipe, StdioPipe, StdioPipe>): ChildProcessWithoutNullStreams;
export function spawnChild(command: string, args: readonly string[], options: SpawnOptionsWithStdioTuple<StdioNull, StdioPipe, StdioPipe>): ChildProcessByStdio<null, Readable, Readable>;
export function spawnChild(command: string, args: readonly string[], options: SpawnOptions): ChildProcess;
export function spawnChild(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  if (!watching) watch();
  const child = spawn(command, args, options);
  if (child.pid === undefined) return child; // It did not start ('error' follows): nothing to end.
  // A group is killed only while its leader runs: once the leader's pid is released, the number may
  // lead another group, of a process that is none of this file's.
  running.set(child, options.detached === true);
  child.once('exit', () => running.delete(child));
  return child;
}
