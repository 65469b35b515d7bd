import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { loadConfig } from '../../src/config/load.js';
import { generateKey } from '../../src/config/generate-key.js';
import { signProxyToken } from '../../src/tokens/proxy-token.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { spawnChild } from '../helpers/children.js';
import { paddedPng, PNG } from '../helpers/images.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
/** Only ever sent in Host headers. */
const CANONICAL_HOST = 'ecamo.test';

interface Served {
  child: ChildProcess;
  port: number;
  lines: Record<string, unknown>[];
  stderr: string;
}

let source: http.Server;
let sourcePort: number;
let releaseSlow: () => void = () => {};
const SLOW_IMAGE = paddedPng(5008);

before(async () => {
  source = http.createServer((req, res) => {
    if (req.url === '/slow.png') {
      // Headers and most of the body now (past the window ecamo reads before it answers), the rest when the test says so.
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': SLOW_IMAGE.length });
      res.write(SLOW_IMAGE.subarray(0, 5000));
      releaseSlow = () => res.end(SLOW_IMAGE.subarray(5000));
      return;
    }
    res.writeHead(200, { 'content-type': 'image/png', 'set-cookie': 'secret=1' }).end(PNG);
  });
  await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve));
  sourcePort = (source.address() as AddressInfo).port;
});

after(() => {
  source.closeAllConnections();
  source.close();
});

async function keys() {
  const ecamo = await generateKey('ecamo-1');
  const service = await generateKey('svc-1');
  return {
    ecamo,
    env: {
      ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamo.kid]: ecamo.privateJwk }),
      ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`http://wiki.test ${service.kid}`]: service.publicJwk }),
    },
  };
}

async function serve(env: Record<string, string>): Promise<Served> {
  // Port 0: the system picks a free port, which ecamo logs (workers share it).
  const child = spawnChild(process.execPath, [CLI, 'serve'], {
    env: { PATH: process.env.PATH, ECAMO_BIND: '127.0.0.1:0', ECAMO_CANONICAL_HOST: CANONICAL_HOST, ECAMO_INSECURE: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const served: Served = { child, port: 0, lines: [], stderr: '' };
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const line of complete) served.lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (served.stderr += chunk));
  const workers = Number(env.ECAMO_WORKERS ?? 1);
  while (served.lines.filter((line) => line.msg === 'ecamo listening').length < workers) {
    if (child.exitCode !== null) throw new Error(`serve exited: ${served.stderr}`);
    await once(child.stdout, 'data');
  }
  const ports = new Set(served.lines.filter((line) => line.msg === 'ecamo listening').map((line) => new URL(String(line.url)).port));
  assert.equal(ports.size, 1, 'every worker listens on the one port');
  served.port = Number([...ports][0]);
  return served;
}

async function proxyPath(ecamo: Awaited<ReturnType<typeof generateKey>>, url: string): Promise<string> {
  const config = await loadConfig({
    ECAMO_CANONICAL_HOST: 'x.test',
    ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamo.kid]: ecamo.privateJwk }),
    ECAMO_SERVICE_PUBLIC_KEYS: '{}',
  });
  const token = await signProxyToken({ url, serviceOrigin: 'http://wiki.test', sendToken: false }, config.ecamoKeys.signing, 60);
  return `/.ecamo/v1/p/${urlDigest(url)}?t=${token}`;
}

