/**
 * The bound on a process's memory of quarantined clients (QuarantinedClients):
 * once full, the oldest tenth is forgotten at once and the newest stay. What
 * forgetting means for the workers of one `ecamo serve` without Redis is in
 * docs/operations.md (Quarantine).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QuarantinedClients } from '../../src/quarantine/quarantine.js';

const PERIOD_MS = 300_000;

/** Client keys as keyOf writes an IPv6 client's /64. */
function client(n: number): string {
  return `2001:db8:${(n >> 16).toString(16)}:${(n & 0xffff).toString(16)}::/64`;
}

function rememberAll(clients: QuarantinedClients, from: number, to: number): void {
  for (let n = from; n < to; n++) clients.remember(client(n), PERIOD_MS);
}

/** The clients of [from, to) still remembered as quarantined. */
function known(clients: QuarantinedClients, from: number, to: number): number[] {
  const found: number[] = [];
  for (let n = from; n < to; n++) if (clients.msLeft(client(n)) > 0) found.push(n);
  return found;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

test('at its bound, the next client makes it forget the oldest tenth at once; then it fills again before forgetting more', () => {
  const clients = new QuarantinedClients(100);
  rememberAll(clients, 0, 100);
  assert.deepEqual(known(clients, 0, 100), range(0, 100));
  clients.remember(client(100), PERIOD_MS);
  assert.deepEqual(known(clients, 0, 101), range(10, 101));
  rememberAll(clients, 101, 110);
  assert.deepEqual(known(clients, 0, 110), range(10, 110));
  clients.remember(client(110), PERIOD_MS);
  assert.deepEqual(known(clients, 0, 111), range(20, 111));
});

test('a client remembered again is the newest: it outlasts those remembered after it the first time', () => {
  const clients = new QuarantinedClients(100);
  rememberAll(clients, 0, 100);
  clients.remember(client(0), PERIOD_MS);
  clients.remember(client(100), PERIOD_MS);
  assert.deepEqual(known(clients, 0, 101), [0, ...range(11, 101)]);
});

test('by default it holds 100,000 clients; the 100,001st makes it forget the 10,000 oldest', () => {
  const clients = new QuarantinedClients();
  rememberAll(clients, 0, 100_000);
  assert.equal(known(clients, 0, 100_000).length, 100_000);
  clients.remember(client(100_000), PERIOD_MS);
  assert.deepEqual(known(clients, 0, 100_001), range(10_000, 100_001));
});

test('a quarantine that has ended is forgotten when asked about, which makes room', () => {
  const clients = new QuarantinedClients(10);
  rememberAll(clients, 0, 9);
  clients.remember(client(9), -1);
  assert.equal(clients.msLeft(client(9)), 0);
  clients.remember(client(10), PERIOD_MS);
  assert.deepEqual(known(clients, 0, 11), [...range(0, 9), 10]);
});
