/**
 * `ecamo serve` as operators run it: the admin listener with workers (one
 * scrape for the whole process group), SIGHUP while serving.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateKey } from '../../src/config/generate-key.js';
import { spawnChild } from '../helpers/children.js';
import { fetchAnswer } from '../helpers/harness.js';
import { count } from '../helpers/prometheus.js';
import { getOnNewConnection } from '../helpers/serve-process.js';
import { selfSignedCertificate } from '../helpers/tls.js';
import { CLI } from '../helpers/wire.js';
import { unlessInstalled } from '../helpers/programs.js';

interface ServeProcess {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  /** Resolves once `predicate` holds for the lines logged so far. */
  waitFor(predicate: (lines: Record<string, unknown>[]) => boolean): Promise<void>;
  stop(): Promise<number | null>;
}

/** `ecamo serve` with exactly `env` (plus PATH), its JSON log lines collected. */
function spawnServe(env: Record<string, string>): ServeProcess {
  const child = spawnChild(process.execPath, [CLI, 'serve'], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const line of complete) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit');
  return {
    child,
    lines,
    async waitFor(predicate) {
      while (!predicate(lines)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`serve exited ${child.exitCode}: ${stderr}`);
        await Promise.race([once(child.stdout, 'data'), exited]);
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

/** Replaces a file whole, as operators are told to: write aside, rename over (atomic on one filesystem). */
async function replaceFile(path: string, content: string): Promise<void> {
  const aside = `${path}.new`;
  await writeFile(aside, content);
  await rename(aside, path);
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

    // A worker that cannot answer (stopped here) makes the scrape fail in the open, not hang.
    const stuck = Number(served.lines.find((line) => line.msg === 'ecamo listening')!.pid);
    process.kill(stuck, 'SIGSTOP');
    try {
      const failed = await fetchAnswer(`${adminUrl}/metrics`);
      assert.deepEqual([failed.status, failed.header('x-ecamo-error'), failed.body], [503, 'metrics-unavailable', 'Error: metrics-unavailable']);
      // Logged as the registry says: one warn line with the code, no stack.
      await served.waitFor((lines) => lines.some((line) => line.code === 'metrics-unavailable'));
      const logged = served.lines.filter((line) => line.code === 'metrics-unavailable');
      assert.deepEqual(logged.map((line) => [line.level, line.err]), [[40, undefined]]);
    } finally {
      process.kill(stuck, 'SIGCONT');
    }
    assert.equal((await fetchAnswer(`${adminUrl}/metrics`)).status, 200);
  } finally {
    assert.equal(await served.stop(), 0);
  }
});

test('SIGHUP storm (100 in about a second) on ECAMO_WORKERS=2 over key files: no failed request, no dead worker, keys re-read by every worker', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ecamo-hup-'));
  const [k1, k2] = await Promise.all([generateKey('k1'), generateKey('k2')]);
  const privateFile = join(dir, 'private.json');
  const serviceFile = join(dir, 'service.json');
  await writeFile(privateFile, JSON.stringify({ k1: k1.privateJwk }));
  await writeFile(serviceFile, '{}');
  const served = spawnServe({
    ECAMO_CANONICAL_HOST: 'ecamo.test',
    ECAMO_INSECURE: 'true',
    ECAMO_PRIVATE_KEYS_FILE: privateFile,
    ECAMO_SERVICE_PUBLIC_KEYS_FILE: serviceFile,
    ECAMO_BIND: '127.0.0.1:0',
    ECAMO_ADMIN_BIND: '127.0.0.1:0',
    ECAMO_WORKERS: '2',
  });
  let stderr = '';
  served.child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  try {
    await served.waitFor((lines) => lines.filter((line) => line.msg === 'ecamo listening').length === 2 && lines.some((line) => line.msg === 'ecamo admin listening'));
    const publicUrl = String(served.lines.find((line) => line.msg === 'ecamo listening')!.url);
    const adminUrl = String(served.lines.find((line) => line.msg === 'ecamo admin listening')!.admin);
    const workerPids = new Set(served.lines.filter((line) => line.msg === 'ecamo listening').map((line) => line.pid));

    let storming = true;
    let answered = 0;
    // Each failure says which request it was and how it failed, rather than only that one did.
    const failures: string[] = [];
    const client = async (name: string): Promise<void> => {
      for (let request = 0; storming; request++) {
        try {
          const answer = await fetchAnswer(`${publicUrl}/.well-known/jwks.json`, { host: 'ecamo.test' });
          if (answer.status === 200) answered++;
          else failures.push(`${name} request ${request}: ${answer.status} x-ecamo-error=${answer.header('x-ecamo-error')} body=${answer.body.slice(0, 200)}`);
        } catch (error) {
          failures.push(`${name} request ${request}: no answer (${String(error)}; cause ${String((error as { cause?: unknown }).cause)})`);
        }
      }
    };
    const clients = Promise.all([client('client 1'), client('client 2'), client('client 3')]);
    for (let i = 0; i < 100; i++) {
      // Half-way, the file changes: the storm's reloads pick up the new key. Replaced whole (write aside,
      // rename over), as docs/operations.md tells operators: a reload never sees it half-written.
      if (i === 50) await replaceFile(privateFile, JSON.stringify({ signing_kid: 'k2', keys: { k1: k1.privateJwk, k2: k2.privateJwk } }));
      served.child.kill('SIGHUP');
      await sleep(10);
    }
    storming = false;
    await clients;
    assert.deepEqual(failures, [], `every request during the storm was answered (${answered} with 200)`);
    assert.ok(answered > 0);

    // Every worker ends up on the new file; none died or was replaced.
    const jwksKids = async (): Promise<string[]> => {
      const answer = await fetchAnswer(`${publicUrl}/.well-known/jwks.json`, { host: 'ecamo.test' });
      return (JSON.parse(answer.body) as { keys: { kid: string }[] }).keys.map((key) => key.kid).sort();
    };
    await served.waitFor((lines) => workerPids.size === new Set(lines.filter((line) => line.msg === 'keys reloaded' && line.signingKid === 'k2').map((line) => line.pid)).size);
    for (let i = 0; i < 6; i++) assert.deepEqual(await jwksKids(), ['k1', 'k2']);
    assert.equal(served.lines.some((line) => line.msg === 'worker died; starting another'), false);
    assert.deepEqual(new Set(served.lines.filter((line) => line.msg === 'keys reloaded').map((line) => line.pid)), workerPids);
    const metrics = (await fetchAnswer(`${adminUrl}/metrics`)).body;
    assert.ok(count(metrics, 'ecamo_key_reloads_total', { outcome: 'success' }) >= 2);
    const failedReloads = served.lines.filter((line) => line.msg === 'key reload failed; the previous keys stay in use');
    assert.equal(count(metrics, 'ecamo_key_reloads_total', { outcome: 'failure' }), 0, `no reload failed: ${JSON.stringify(failedReloads)}`);
    assert.equal((await fetchAnswer(`${adminUrl}/readyz`)).status, 200);
    assert.doesNotMatch(stderr, /MaxListenersExceeded|Warning/, 'no listener piles up on signals');
  } finally {
    assert.equal(await served.stop(), 0);
    await rm(dir, { recursive: true, force: true });
  }
});

