/**
 * `ecamo serve` as a child process in a process group of its own, its JSON
 * log lines parsed as they come.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { generateKey } from '../../src/config/generate-key.js';
import { loadConfig } from '../../src/config/load.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { signProxyToken } from '../../src/tokens/proxy-token.js';
import { spawnChild } from './children.js';
import { CLI } from './wire.js';

export type LogLine = Record<string, unknown>;

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  stderr(): string;
  /** Resolves with the first log line (from now or before) that `matches`. */
  waitFor(matches: (line: LogLine) => boolean, count?: number): Promise<LogLine[]>;
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** Ends the whole process group, whatever state it is in. */
  kill(): Promise<void>;
}

export async function serviceKeysEnv(): Promise<Record<string, string>> {
  return (await serveKeys()).env;
}

/** Keys for `ecamo serve` (service origin http://wiki.test), and proxy paths signed with ecamo's key. */
export async function serveKeys(): Promise<{ env: Record<string, string>; proxyPath(url: string): Promise<string> }> {
  const ecamo = await generateKey('ecamo-1');
  const service = await generateKey('svc-1');
  const env = {
    ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamo.kid]: ecamo.privateJwk }),
    ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`http://wiki.test ${service.kid}`]: service.publicJwk }),
  };
  const config = await loadConfig({ ...env, ECAMO_CANONICAL_HOST: 'x.test' });
  return {
    env,
    async proxyPath(url) {
      const token = await signProxyToken({ url, serviceOrigin: 'http://wiki.test', sendToken: false }, config.ecamoKeys.signing, 60);
      return `/.ecamo/v1/p/${urlDigest(url)}?t=${token}`;
    },
  };
}

/**
 * `ecamo serve` in a process group of its own, on 127.0.0.1 port 0 unless `env` says otherwise.
 * `bin`: run the bin itself, shebang included (its memory settings), as deployed, where memory is measured.
 * `script`: run this script of an embedding application instead, in the same environment.
 */
export function spawnServe(env: Record<string, string>, options: { shell?: string; bin?: boolean; script?: string } = {}): ServeProcess {
  const fullEnv = { PATH: process.env.PATH, ECAMO_BIND: '127.0.0.1:0', ECAMO_CANONICAL_HOST: 'ecamo.test', ECAMO_INSECURE: 'true', ...env };
  const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe'];
  const child =
    options.shell !== undefined
      ? spawnChild('sh', ['-c', `${options.shell}; exec "$0" "$1" serve`, process.execPath, CLI], { env: fullEnv, stdio, detached: true })
      : options.bin === true
        ? spawnChild(CLI, ['serve'], { env: fullEnv, stdio, detached: true })
        : spawnChild(process.execPath, options.script === undefined ? [CLI, 'serve'] : [options.script], { env: fullEnv, stdio, detached: true });
  const lines: LogLine[] = [];
  let stderr = '';
  let buffered = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const line of complete) lines.push(JSON.parse(line) as LogLine);
    for (const wake of waiters) wake();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let gone = false;
  void exited.then(() => {
    gone = true;
    for (const wake of waiters) wake();
  });
  return {
    child,
    lines,
    stderr: () => stderr,
    exited,
    async waitFor(matches, count = 1) {
      for (;;) {
        const found = lines.filter(matches);
        if (found.length >= count) return found;
        if (gone) throw new Error(`serve exited before the expected log line; stderr: ${stderr}`);
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            waiters.delete(wake);
            resolve();
          };
          waiters.add(wake);
        });
      }
    },
    async kill() {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
      if (!gone) await exited;
    },
  };
}

export function listeningUrl(line: LogLine): string {
  return String(line.url);
}


/** One GET on a connection of its own (so that the cluster hands each to the next worker). */
export function getOnNewConnection(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    }).on('error', reject);
  });
}
