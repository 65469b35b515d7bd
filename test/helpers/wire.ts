/**
 * Helpers for tests of both ends of the wire: ID tokens obtained from a real
 * ecamo through the send-token flow, a JWKS relay (ecamo only serves its JWKS
 * with Host = its canonical host, which nothing resolves in tests), and the
 * CLI run as a child process.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { request } from 'undici';
import { spawnChild } from './children.js';
import { CANONICAL_HOST, fetchAnswer, startSource, type Answer, type Ecamo, type Source } from './harness.js';
import { PNG } from './images.js';

export const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
/** A real PNG: what every test source here serves. */
export const IMAGE = PNG;

export interface Front {
  /** `http://127.0.0.1:port`. */
  readonly origin: string;
  readonly port: number;
  /** Where connections go from now on. */
  target(port: number): void;
  close(): Promise<void>;
}

/**
 * A TCP front on 127.0.0.1, bound to port 0 and read back at once: for an
 * origin that must be known before the server behind it starts (an audience,
 * a canonical host), as a load balancer stands in front of a deployment.
 * Bytes pass unchanged both ways, Host included; with no target (or a target
 * that is gone) a connection is dropped.
 */
export async function startFront(): Promise<Front> {
  let behind: number | undefined;
  const sockets = new Set<net.Socket>();
  // Half-open both ways, so that a client's FIN after its request still gets the answer back.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (behind === undefined) return void socket.destroy();
    const onward = net.connect({ port: behind, host: '127.0.0.1', allowHalfOpen: true });
    sockets.add(onward);
    onward.once('close', () => sockets.delete(onward));
    socket.on('error', () => onward.destroy()).pipe(onward);
    onward.on('error', () => socket.destroy()).pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    target(port) {
      behind = port;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A listener on 127.0.0.1 that drops every connection at once: an upstream that cannot be used. */
export async function startDroppingListener(): Promise<{ readonly origin: string; close(): Promise<void> }> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A source that answers every GET with IMAGE as image/png. */
export function startImageSource(): Promise<Source> {
  return startSource((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': IMAGE.length }).end(IMAGE);
  });
}

/**
 * What a browser does on a service page: the redirect endpoint on the
 * service host (with the auth cookie), then the canonical proxy URL.
 * Returns the final answer (the image, or ecamo's refusal).
 */
export async function fetchThroughEcamo(ecamo: Ecamo, sourceUrl: string, options: { sendToken?: boolean } = {}): Promise<Answer> {
  const path = await ecamo.signer.url(sourceUrl, { sendToken: options.sendToken ?? false });
  const redirect = await ecamo.get(path, { headers: { cookie: ecamo.cookie } });
  if (redirect.status !== 302) throw new Error(`redirect endpoint answered ${redirect.status} ${redirect.header('x-ecamo-error')}`);
  const location = new URL(redirect.header('location')!);
  return fetchAnswer(`${ecamo.url}${location.pathname}${location.search}`, { host: CANONICAL_HOST });
}

let idTokenFetches = 0;

/** A fresh ID token, as ecamo sent it to `source` (which must answer 200 with an image). */
export async function idTokenFromEcamo(ecamo: Ecamo, source: Source, path = '/img.png'): Promise<string> {
  // A URL of its own each time: ecamo's cache would answer a repeat without asking the source.
  const answer = await fetchThroughEcamo(ecamo, `${source.origin}${path}${path.includes('?') ? '&' : '?'}fetch=${++idTokenFetches}`, { sendToken: true });
  if (answer.status !== 200) throw new Error(`proxy answered ${answer.status} ${answer.header('x-ecamo-error')}`);
  const authorization = source.requests.at(-1)!.headers.authorization;
  const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
  if (token === undefined) throw new Error(`source got Authorization ${authorization}`);
  return token;
}

export interface JwksRelay {
  /** `http://127.0.0.1:port/.well-known/jwks.json`. */
  readonly url: string;
  /** How many times the JWKS was asked for. */
  readonly hits: number;
  /** Which ecamo answers from now on (a key rotation without the verifier knowing). */
  target(ecamo: Ecamo): void;
  close(): Promise<void>;
}

/** Serves the JWKS of the current target ecamo on 127.0.0.1, as a front proxy of the canonical origin would. */
export async function startJwksRelay(first: Ecamo): Promise<JwksRelay> {
  let current = first;
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    request(`${current.url}${req.url}`, { headers: { host: CANONICAL_HOST } }).then(
      async (answer) => {
        const headers: Record<string, string> = {};
        for (const name of ['content-type', 'cache-control']) {
          const value = answer.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        res.writeHead(answer.statusCode, headers).end(Buffer.from(await answer.body.arrayBuffer()));
      },
      () => res.writeHead(502).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get hits() {
      return hits;
    },
    target(ecamo) {
      current = ecamo;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `ecamo ARGS` to completion with exactly `env` (plus PATH), `input` on stdin. */
export async function runCli(args: readonly string[], env: Record<string, string> = {}, input = ''): Promise<CliResult> {
  const child = spawnChild(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

export interface Listening {
  readonly child: ChildProcess;
  /** The match of `ready` in the output. */
  readonly match: RegExpMatchArray;
  output(): string;
  /** Resolves once the output (from the start) satisfies `matches`; rejects if the process ends first. */
  waitFor(matches: (output: string) => boolean): Promise<void>;
  /** Resolves with the exit code once the process has ended. */
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface VerifyProxy extends Listening {
  /** `http://127.0.0.1:port`, where it listens. */
  readonly url: string;
}

/** `ecamo verify-proxy ARGS` on 127.0.0.1 (port 0), logging at info (`env` adds to or overrides that), once it listens. */
export async function spawnVerifyProxy(args: readonly string[], env: Record<string, string> = {}): Promise<VerifyProxy> {
  const listening = await spawnListening(
    [CLI, 'verify-proxy', '--listen', '127.0.0.1:0', ...args],
    { ECAMO_LOG_LEVEL: 'info', ...env },
    /"url":"(http:\/\/127\.0\.0\.1:\d+)".*"msg":"verify-proxy listening"/,
  );
  return { ...listening, url: listening.match[1]! };
}

/**
 * Starts a long-running process (node unless `command` says otherwise) and
 * waits until its output matches `ready`. It gets a process group of its
 * own, so that stop() also ends what a shell script started.
 */
export async function spawnListening(
  argv: readonly string[],
  env: Record<string, string>,
  ready: RegExp,
  options: { command?: string; cwd?: string } = {},
): Promise<Listening> {
  const child = spawnChild(options.command ?? process.execPath, argv, {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = once(child, 'exit');
  const waitFor = async (matches: (output: string) => boolean): Promise<void> => {
    while (!matches(output)) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${argv.join(' ')} exited ${child.exitCode}:\n${output}`);
      await Promise.race([once(child.stdout, 'data'), once(child.stderr, 'data'), exited]);
    }
  };
  await waitFor((sofar) => ready.test(sofar));
  const match = ready.exec(output)!;
  return {
    child,
    match,
    output: () => output,
    waitFor,
    exited: exited.then(([code]) => code as number | null),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(-child.pid!, 'SIGTERM');
        await exited;
      }
    },
  };
}