test('ECAMO_WORKERS=2: SIGHUPs while a worker replacement starts neither kill it nor stop serve, and it reloads once listening', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ecamo-hup-start-'));
  const [k1, k2] = await Promise.all([generateKey('k1'), generateKey('k2')]);
  const privateFile = join(dir, 'private.json');
  await replaceFile(privateFile, JSON.stringify({ k1: k1.privateJwk }));
  const served = spawnServe({
    ECAMO_CANONICAL_HOST: 'ecamo.test',
    ECAMO_INSECURE: 'true',
    ECAMO_PRIVATE_KEYS_FILE: privateFile,
    ECAMO_SERVICE_PUBLIC_KEYS: '{}',
    ECAMO_BIND: '127.0.0.1:0',
    ECAMO_WORKERS: '2',
  });
  try {
    await served.waitFor((lines) => lines.filter((line) => line.msg === 'ecamo listening').length === 2);
    const killed = Number(served.lines.find((line) => line.msg === 'ecamo listening')!.pid);
    process.kill(killed, 'SIGKILL');
    await served.waitFor((lines) => lines.some((line) => line.msg === 'worker died; starting another'));
    // SIGHUPs from before the replacement is forked until it listens: some reach it while it boots.
    let hups = 0;
    while (served.lines.filter((line) => line.msg === 'ecamo listening').length < 3) {
      if (served.child.exitCode !== null) assert.fail(`serve exited ${served.child.exitCode} while its worker was replaced: ${JSON.stringify(served.lines.slice(-3))}`);
      if (hups === 20) await replaceFile(privateFile, JSON.stringify({ signing_kid: 'k2', keys: { k1: k1.privateJwk, k2: k2.privateJwk } }));
      served.child.kill('SIGHUP');
      hups++;
      await sleep(5);
    }
    const replacement = served.lines.filter((line) => line.msg === 'ecamo listening')[2]!.pid;
    assert.notEqual(replacement, killed);
    // The replacement re-reads the files after it listens, so it ends on the last version whenever it read them first.
    await served.waitFor((lines) => lines.some((line) => line.msg === 'keys reloaded' && line.pid === replacement && line.signingKid === 'k2'));
    assert.equal(served.lines.filter((line) => line.msg === 'worker died; starting another').length, 1);
    assert.equal(await served.stop(), 0);
  } finally {
    // Not asserted here: it would hide why the test failed.
    await served.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

/** The common name of the certificate a fresh TLS connection is shown. */
async function servedCommonName(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = tls.connect({ host: hostname, port: Number(port), rejectUnauthorized: false, ALPNProtocols: ['h2'] });
  await once(socket, 'secureConnect');
  const name = socket.getPeerCertificate().subject.CN;
  socket.destroy();
  return Array.isArray(name) ? name.join() : String(name);
}

test('ECAMO_WORKERS=2 with ECAMO_TLS_*: both workers serve HTTP/2, and SIGHUP puts the new certificate in every worker', { skip: unlessInstalled('openssl') }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ecamo-tls-serve-'));
  const [first, second] = [selfSignedCertificate('first'), selfSignedCertificate('second')];
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await Promise.all([copyFile(first.certFile, certFile), copyFile(first.keyFile, keyFile)]);
  const key = await generateKey('k1');
  const served = spawnServe({
    ECAMO_CANONICAL_HOST: 'ecamo.test',
    ECAMO_PRIVATE_KEYS: JSON.stringify({ k1: key.privateJwk }),
    ECAMO_SERVICE_PUBLIC_KEYS: '{}',
    ECAMO_BIND: '127.0.0.1:0',
    ECAMO_TLS_CERT: certFile,
    ECAMO_TLS_KEY: keyFile,
    ECAMO_WORKERS: '2',
  });
  try {
    await served.waitFor((lines) => lines.filter((line) => line.msg === 'ecamo listening').length === 2);
    const publicUrl = String(served.lines.find((line) => line.msg === 'ecamo listening')!.url);
    assert.match(publicUrl, /^https:/);
    const workerPids = new Set(served.lines.filter((line) => line.msg === 'ecamo listening').map((line) => line.pid));
    for (let i = 0; i < 4; i++) assert.equal((await fetchAnswer(`${publicUrl}/healthz`, { host: 'ecamo.test', ca: first.cert })).status, 200);
    assert.equal(await servedCommonName(publicUrl), 'first');

    await Promise.all([copyFile(second.certFile, certFile), copyFile(second.keyFile, keyFile)]);
    served.child.kill('SIGHUP');
    await served.waitFor((lines) => new Set(lines.filter((line) => line.msg === 'TLS certificate reloaded').map((line) => line.pid)).size === workerPids.size);
    for (let i = 0; i < 6; i++) assert.equal(await servedCommonName(publicUrl), 'second', 'whichever worker takes the connection');
    assert.equal((await fetchAnswer(`${publicUrl}/healthz`, { host: 'ecamo.test', ca: second.cert })).status, 200);
  } finally {
    assert.equal(await served.stop(), 0);
    await rm(dir, { recursive: true, force: true });
  }
});
