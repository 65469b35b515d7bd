/**
 * ECAMO_TRUSTED_PROXIES: forwarding headers count only from trusted peers.
 * Peers are distinct loopback addresses: 127.0.0.2 plays the trusted proxy,
 * 127.0.0.3 a client talking to ecamo directly.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { startEcamo, type Ecamo } from '../helpers/harness.js';
import { getFrom } from '../helpers/peers.js';

const PROXY = '127.0.0.2';
const CLIENT = '127.0.0.3';
/** The source is never fetched: these tests stop at the redirect endpoint. */
const SOURCE = 'http://127.0.0.1:9/img.png';

interface Logged {
  readonly ecamo: Ecamo;
  readonly lines: Record<string, unknown>[];
}

async function startLogged(env: Record<string, string>): Promise<Logged> {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { ecamo: await startEcamo(env, { logger }), lines };
}

/** The access line of the last request answered. */
function lastAccess(logged: Logged): Record<string, unknown> {
  const line = logged.lines.filter((entry) => entry.msg === 'access').at(-1);
  assert.ok(line !== undefined);
  return line;
}

async function ignoredCount(ecamo: Ecamo, header: string): Promise<number> {
  const metric = await ecamo.server.app.metrics.forwardingIgnored.get();
  return metric.values.find((value) => value.labels.header === header)?.value ?? 0;
}

