/**
 * Child processes of the benchmark (servers and wrk). Each runs in its own
 * process group so that a server which forks (nginx's worker, ecamo's cluster
 * workers) is stopped as a whole, and every one is remembered so that any way
 * out of the benchmark (normal end, error, Ctrl-C) stops all of them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { onSomePort, PORT_TAKEN, saysPortTaken } from '../test/helpers/server-ports.js';

/** Keep this much of a child's output, to explain why it failed. */
const OUTPUT_TAIL_CHARS = 4000;

export interface Child {
  readonly name: string;
  readonly pid: number;
  /** Set once the process has exited, with its code or signal. */
  readonly exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** The last few kB of stdout and stderr, interleaved. */
  output(): string;
  /** Throws if the process is gone: results measured against a dead server are meaningless. */
  assertAlive(): void;
}

const running = new Set<ChildProcess>();

/** A child that exited when it should have been serving, with the tail of its output. */
export class ChildExitedError extends Error {
  override readonly name = 'ChildExitedError';
  readonly output: string;

  constructor(message: string, output: string) {
    super(`${message}:\n${output.trim()}`);
    this.output = output;
  }
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export function startChild(name: string, command: string, args: readonly string[], options: StartOptions = {}): Child {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: kill(-pid) reaches the forks too, and a Ctrl-C in the
    // terminal reaches only us, so shutdown happens in one place and in order.
    detached: true,
  });
  let tail = '';
  let exit: Child['exit'];
  // E.g. the binary vanished after the prerequisite check: report it like an exit, never as an uncaught 'error'.
  child.once('error', (error) => {
    tail += error.message;
    exit ??= { code: null, signal: null };
    running.delete(child);
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  running.add(child);

  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
  };
  // Always drain the pipes: a full pipe would block the child.
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);

  child.once('exit', (code, signal) => {
    exit = { code, signal };
    running.delete(child);
  });
  const pid = child.pid;
  return {
    name,
    pid,
    get exit() {
      return exit;
    },
    output: () => tail,
    assertAlive() {
      if (exit !== undefined) {
        throw new ChildExitedError(`${name} (pid ${pid}) exited unexpectedly (${exit.signal ?? `code ${exit.code}`})`, tail);
      }
    },
  };
}

export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command to its end (wrk, version probes), registered for cleanup
 * like the servers. `interruptWhen` sees stdout so far; once it says so, the
 * command gets SIGINT (wrk then stops early and still reports).
 */
export function runCommand(command: string, args: readonly string[], interruptWhen?: (stdout: string) => boolean): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.add(child);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let interrupted = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      if (interruptWhen !== undefined && !interrupted && interruptWhen(Buffer.concat(stdout).toString('utf8'))) {
        interrupted = true;
        signalGroup(child, 'SIGINT');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', (error) => {
      running.delete(child);
      reject(error);
    });
    child.once('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
    });
  });
}

/** Stops every child still running: SIGTERM to its group, SIGKILL after `graceMs`. */
export async function stopAll(graceMs = 3000): Promise<void> {
  const children = [...running];
  for (const child of children) signalGroup(child, 'SIGTERM');
  const waits = children.map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  }));
  const timer = sleep(graceMs).then(() => 'timeout' as const);
  if ((await Promise.race([Promise.all(waits), timer])) === 'timeout') killAllNow();
}

/** Synchronous last resort, for process 'exit' where nothing async runs any more. */
export function killAllNow(): void {
  for (const child of running) signalGroup(child, 'SIGKILL');
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone (ESRCH): nothing to stop.
  }
}

let interruptedBy: NodeJS.Signals | undefined;

/** True once Ctrl-C (or SIGTERM/SIGHUP) began the shutdown: failures after that are expected. */
export function interrupted(): boolean {
  return interruptedBy !== undefined;
}

/**
 * Makes sure children never outlive the benchmark: on Ctrl-C / SIGTERM stop
 * them and exit; on any exit, kill what is left.
 */
export function installCleanup(onExit: () => void): void {
  const interrupt = (signal: NodeJS.Signals): void => {
    if (interruptedBy !== undefined) return;
    interruptedBy = signal;
    process.stderr.write(`\nbench: ${signal}, stopping servers\n`);
    // The shell convention: 128 + the signal's number (130 for Ctrl-C).
    void stopAll(1000).finally(() => process.exit(128 + os.constants.signals[signal]));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  process.once('SIGHUP', interrupt);
  process.once('exit', () => {
    killAllNow();
    onExit();
  });
}

/**
 * For servers that cannot bind port 0 and report it (nginx; ecamo, whose
 * canonical host names its port): `start(port)` starts one and resolves once
 * it answers; when it exited saying the port was taken, it is started on
 * another (test/helpers/server-ports.ts, shared with the tests).
 */
export async function startOnSomePort(name: string, start: (port: number) => Promise<Child>): Promise<{ readonly port: number; readonly child: Child }> {
  const { port, started } = await onSomePort(name, async (candidate) => {
    try {
      return await start(candidate);
    } catch (error) {
      if (error instanceof ChildExitedError && saysPortTaken(error.output)) return PORT_TAKEN;
      throw error;
    }
  });
  return { port, child: started };
}

/** Waits until the child's output matches `pattern` (e.g. the port it reports), or it dies, or `timeoutMs` passes. */
export async function waitForOutput(child: Child, pattern: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(child.output());
    if (match !== null) return match;
    child.assertAlive();
    if (Date.now() > deadline) throw new Error(`${child.name} did not print ${String(pattern)} within ${timeoutMs} ms:\n${child.output().trim()}`);
    await sleep(50);
  }
}

/** Polls `url` until it answers 200, the child dies, or `timeoutMs` passes. */
export async function waitForHttp(child: Child, url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    child.assertAlive();
    const status = await new Promise<number | undefined>((resolve) => {
      const req = http.get(url, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.once('error', () => resolve(undefined));
      req.setTimeout(1000, () => req.destroy());
    });
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${child.name} did not answer 200 on ${url} within ${timeoutMs} ms:\n${child.output().trim()}`);
    await sleep(50);
  }
}