test('keygen prints keys that ECAMO_PRIVATE_KEYS and ECAMO_SERVICE_PUBLIC_KEYS accept', async () => {
  const child = spawn(process.execPath, [CLI, 'keygen', '--kid', 'k1', '--origin', 'https://wiki.example'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
  const printed = JSON.parse(out) as Record<string, unknown>;
  const config = await loadConfig({
    ECAMO_CANONICAL_HOST: 'ecamo.example',
    ECAMO_PRIVATE_KEYS: JSON.stringify(printed.ECAMO_PRIVATE_KEYS),
    ECAMO_SIGNING_KID: String(printed.ECAMO_SIGNING_KID),
    ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify(printed.ECAMO_SERVICE_PUBLIC_KEYS),
  });
  assert.equal(config.ecamoKeys.signing.kid, 'k1');
  assert.ok(config.serviceKeys.has('https://wiki.example k1'));
  assert.equal('d' in (printed.publicJwk as object), false);
});

test('access log: one JSON line per request, with no token, cookie or authorization in it', async () => {
  const { ecamo, env } = await keys();
  const served = await serve({ ...env, ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${sourcePort}/` });
  try {
    const path = await proxyPath(ecamo, `http://127.0.0.1:${sourcePort}/ok.png`);
    const response = await request(`http://127.0.0.1:${served.port}${path}`, {
      headers: { host: CANONICAL_HOST, cookie: 'ecamo_token=cookie-secret-value', authorization: 'Bearer client-secret' },
    });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(Buffer.from(await response.body.arrayBuffer()), PNG);
    assert.equal(response.headers['set-cookie'], undefined);
    const refused = await request(`http://127.0.0.1:${served.port}/.ecamo/v1/r/not.a.token`);
    await refused.body.dump();
    while (served.lines.filter((line) => line.msg === 'access').length < 2) await once(served.child.stdout!, 'data');

    const [ok, bad] = served.lines.filter((line) => line.msg === 'access');
    assert.equal(ok!.status, 200);
    assert.equal(ok!.action, 'proxy-source');
    assert.equal(ok!.route, 'proxy');
    assert.equal(ok!.bytes, PNG.length);
    assert.equal(ok!.service, 'http://wiki.test');
    assert.equal(ok!.source, `http://127.0.0.1:${sourcePort}/ok.png`);
    assert.equal(typeof ok!.durationMs, 'number');
    assert.equal(bad!.status, 400);
    assert.equal(bad!.error, 'token-deserialization');

    const everything = served.lines.map((line) => JSON.stringify(line)).join('\n');
    const proxyToken = new URL(path, 'http://x').searchParams.get('t')!;
    for (const secret of [proxyToken, 'cookie-secret-value', 'client-secret', 'not.a.token']) {
      assert.equal(everything.includes(secret), false, `log leaks ${secret.slice(0, 12)}`);
    }
  } finally {
    served.child.kill('SIGTERM');
    await once(served.child, 'exit');
  }
});

test('SIGTERM: stops accepting, finishes the response in flight, exits 0', async () => {
  const { ecamo, env } = await keys();
  const served = await serve({ ...env, ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${sourcePort}/` });
  const path = await proxyPath(ecamo, `http://127.0.0.1:${sourcePort}/slow.png`);
  const response = await request(`http://127.0.0.1:${served.port}${path}`, { headers: { host: CANONICAL_HOST } });
  assert.equal(response.statusCode, 200);
  const body = response.body.arrayBuffer();

  const exited = once(served.child, 'exit');
  served.child.kill('SIGTERM');
  while (!served.lines.some((line) => line.msg === 'shutting down')) await once(served.child.stdout!, 'data');
  await assert.rejects(request(`http://127.0.0.1:${served.port}/healthz`), 'new connections are refused while draining');

  releaseSlow();
  assert.deepEqual(Buffer.from(await body), SLOW_IMAGE);
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0);
});

test('ECAMO_WORKERS=2 serves from two processes on one port and stops cleanly', async () => {
  const { env } = await keys();
  const served = await serve({ ...env, ECAMO_WORKERS: '2' });
  const pids = new Set(served.lines.filter((line) => line.msg === 'ecamo listening').map((line) => line.pid));
  assert.equal(pids.size, 2);
  const health = await request(`http://127.0.0.1:${served.port}/healthz`);
  assert.equal(await health.body.text(), 'ok');
  served.child.kill('SIGTERM');
  const [code] = (await once(served.child, 'exit')) as [number | null];
  assert.equal(code, 0);
});

test('HTTP_PROXY and friends in the environment do not move source connections away from the guard', async () => {
  let proxied = 0;
  const trap = http.createServer((_req, res) => {
    proxied++;
    res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
  });
  await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
  const trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}`;
  const { ecamo, env } = await keys();
  const served = await serve({
    ...env,
    ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${sourcePort}/`,
    HTTP_PROXY: trapUrl,
    http_proxy: trapUrl,
    HTTPS_PROXY: trapUrl,
    ALL_PROXY: trapUrl,
  });
  try {
    const allowed = await request(`http://127.0.0.1:${served.port}${await proxyPath(ecamo, `http://127.0.0.1:${sourcePort}/ok.png`)}`, { headers: { host: CANONICAL_HOST } });
    assert.deepEqual(Buffer.from(await allowed.body.arrayBuffer()), PNG);
    // A private source that is not allowed must still be refused, not handed to the proxy.
    const refused = await request(`http://127.0.0.1:${served.port}${await proxyPath(ecamo, `http://localhost:${sourcePort}/ok.png`)}`, { headers: { host: CANONICAL_HOST } });
    await refused.body.dump();
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.headers['x-ecamo-error'], 'unallowed-source');
    assert.equal(proxied, 0);
  } finally {
    served.child.kill('SIGTERM');
    await once(served.child, 'exit');
    trap.close();
  }
});
