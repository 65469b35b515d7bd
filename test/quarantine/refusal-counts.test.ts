/**
 * The in-memory counts of refused credentials (RefusalCounts): the windows and
 * quarantines ECAMO_QUARANTINE_FAILURES, _WINDOW and _PERIOD describe, kept by
 * timestamp (a frozen clock here, no timers), and the bound on how many clients
 * are counted: what is forgotten once it is reached (docs/operations.md, Quarantine).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { RefusalCounts, type QuarantineRules } from '../../src/quarantine/refusal-counts.js';

const WINDOW_MS = 60_000;
const PERIOD_MS = 300_000;

/** Client keys as keyOf writes an IPv6 client's /64. */
function client(n: number): string {
  return `2001:db8:${(n >> 16).toString(16)}:${(n & 0xffff).toString(16)}::/64`;
}

function rules(failures: number): QuarantineRules {
  return { failures, windowMs: WINDOW_MS, periodMs: PERIOD_MS };
}

function refuseAll(counts: RefusalCounts, from: number, to: number): void {
  for (let n = from; n < to; n++) assert.deepEqual(counts.count(client(n)), { tripped: false, msLeft: 0 });
}

/**
 * The clients of [from, to) whose next refusal quarantines them (their count was kept). Asked the
 * newest first: asking a forgotten client counts it anew, which may make room by forgetting others.
 */
function tripping(counts: RefusalCounts, from: number, to: number): number[] {
  const found: number[] = [];
  for (let n = to - 1; n >= from; n--) if (counts.count(client(n)).tripped) found.unshift(n);
  return found;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

beforeEach(() => mock.timers.enable({ apis: ['Date'], now: 1_800_000_000_000 }));
afterEach(() => mock.timers.reset());

test('the failures-th refusal within the window quarantines the client for the period; later refusals neither extend nor trip it again', () => {
  const counts = new RefusalCounts(rules(3));
  assert.deepEqual(counts.count(client(1)), { tripped: false, msLeft: 0 });
  mock.timers.tick(WINDOW_MS - 1);
  assert.deepEqual(counts.count(client(1)), { tripped: false, msLeft: 0 });
  assert.equal(counts.msLeft(client(1)), 0);
  assert.deepEqual(counts.count(client(1)), { tripped: true, msLeft: PERIOD_MS });
  mock.timers.tick(1_000);
  assert.equal(counts.msLeft(client(1)), PERIOD_MS - 1_000);
  assert.deepEqual(counts.count(client(1)), { tripped: false, msLeft: PERIOD_MS - 1_000 });
  mock.timers.tick(PERIOD_MS - 1_001);
  assert.equal(counts.msLeft(client(1)), 1);
  mock.timers.tick(1);
  assert.equal(counts.msLeft(client(1)), 0);
  assert.equal(counts.size, 0, 'an ended quarantine is forgotten when looked at');
  assert.deepEqual(counts.count(client(1)), { tripped: false, msLeft: 0 });
});

test('a window starts at the first refusal and ends by time: refusals across its end count again from one', () => {
  const counts = new RefusalCounts(rules(2));
  counts.count(client(1));
  mock.timers.tick(WINDOW_MS);
  assert.deepEqual(counts.count(client(1)), { tripped: false, msLeft: 0 });
  assert.deepEqual(counts.count(client(1)), { tripped: true, msLeft: PERIOD_MS });
});

test('with one failure, the first refusal quarantines', () => {
  const counts = new RefusalCounts(rules(1));
  assert.deepEqual(counts.count(client(1)), { tripped: true, msLeft: PERIOD_MS });
  assert.equal(counts.msLeft(client(1)), PERIOD_MS);
});

test('at its bound, a new client makes it forget the oldest tenth of the counts of one refusal; the newest stay', () => {
  const counts = new RefusalCounts(rules(2), 100);
  refuseAll(counts, 0, 100);
  refuseAll(counts, 100, 101);
  assert.equal(counts.size, 91);
  assert.deepEqual(tripping(counts, 0, 101), range(10, 101));
});

test('a client refused more than once keeps its count through a flood of new clients far beyond the bound, and is quarantined at its failures-th refusal', () => {
  const counts = new RefusalCounts(rules(3), 100);
  counts.count('192.0.2.1');
  counts.count('192.0.2.1');
  refuseAll(counts, 0, 10_000);
  assert.ok(counts.size <= 100);
  assert.deepEqual(counts.count('192.0.2.1'), { tripped: true, msLeft: PERIOD_MS });
  refuseAll(counts, 10_000, 20_000);
  assert.equal(counts.msLeft('192.0.2.1'), PERIOD_MS, 'and stays quarantined');
});

test('when every count is of clients refused more than once, the least recently refused go', () => {
  const counts = new RefusalCounts(rules(3), 10);
  for (let n = 0; n < 10; n++) counts.count(client(n));
  for (let n = 9; n >= 0; n--) counts.count(client(n));
  counts.count(client(10));
  assert.deepEqual(tripping(counts, 0, 10), range(0, 9));
});

test('ended counts are forgotten before any running one when room is needed', () => {
  const counts = new RefusalCounts(rules(2), 10);
  refuseAll(counts, 0, 5);
  mock.timers.tick(WINDOW_MS / 2);
  refuseAll(counts, 5, 10);
  mock.timers.tick(WINDOW_MS / 2);
  refuseAll(counts, 10, 11);
  assert.equal(counts.size, 6);
  assert.deepEqual(tripping(counts, 5, 11), range(5, 11));
});

test('the real bound: 100,000 clients are counted, the next one forgets the oldest tenth', () => {
  const counts = new RefusalCounts(rules(2));
  refuseAll(counts, 0, 100_000);
  assert.equal(counts.size, 100_000);
  refuseAll(counts, 100_000, 100_001);
  assert.equal(counts.size, 90_001);
  assert.deepEqual(tripping(counts, 9_999, 10_001), [10_000]);
});
