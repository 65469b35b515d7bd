/**
 * `ecamo serve` as operators run it: the admin listener with workers (one
 * scrape for the whole process group), SIGHUP while serving.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { test } from 'node:test';
import { generateKey } from '../../src/cli/keygen.js';
import { fetchAnswer } from '../helpers/harness.js';
import { count } from '../helpers/prometheus.js';
import { CLI } from '../helpers/wire.js';

interface ServeProcess {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  /** Resolves once `predicate` holds for the lines logged so far. */
  waitFor(predicate: (lines: Record<string, unknown>[]) => boolean): Promise<void>;
  stop(): Promise<number | null>;
}

/** `ecamo serve` with exactly `env` (plus PATH), its JSON log lines collected. */
function spawnServe(env: Record<string, string>): ServeProcess {
  const child = spawn(process.execPath, [CLI, 'serve'], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const line of complete) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit');
  return {
    child,
    lines,
    async waitFor(predicate) {
      while (!predicate(lines)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`serve exited ${child.exitCode}: ${stderr}`);
        await Promise.race([once(child.stdout!, 'data'), exited]);
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

/** One GET on a connection of its own (so that the cluster hands each to the next worker). */
function getOnNewConnection(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    }).on('error', reject);
  });
}

test('ECAMO_WORKERS=2 with ECAMO_ADMIN_BIND: one scrape of the primary counts the requests of every worker', async () => {
  const key = await generateKey('k1');
  const served = spawnServe({
    ECAMO_CANONICAL_HOST: 'ecamo.test',
    ECAMO_INSECURE: 'true',
    ECAMO_PRIVATE_KEYS: JSON.stringify({ k1: key.privateJwk }),
    ECAMO_SERVICE_PUBLIC_KEYS: '{}',
    ECAMO_BIND: '127.0.0.1:0',
    ECAMO_ADMIN_BIND: '127.0.0.1:0',
    ECAMO_WORKERS: '2',
  });
  try {
    await served.waitFor((lines) => lines.filter((line) => line.msg === 'ecamo listening').length === 2 && lines.some((line) => line.msg === 'ecamo admin listening'));
    const publicUrl = String(served.lines.find((line) => line.msg === 'ecamo listening')!.url);
    const adminUrl = String(served.lines.find((line) => line.msg === 'ecamo admin listening')!.admin);

    assert.equal((await fetchAnswer(`${adminUrl}/readyz`)).status, 200);
    const requests = 12;
    for (let i = 0; i < requests; i++) assert.equal(await getOnNewConnection(`${publicUrl}/healthz`), 200);
    await served.waitFor((lines) => lines.filter((line) => line.msg === 'access').length === requests);
    const servedBy = new Set(served.lines.filter((line) => line.msg === 'access').map((line) => line.pid));
    assert.equal(servedBy.size, 2, 'both workers served some of the requests');

    const scrape = await fetchAnswer(`${adminUrl}/metrics`);
    assert.equal(scrape.status, 200);
    assert.equal(count(scrape.body, 'ecamo_requests_total', { route: 'health', status: '200', error: '' }), requests);
    assert.ok(count(scrape.body, 'process_cpu_user_seconds_total') > 0, 'process metrics of the workers are there too');
    assert.equal((await fetchAnswer(`${publicUrl}/metrics`)).status, 404);
  } finally {
    assert.equal(await served.stop(), 0);
  }
});
