/**
 * What quarantine charges a refusal to: never a trusted proxy's own address
 * (whatever X-Forwarded-For says or lacks), an IPv6 client by its network
 * (ECAMO_QUARANTINE_IPV6_PREFIX), an IPv4-mapped IPv6 client as its IPv4
 * address. Peers are distinct loopback addresses: 127.0.0.2 plays the trusted
 * proxy, 127.0.0.3 a client talking to ecamo directly; clients behind the
 * proxy are presented by its X-Forwarded-For.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { startEcamo, type Ecamo } from '../helpers/harness.js';
import { forge, getFrom } from '../helpers/peers.js';

const PROXY = '127.0.0.2';
const DIRECT = '127.0.0.3';
/** The source is never fetched: refusals and redirects happen before any fetch. */
const SOURCE = 'http://127.0.0.1:9/img.png';

async function trips(ecamo: Ecamo): Promise<number> {
  return (await ecamo.server.app.metrics.quarantineTrips.get()).values[0]?.value ?? 0;
}

/** A request through the trusted proxy with this X-Forwarded-For (none when undefined). */
function viaProxy(ecamo: Ecamo, path: string, forwardedFor: string | undefined) {
  return getFrom(ecamo, PROXY, path, { headers: { cookie: ecamo.cookie, ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }) } });
}

describe('a trusted proxy is never charged', () => {
  let ecamo: Ecamo;
  before(async () => {
    ecamo = await startEcamo({ ECAMO_QUARANTINE_FAILURES: '3', ECAMO_QUARANTINE_PERIOD: '600', ECAMO_TRUSTED_PROXIES: `${PROXY}, 10.0.0.0/8` });
  });
  after(() => ecamo.close());

  // X-Forwarded-For that names no client beyond the proxies: garbage at its end, none at all, or only proxies.
  for (const forwardedFor of ['garbage', '198.51.100.7, unknown', undefined, '10.1.2.3', '198.51.100.7, 10.1.2.3, <script>']) {
    test(`forgeries through the proxy with X-Forwarded-For ${JSON.stringify(forwardedFor)} are refused one by one and quarantine nobody`, async () => {
      const path = await ecamo.signer.url(SOURCE);
      const tripsBefore = await trips(ecamo);
      for (let i = 0; i < 10; i++) assert.equal((await viaProxy(ecamo, forge(path), forwardedFor)).status, 401);
      assert.equal(await trips(ecamo), tripsBefore);
      // Neither the proxy's own requests nor its other clients are refused.
      assert.equal((await viaProxy(ecamo, path, forwardedFor)).status, 302);
      assert.equal((await viaProxy(ecamo, path, undefined)).status, 302);
      assert.equal((await viaProxy(ecamo, path, '198.51.100.8')).status, 302);
    });
  }

  test('the same forgeries from a peer that is not trusted are charged to that peer', async () => {
    const path = await ecamo.signer.url(SOURCE);
    const headers = { cookie: ecamo.cookie, 'x-forwarded-for': 'garbage' };
    for (let i = 0; i < 3; i++) assert.equal((await getFrom(ecamo, DIRECT, forge(path), { headers })).status, 401);
    assert.equal((await getFrom(ecamo, DIRECT, path, { headers })).status, 429);
    assert.equal((await viaProxy(ecamo, path, undefined)).status, 302);
  });

  test('an IPv4-mapped IPv6 client is counted as its IPv4 address', async () => {
    const path = await ecamo.signer.url(SOURCE);
    assert.equal((await viaProxy(ecamo, forge(path), '::ffff:198.51.100.30')).status, 401);
    assert.equal((await viaProxy(ecamo, forge(path), '::ffff:c633:641e')).status, 401);
    assert.equal((await viaProxy(ecamo, forge(path), '198.51.100.30')).status, 401);
    for (const spelling of ['198.51.100.30', '::ffff:198.51.100.30']) assert.equal((await viaProxy(ecamo, path, spelling)).status, 429);
  });
});