describe('with ECAMO_TRUSTED_PROXIES set', () => {
  let logged: Logged;
  before(async () => {
    logged = await startLogged({ ECAMO_TRUSTED_PROXIES: `${PROXY}, 10.0.0.0/8, 2001:db8::/32` });
  });
  after(() => logged.ecamo.close());

  test('sec-x-ecamo-service-host from an untrusted peer changes nothing; from the trusted proxy it names the service', async () => {
    const { ecamo } = logged;
    const path = await ecamo.signer.url(SOURCE);
    const headers = { cookie: ecamo.cookie, 'sec-x-ecamo-service-host': 'wiki.test' };
    const before = await ignoredCount(ecamo, 'sec-x-ecamo-service-host');

    // Host names another service: only a believed sec-x-ecamo-service-host makes the wiki's token valid here.
    const spoofed = await getFrom(ecamo, CLIENT, path, { host: 'rewritten.test', headers });
    assert.equal(spoofed.status, 401, String(spoofed.headers['x-ecamo-error']));
    assert.equal(lastAccess(logged).service, 'http://rewritten.test');
    assert.equal(await ignoredCount(ecamo, 'sec-x-ecamo-service-host'), before + 1);

    const forwarded = await getFrom(ecamo, PROXY, path, { host: 'rewritten.test', headers });
    assert.equal(forwarded.status, 302, String(forwarded.headers['x-ecamo-error']));
    assert.equal(lastAccess(logged).service, 'http://wiki.test');
    assert.equal(await ignoredCount(ecamo, 'sec-x-ecamo-service-host'), before + 1);
  });

  test('X-Forwarded-For from an untrusted peer changes nothing: the access log has the peer', async () => {
    const before = await ignoredCount(logged.ecamo, 'x-forwarded-for');
    await getFrom(logged.ecamo, CLIENT, '/healthz', { headers: { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-proto': 'https' } });
    assert.equal(lastAccess(logged).client, CLIENT);
    assert.equal(await ignoredCount(logged.ecamo, 'x-forwarded-for'), before + 1);
    assert.ok((await ignoredCount(logged.ecamo, 'x-forwarded-other')) >= 1);
  });

  // [X-Forwarded-For as sent by the trusted proxy, the client address ecamo must log]
  const chains: readonly (readonly [string, string])[] = [
    ['198.51.100.7', '198.51.100.7'],
    // The client's own claim (left) is not believed past the right-most untrusted entry.
    ['203.0.113.1, 198.51.100.7', '198.51.100.7'],
    // Trusted hops (10/8, 2001:db8::/32) are skipped from the right.
    ['203.0.113.1, 198.51.100.7, 10.1.2.3, 2001:db8::5', '198.51.100.7'],
    ['198.51.100.7:5123', '198.51.100.7'],
    ['[2001:db9::1]:443', '2001:db9::1'],
    ['[2001:db9::1]', '2001:db9::1'],
    ['2001:DB9:0:0:0:0:0:1', '2001:db9::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::ffff:198.51.100.7', '198.51.100.7'],
    // Garbage where an address belongs: nothing beyond it is proven, the nearest trusted hop is the client.
    ['garbage', PROXY],
    ['198.51.100.7, unknown', PROXY],
    ['198.51.100.7, 10.1.2.3, ,', PROXY],
    ['198.51.100.7, 127.1, 10.1.2.3', '10.1.2.3'],
    ['<script>', PROXY],
    ['[::1', PROXY],
    ['1.2.3.4:99999999', PROXY],
    ['a'.repeat(5000), PROXY],
    // Hundreds of entries: only the right end is read.
    [Array.from({ length: 500 }, (_, i) => `198.51.100.${i % 250}`).join(', '), '198.51.100.249'],
    [Array.from({ length: 500 }, () => '10.0.0.1').join(','), '10.0.0.1'],
  ];
  for (const [chain, client] of chains) {
    test(`X-Forwarded-For ${JSON.stringify(chain.slice(0, 60))} from the trusted proxy: client ${client}`, async () => {
      const answer = await getFrom(logged.ecamo, PROXY, '/healthz', { headers: { 'x-forwarded-for': chain } });
      assert.equal(answer.status, 200);
      assert.equal(lastAccess(logged).client, client);
    });
  }

  test('requests on one keep-alive connection are judged one by one: each its own X-Forwarded-For, each untrusted header counted', async () => {
    const fromProxy = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const fromClient = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // The point of the test: every request of a peer goes over its one connection, the idle socket its agent keeps.
    const connections = new Map<http.Agent, Set<unknown>>([[fromProxy, new Set()], [fromClient, new Set()]]);
    const noteConnection = (agent: http.Agent): void => {
      for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) connections.get(agent)?.add(socket);
    };
    try {
      for (const client of ['198.51.100.7', '198.51.100.8']) {
        await getFrom(logged.ecamo, PROXY, '/healthz', { agent: fromProxy, headers: { 'x-forwarded-for': client } });
        assert.equal(lastAccess(logged).client, client);
        noteConnection(fromProxy);
      }
      const before = await ignoredCount(logged.ecamo, 'x-forwarded-for');
      for (let i = 0; i < 2; i++) {
        await getFrom(logged.ecamo, CLIENT, '/healthz', { agent: fromClient, headers: { 'x-forwarded-for': '198.51.100.9' } });
        assert.equal(lastAccess(logged).client, CLIENT);
        noteConnection(fromClient);
      }
      assert.equal(await ignoredCount(logged.ecamo, 'x-forwarded-for'), before + 2);
      assert.deepEqual([...connections.values()].map((sockets) => sockets.size), [1, 1]);
    } finally {
      fromProxy.destroy();
      fromClient.destroy();
    }
  });

  test('repeated X-Forwarded-For headers are one chain, read from the right', async () => {
    const answer = await getFrom(logged.ecamo, PROXY, '/healthz', { headers: { 'x-forwarded-for': ['203.0.113.1', '198.51.100.7, 10.0.0.1'] } });
    assert.equal(answer.status, 200);
    assert.equal(lastAccess(logged).client, '198.51.100.7');
  });
});

describe('without ECAMO_TRUSTED_PROXIES (the behaviour before the setting)', () => {
  let logged: Logged;
  before(async () => {
    logged = await startLogged({});
  });
  after(() => logged.ecamo.close());

  test('every peer may send sec-x-ecamo-service-host; X-Forwarded-For is never read', async () => {
    const { ecamo } = logged;
    const path = await ecamo.signer.url(SOURCE);
    const answer = await getFrom(ecamo, CLIENT, path, { host: 'rewritten.test', headers: { cookie: ecamo.cookie, 'sec-x-ecamo-service-host': 'wiki.test' } });
    assert.equal(answer.status, 302, String(answer.headers['x-ecamo-error']));
    await getFrom(ecamo, CLIENT, '/healthz', { headers: { 'x-forwarded-for': '198.51.100.7' } });
    assert.equal(lastAccess(logged).client, CLIENT);
    assert.equal(await ignoredCount(ecamo, 'sec-x-ecamo-service-host'), 0);
  });
});
