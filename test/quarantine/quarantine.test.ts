/**
 * ECAMO_QUARANTINE_*: an address that presents too many refused credentials
 * is answered 429 before any token work, for the period, and alone.
 * Clients are distinct loopback addresses (127.0.0.x).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CANONICAL_HOST, startEcamo, type Ecamo } from '../helpers/harness.js';
import { forge, getFrom, type PeerAnswer } from '../helpers/peers.js';

/** The source is never fetched: refusals and redirects happen before any fetch. */
const SOURCE = 'http://127.0.0.1:9/img.png';

/** Signature checks done so far (every kind, every outcome): what quarantine must spare. */
async function verifications(ecamo: Ecamo): Promise<number> {
  const metric = await ecamo.server.app.metrics.tokenVerifications.get();
  return metric.values.reduce((sum, value) => sum + value.value, 0);
}

function assertQuarantined(answer: PeerAnswer, periodSeconds: number): void {
  assert.equal(answer.status, 429);
  assert.equal(answer.headers['x-ecamo-error'], 'quarantined');
  const retryAfter = Number(answer.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= periodSeconds, `retry-after ${answer.headers['retry-after']}`);
}

describe('quarantine in one instance (memory)', () => {
  let ecamo: Ecamo;
  before(async () => {
    ecamo = await startEcamo({ ECAMO_QUARANTINE_FAILURES: '3', ECAMO_QUARANTINE_WINDOW: '60', ECAMO_QUARANTINE_PERIOD: '600', ECAMO_TRUSTED_PROXIES: '127.0.0.2' });
  });
  after(() => ecamo.close());

  test('three refused credentials of any kind trip it: then 429 with Retry-After, with no signature work, and other addresses are served', async () => {
    const attacker = '127.0.0.5';
    const path = await ecamo.signer.url(SOURCE);
    // A forged URL token, a forged auth cookie with a valid URL token, a forged proxy token.
    const forgedUrl = await getFrom(ecamo, attacker, forge(path), { headers: { cookie: ecamo.cookie } });
    assert.equal(forgedUrl.status, 401);
    const forgedCookie = await getFrom(ecamo, attacker, path, { headers: { cookie: forge(ecamo.cookie) } });
    assert.equal(forgedCookie.status, 401);
    const forgedProxy = await getFrom(ecamo, attacker, forge(await ecamo.proxyPath(SOURCE)), { host: CANONICAL_HOST });
    assert.equal(forgedProxy.status, 401);
    const trips = await ecamo.server.app.metrics.quarantineTrips.get();
    assert.equal(trips.values[0]?.value, 1);

    const checked = await verifications(ecamo);
    for (const request of [
      () => getFrom(ecamo, attacker, forge(path), { headers: { cookie: ecamo.cookie } }),
      // Even a valid token is not looked at.
      () => getFrom(ecamo, attacker, path, { headers: { cookie: ecamo.cookie } }),
      async () => getFrom(ecamo, attacker, await ecamo.proxyPath(SOURCE), { host: CANONICAL_HOST }),
      () => getFrom(ecamo, attacker, `/.ecamo/v1/r/${'x'.repeat(300)}`),
    ]) {
      assertQuarantined(await request(), 600);
    }
    assert.equal(await verifications(ecamo), checked, 'no token was verified for the quarantined address');

    // Health checks are not credentials; other addresses, valid or not, are unaffected.
    assert.equal((await getFrom(ecamo, attacker, '/healthz')).status, 200);
    const other = await getFrom(ecamo, '127.0.0.6', path, { headers: { cookie: ecamo.cookie } });
    assert.equal(other.status, 302);
    assert.equal((await getFrom(ecamo, '127.0.0.6', forge(path), { headers: { cookie: ecamo.cookie } })).status, 401);
  });

  test('below the threshold nothing happens; a source error or a missing cookie is no refused credential', async () => {
    const client = '127.0.0.7';
    const path = await ecamo.signer.url(SOURCE);
    for (let i = 0; i < 2; i++) assert.equal((await getFrom(ecamo, client, forge(path), { headers: { cookie: ecamo.cookie } })).status, 401);
    for (let i = 0; i < 5; i++) {
      // No cookie: a redirect to the source, not a refusal. Unknown path: 404.
      assert.equal((await getFrom(ecamo, client, path)).status, 302);
      assert.equal((await getFrom(ecamo, client, '/.ecamo/v1/nothing')).status, 404);
    }
    assert.equal((await getFrom(ecamo, client, path, { headers: { cookie: ecamo.cookie } })).status, 302);
  });

  test('behind the trusted proxy, the forwarded client is quarantined, not the proxy nor its other clients', async () => {
    const proxy = '127.0.0.2';
    const path = await ecamo.signer.url(SOURCE);
    const from = (client: string, target: string, cookie = ecamo.cookie) => getFrom(ecamo, proxy, target, { headers: { cookie, 'x-forwarded-for': client } });
    for (let i = 0; i < 3; i++) assert.equal((await from('198.51.100.20', forge(path))).status, 401);
    assertQuarantined(await from('198.51.100.20', path), 600);
    // A client that writes its own X-Forwarded-For cannot step out: the proxy appends the real address.
    assertQuarantined(await getFrom(ecamo, proxy, path, { headers: { cookie: ecamo.cookie, 'x-forwarded-for': '203.0.113.50, 198.51.100.20' } }), 600);
    assert.equal((await from('198.51.100.21', path)).status, 302);
    assert.equal((await getFrom(ecamo, proxy, path, { headers: { cookie: ecamo.cookie } })).status, 302);
  });
});

describe('quarantine lifts after its period', () => {
  let ecamo: Ecamo;
  before(async () => {
    ecamo = await startEcamo({ ECAMO_QUARANTINE_FAILURES: '2', ECAMO_QUARANTINE_PERIOD: '1' });
  });
  after(() => ecamo.close());

  test('429 answers do not extend it: asked all along, it still ends, and the address is served again', async () => {
    const client = '127.0.0.8';
    const path = await ecamo.signer.url(SOURCE);
    for (let i = 0; i < 2; i++) assert.equal((await getFrom(ecamo, client, forge(path), { headers: { cookie: ecamo.cookie } })).status, 401);
    let answer = await getFrom(ecamo, client, path, { headers: { cookie: ecamo.cookie } });
    assertQuarantined(answer, 1);
    // Keep asking while quarantined: if a 429 extended the period, this would never end (the runner's timeout would fail it).
    while (answer.status === 429) {
      await sleep(50);
      answer = await getFrom(ecamo, client, path, { headers: { cookie: ecamo.cookie } });
    }
    assert.equal(answer.status, 302);
  });
});

describe('quarantine off (the default)', () => {
  let ecamo: Ecamo;
  before(async () => {
    ecamo = await startEcamo();
  });
  after(() => ecamo.close());

  test('forgeries are refused one by one, never quarantined', async () => {
    const path = await ecamo.signer.url(SOURCE);
    for (let i = 0; i < 20; i++) assert.equal((await getFrom(ecamo, '127.0.0.9', forge(path), { headers: { cookie: ecamo.cookie } })).status, 401);
    assert.equal((await getFrom(ecamo, '127.0.0.9', path, { headers: { cookie: ecamo.cookie } })).status, 302);
  });
});
