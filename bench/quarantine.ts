/**
 * `npm run bench:quarantine [-- --seconds N --flood-rate R --valid-rate R]`:
 * what quarantine saves under a flood of forged tokens.
 *
 * ecamo runs behind a trusted proxy (ECAMO_TRUSTED_PROXIES=127.0.0.1, which
 * is where wrk connects from), so two wrk processes play two clients by their
 * X-Forwarded-For: one sends forged URL tokens at up to --flood-rate per
 * second (default 20,000), the other valid ones (redirect endpoint, a valid
 * auth cookie: 302s, no source fetch) at up to --valid-rate (default 1,000).
 * Both are paced with wrk's delay() so the offered load is the same in each
 * mode; when ecamo cannot keep up, the achieved rate falls below it.
 *
 * For each mode (quarantine off; ECAMO_QUARANTINE_FAILURES=10) a fresh ecamo:
 * valid traffic alone, then valid traffic with the flood. Reported: ecamo's
 * CPU (utime + stime from /proc, in cores and in µs per request), each
 * client's achieved rate and p99, and what the flood was answered (401 or 429).
 * Markdown to stdout, progress to stderr. Linux only (/proc).
 */
import { readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { generateKey } from '../src/config/generate-key.js';
import { createSigner } from '../src/signer/index.js';
import { installCleanup, runCommand, startChild, stopAll, waitForOutput, type Child } from './processes.js';

const SERVER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'quarantine-server.js');
const SERVICE_ORIGIN = 'http://wiki.bench';
const SERVICE_HOST = 'wiki.bench';
const FLOOD_CLIENT = '198.51.100.66';
const VALID_CLIENT = '198.51.100.77';
const TICKS_PER_SECOND = 100;
const RESULT_MARK = 'WRK_JSON ';

interface WrkResult {
  readonly requests: number;
  readonly durationUs: number;
  readonly statusErrors: number;
  readonly socketErrors: number;
  readonly p99Us: number;
}