describe('IPv6 clients are counted by network (ECAMO_QUARANTINE_IPV6_PREFIX)', () => {
  let ecamo: Ecamo;
  const lines: Record<string, unknown>[] = [];
  before(async () => {
    const logger = createLogger('warn', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    ecamo = await startEcamo({ ECAMO_QUARANTINE_FAILURES: '100', ECAMO_QUARANTINE_PERIOD: '600', ECAMO_TRUSTED_PROXIES: PROXY }, { logger });
  });
  after(() => ecamo.close());

  test('by default 200 forgeries from 200 addresses of one /64 quarantine the whole /64; another /64 is served', async () => {
    const path = await ecamo.signer.url(SOURCE);
    const statuses: number[] = [];
    for (let i = 1; i <= 200; i++) statuses.push((await viaProxy(ecamo, forge(path), `2001:db8:1:2::${i.toString(16)}`)).status);
    assert.equal(statuses.filter((status) => status === 401).length, 100);
    assert.equal(statuses.filter((status) => status === 429).length, 100);
    // A valid token from an address of that /64 never used before.
    assert.equal((await viaProxy(ecamo, path, '2001:db8:1:2:ffff:ffff:ffff:fffe')).status, 429);
    assert.equal((await viaProxy(ecamo, path, '[2001:db8:1:3::1]:443')).status, 302);
    assert.equal((await viaProxy(ecamo, path, '198.51.100.9')).status, 302);
    const quarantined = lines.filter((line) => line.msg === 'client quarantined after refused credentials');
    assert.deepEqual(quarantined.map((line) => line.client), ['2001:db8:1:2::/64']);
  });
});

describe('ECAMO_QUARANTINE_IPV6_PREFIX=128 counts each IPv6 address alone', () => {
  let ecamo: Ecamo;
  before(async () => {
    ecamo = await startEcamo({ ECAMO_QUARANTINE_FAILURES: '3', ECAMO_QUARANTINE_PERIOD: '600', ECAMO_TRUSTED_PROXIES: PROXY, ECAMO_QUARANTINE_IPV6_PREFIX: '128' });
  });
  after(() => ecamo.close());

  test('three addresses of one /64 are three clients; one address three times is quarantined', async () => {
    const path = await ecamo.signer.url(SOURCE);
    for (const address of ['2001:db8::1', '2001:db8::2', '2001:db8::3']) assert.equal((await viaProxy(ecamo, forge(path), address)).status, 401);
    assert.equal((await viaProxy(ecamo, path, '2001:db8::1')).status, 302);
    for (let i = 0; i < 2; i++) assert.equal((await viaProxy(ecamo, forge(path), '2001:db8::1')).status, 401);
    assert.equal((await viaProxy(ecamo, path, '2001:db8::1')).status, 429);
    assert.equal((await viaProxy(ecamo, path, '2001:db8::2')).status, 302);
  });
});

describe('the start-up warning', () => {
  async function warningsAt(env: Record<string, string>): Promise<Record<string, unknown>[]> {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('warn', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const ecamo = await startEcamo(env, { logger });
    await ecamo.close();
    return lines.filter((line) => line.setting === 'ECAMO_QUARANTINE_FAILURES');
  }

  test('quarantine without ECAMO_TRUSTED_PROXIES logs one warning; with it, or without quarantine, none', async () => {
    const warned = await warningsAt({ ECAMO_QUARANTINE_FAILURES: '5' });
    assert.equal(warned.length, 1);
    assert.equal(warned[0]?.level, 40);
    assert.match(String(warned[0]?.msg), /ECAMO_TRUSTED_PROXIES/);
    assert.deepEqual(await warningsAt({ ECAMO_QUARANTINE_FAILURES: '5', ECAMO_TRUSTED_PROXIES: PROXY }), []);
    assert.deepEqual(await warningsAt({}), []);
  });
});
