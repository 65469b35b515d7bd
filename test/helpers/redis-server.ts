/**
 * A real `redis-server` (Debian package redis-server) on 127.0.0.1 for tests,
 * with no persistence. Redis cannot bind port 0 and report the port, so it is
 * started on some port by `onSomePort` (server-ports.ts).
 *
 * `kill()` ends it abruptly (SIGKILL, as a crash) and `restart()` brings a
 * fresh, empty Redis back on the same port, for tests of Redis outages;
 * `pause()` and `resume()` stop and continue it (SIGSTOP, SIGCONT): a Redis
 * that keeps its connections but answers nothing, as an overloaded one.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { SharedRedis } from '../../src/state/redis.js';
import { spawnChild } from './children.js';
import { onSomePort, PORT_TAKEN, saysPortTaken } from './server-ports.js';

const HOST = '127.0.0.1';

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:port/0`: ECAMO_REDIS_URL / --redis-url. */
  readonly url: string;
  /** True between start (or restart) and kill. */
  readonly running: boolean;
  /** SIGKILL, as a crash; resolves once the process has exited. */
  kill(): Promise<void>;
  /** A fresh, empty Redis on the same port; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** SIGSTOP: connections stay open, commands wait unanswered. */
  pause(): void;
  /** SIGCONT: it answers again, the commands that waited first. */
  resume(): void;
  /** Ends it for good (idempotent). */
  stop(): Promise<void>;
}

type Outcome = { readonly ready: true } | { readonly ready: false; readonly portTaken: boolean; readonly output: string };

function launch(port: number): { child: ChildProcess; outcome: Promise<Outcome> } {
  const child = spawnChild(
    'redis-server',
    ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--daemonize', 'no', '--loglevel', 'notice'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const outcome = new Promise<Outcome>((resolve) => {
    const read = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (output.includes('Ready to accept connections')) resolve({ ready: true });
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('error', (error) => resolve({ ready: false, portTaken: false, output: `${output}\n${error.message}` }));
    child.once('exit', () => resolve({ ready: false, portTaken: saysPortTaken(output), output }));
  });
  return { child, outcome };
}

async function ended(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await once(child, 'exit');
}

async function startOn(port: number): Promise<{ child: ChildProcess; outcome: Outcome }> {
  const { child, outcome } = launch(port);
  const result = await outcome;
  if (!result.ready) await ended(child);
  return { child, outcome: result };
}

export async function startRedisServer(): Promise<RedisServer> {
  const { port, started: child } = await onSomePort('redis-server', async (candidate) => {
    const started = await startOn(candidate);
    if (started.outcome.ready) return started.child;
    if (started.outcome.portTaken) return PORT_TAKEN;
    throw new Error(`redis-server did not start: ${started.outcome.output}`);
  });

  let current: ChildProcess | undefined = child;
  const kill = async (): Promise<void> => {
    if (current === undefined) return;
    const dying = current;
    current = undefined;
    dying.kill('SIGKILL');
    await ended(dying);
  };
  return {
    port,
    url: `redis://${HOST}:${port}/0`,
    get running() {
      return current !== undefined;
    },
    kill,
    async restart() {
      await kill();
      // The port was just freed by our own process; a few tries cover a slow kernel release.
      for (let attempt = 0; attempt < 10; attempt++) {
        const started = await startOn(port);
        if (started.outcome.ready) {
          current = started.child;
          return;
        }
        if (!started.outcome.portTaken) throw new Error(`redis-server did not restart: ${started.outcome.output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`redis-server could not get port ${port} back`);
    },
    pause: () => void current?.kill('SIGSTOP'),
    resume: () => void current?.kill('SIGCONT'),
    stop: kill,
  };
}

/** The Redis connection of an ecamo started with ECAMO_REDIS_URL. */
export function redisOf(ecamo: { readonly server: { readonly app: { readonly redis: SharedRedis | undefined } } }): SharedRedis {
  const { redis } = ecamo.server.app;
  if (redis === undefined) throw new Error('this ecamo has no ECAMO_REDIS_URL');
  return redis;
}