interface Phase {
  readonly mode: string;
  readonly phase: string;
  readonly cpuCores: number;
  readonly valid: WrkResult;
  readonly flood: WrkResult | undefined;
  readonly floodAnswer: string | undefined;
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

/** Paced wrk: every connection waits `delayMs` after each response; done() prints one JSON line. */
function pacedLua(): string {
  return `function init(args)
  local headers = { ["Host"] = args[2], ["X-Forwarded-For"] = args[3] }
  if args[4] ~= "" then headers["Cookie"] = args[4] end
  req = wrk.format("GET", args[1], headers)
  pause = tonumber(args[5])
end
function request() return req end
function delay() return pause end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${RESULT_MARK}{"requests":%.0f,"duration_us":%.0f,"status":%.0f,"socket":%.0f,"p99":%.0f}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(99)))
end
`;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return fields[11]! + fields[12]!;
}

interface Client {
  readonly path: string;
  readonly xff: string;
  readonly cookie: string;
  /** Offered requests per second: connections × 1000 / delay. */
  readonly rate: number;
}

async function runWrk(script: string, port: number, client: Client, seconds: number): Promise<WrkResult> {
  // Enough connections that the pacing, not the round trip, sets the rate (each waits 10 ms between requests).
  const delayMs = 10;
  const connections = Math.max(1, Math.round((client.rate * delayMs) / 1000));
  const result = await runCommand('wrk', [
    '-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', script,
    `http://127.0.0.1:${port}`, '--', client.path, SERVICE_HOST, client.xff, client.cookie, String(delayMs),
  ]);
  const line = result.stdout.split('\n').find((text) => text.startsWith(RESULT_MARK));
  if (line === undefined) throw new Error(`wrk gave no result (code ${result.code}):\n${result.stdout}\n${result.stderr}`);
  const parsed = JSON.parse(line.slice(RESULT_MARK.length)) as { requests: number; duration_us: number; status: number; socket: number; p99: number };
  return { requests: parsed.requests, durationUs: parsed.duration_us, statusErrors: parsed.status, socketErrors: parsed.socket, p99Us: parsed.p99 };
}

async function startEcamo(env: Record<string, string>): Promise<{ child: Child; port: number }> {
  const child = startChild('ecamo', process.execPath, [SERVER_SCRIPT], { env: { PATH: process.env.PATH, ...env } });
  return { child, port: Number((await waitForOutput(child, /ecamo-bench-listening (\d+)/))[1]) };
}

async function answerTo(port: number, client: Client): Promise<string> {
  const response = await request(`http://127.0.0.1:${port}${client.path}`, {
    headers: { host: SERVICE_HOST, 'x-forwarded-for': client.xff, ...(client.cookie === '' ? {} : { cookie: client.cookie }) },
  });
  await response.body.dump();
  return `${response.statusCode} ${String(response.headers['x-ecamo-error'] ?? '')}`.trim();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { seconds: { type: 'string', default: '15' }, 'flood-rate': { type: 'string', default: '20000' }, 'valid-rate': { type: 'string', default: '1000' } },
  });
  const seconds = Number(values.seconds);
  const floodRate = Number(values['flood-rate']);
  const validRate = Number(values['valid-rate']);
  for (const [name, value] of [['--seconds', seconds], ['--flood-rate', floodRate], ['--valid-rate', validRate]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number`);
  }

  const dir = mkdtempSync(join(os.tmpdir(), 'ecamo-bench-quarantine-'));
  installCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'paced.lua');
  writeFileSync(script, pacedLua());

  const [ecamoKey, serviceKey] = await Promise.all([generateKey('ecamo-bench'), generateKey('svc-bench')]);
  const signer = await createSigner({ origin: SERVICE_ORIGIN, kid: serviceKey.kid, privateJwk: serviceKey.privateJwk });
  const cookie = await signer.authCookie({ canonicalOrigin: 'http://ecamo.bench', ttlSeconds: 3600, insecure: true, cookieName: 'ecamo_token' });
  const validPath = await signer.url('https://images.example/cat.png');
  const signature = /\.([A-Za-z0-9_-]{86})$/.exec(validPath)![1]!;
  const forgedPath = validPath.replace(signature, `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`);
  const valid: Client = { path: validPath, xff: VALID_CLIENT, cookie: `${cookie.name}=${cookie.token}`, rate: validRate };
  const flood: Client = { path: forgedPath, xff: FLOOD_CLIENT, cookie: `${cookie.name}=${cookie.token}`, rate: floodRate };

  const baseEnv = {
    ECAMO_CANONICAL_HOST: 'ecamo.bench',
    ECAMO_INSECURE: 'true',
    ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamoKey.kid]: ecamoKey.privateJwk }),
    ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`${SERVICE_ORIGIN} ${serviceKey.kid}`]: serviceKey.publicJwk }),
    ECAMO_TRUSTED_PROXIES: '127.0.0.1',
  };
  const modes: readonly [string, Record<string, string>][] = [
    ['quarantine off', {}],
    ['quarantine on (10 failures)', { ECAMO_QUARANTINE_FAILURES: '10', ECAMO_QUARANTINE_PERIOD: '3600' }],
  ];

  const phases: Phase[] = [];
  for (const [mode, env] of modes) {
    const { child, port } = await startEcamo({ ...baseEnv, ...env });
    log(`${mode}: ecamo on port ${port}; warm-up`);
    await runWrk(script, port, valid, 2);
    for (const withFlood of [false, true]) {
      log(`${mode}: valid ${validRate}/s${withFlood ? ` + forged ${floodRate}/s` : ' alone'}, ${seconds} s`);
      const before = cpuTicks(child.pid);
      const [validResult, floodResult] = await Promise.all([runWrk(script, port, valid, seconds), withFlood ? runWrk(script, port, flood, seconds) : undefined]);
      const cpuSeconds = (cpuTicks(child.pid) - before) / TICKS_PER_SECOND;
      child.assertAlive();
      phases.push({
        mode,
        phase: withFlood ? 'valid + flood' : 'valid alone',
        cpuCores: cpuSeconds / seconds,
        valid: validResult,
        flood: floodResult,
        floodAnswer: withFlood ? await answerTo(port, flood) : undefined,
      });
    }
    await stopAll();
  }

  const rate = (result: WrkResult): number => result.requests / (result.durationUs / 1e6);
  const rows = phases.map((phase) => {
    const requests = phase.valid.requests + (phase.flood?.requests ?? 0);
    const cpuUsPerRequest = (phase.cpuCores * seconds * 1e6) / requests;
    return `| ${phase.mode} | ${phase.phase} | ${phase.cpuCores.toFixed(2)} | ${cpuUsPerRequest.toFixed(0)} | ${rate(phase.valid).toFixed(0)} | ${(phase.valid.p99Us / 1000).toFixed(1)} | ${phase.valid.statusErrors + phase.valid.socketErrors} | ${phase.flood === undefined ? '' : rate(phase.flood).toFixed(0)} | ${phase.flood === undefined ? '' : (phase.flood.p99Us / 1000).toFixed(1)} | ${phase.floodAnswer ?? ''} |`;
  });
  process.stdout.write(
    [
      `## Quarantine under a flood of forged tokens`,
      '',
      `${new Date().toISOString()}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), load average ${os.loadavg().map((load) => load.toFixed(1)).join(' ')}; ` +
        `${seconds} s per phase; offered: valid ${validRate}/s, forged ${floodRate}/s (paced wrk, 10 ms between requests per connection).`,
      '',
      '| mode | phase | ecamo CPU (cores) | CPU µs / request | valid req/s | valid p99 ms | valid errors | forged req/s | forged p99 ms | forged answered |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n'),
  );
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  await stopAll();
  process.exit(1);
});
