/**
 * The verified-token cache: bounded by bytes, least recently used out first,
 * oversized entries never stored, and no entry kept past a fixed cap
 * whatever its token's `exp` says. Time is mocked (mock.timers): the cache
 * reads the same clock as the verifier. test/tokens/token-service.test.ts
 * has the caches as the request path uses them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VerifiedCache } from '../../src/tokens/verified-cache.js';

const HOUR_MS = 3600_000;
/** Values are strings here; their size is their length. */
const sizeOf = (value: string): number => value.length;

describe('VerifiedCache', () => {
  test('is bounded by bytes: thousands of entries never hold more than maxBytes', () => {
    const cache = new VerifiedCache<string>({ maxBytes: 64 * 1024, maxEntryBytes: 4096, maxTtlMs: HOUR_MS }, sizeOf);
    for (let i = 0; i < 5000; i++) cache.set(`key-${i}-${'k'.repeat(500)}`, 'v'.repeat(1000), Date.now() + HOUR_MS);
    assert.ok(cache.bytes <= 64 * 1024, `holds ${cache.bytes} bytes`);
    assert.ok(cache.entries > 0 && cache.entries < 5000, `holds ${cache.entries} entries`);
    // The newest entry is there, the oldest long gone.
    assert.equal(cache.get(`key-4999-${'k'.repeat(500)}`), 'v'.repeat(1000));
    assert.equal(cache.get(`key-0-${'k'.repeat(500)}`), undefined);
  });

  test('is a true LRU: reading an entry keeps it, the least recently used goes', () => {
    const entry = 'v'.repeat(900);
    // Room for three entries of about 1 KB each (key, value and bookkeeping), not four.
    const cache = new VerifiedCache<string>({ maxBytes: 3 * 1200, maxEntryBytes: 2000, maxTtlMs: HOUR_MS }, sizeOf);
    for (const key of ['a', 'b', 'c']) cache.set(key, entry, Date.now() + HOUR_MS);
    assert.equal(cache.entries, 3);
    assert.equal(cache.get('a'), entry);
    cache.set('d', entry, Date.now() + HOUR_MS);
    assert.equal(cache.get('b'), undefined, 'b was the least recently used');
    assert.equal(cache.get('a'), entry, 'a was read after b was written');
    assert.equal(cache.get('c'), entry);
    assert.equal(cache.get('d'), entry);
  });

  test('does not store an entry above maxEntryBytes', () => {
    const cache = new VerifiedCache<string>({ maxBytes: 1024 * 1024, maxEntryBytes: 4096, maxTtlMs: HOUR_MS }, sizeOf);
    cache.set('small', 'v'.repeat(100), Date.now() + HOUR_MS);
    cache.set('long key '.repeat(500), 'v', Date.now() + HOUR_MS);
    cache.set('long value', 'v'.repeat(5000), Date.now() + HOUR_MS);
    assert.equal(cache.entries, 1);
    assert.equal(cache.get('long value'), undefined);
  });

  test('does not store what has already expired', () => {
    const cache = new VerifiedCache<string>({ maxBytes: 1024 * 1024, maxEntryBytes: 4096, maxTtlMs: HOUR_MS }, sizeOf);
    cache.set('past', 'v', Date.now() - 1);
    cache.set('now', 'v', Date.now());
    assert.equal(cache.entries, 0);
  });

  test('keeps no entry past maxTtlMs, even one whose token never expires or claims exp = Infinity', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    const cache = new VerifiedCache<string>({ maxBytes: 1024 * 1024, maxEntryBytes: 4096, maxTtlMs: 30_000 }, sizeOf);
    cache.set('no exp', 'v', undefined);
    cache.set('infinite', 'v', Number.POSITIVE_INFINITY);
    cache.set('a year', 'v', Date.now() + 365 * 24 * HOUR_MS);
    t.mock.timers.setTime(1_000_000 + 29_999);
    for (const key of ['no exp', 'infinite', 'a year']) assert.equal(cache.get(key), 'v', key);
    t.mock.timers.setTime(1_000_000 + 30_001);
    for (const key of ['no exp', 'infinite', 'a year']) assert.equal(cache.get(key), undefined, key);
  });

  test("an entry is served until its own expiry when that comes before the cap, by the clock a token's exp is read against", (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    const cache = new VerifiedCache<string>({ maxBytes: 1024 * 1024, maxEntryBytes: 4096, maxTtlMs: HOUR_MS }, sizeOf);
    cache.set('short', 'v', Date.now() + 60_000);
    t.mock.timers.setTime(1_000_000 + 59_999);
    assert.equal(cache.get('short'), 'v');
    // Only the wall clock moved (as when NTP steps it): the entry goes with its token's exp all the same.
    t.mock.timers.setTime(1_000_000 + 60_001);
    assert.equal(cache.get('short'), undefined);
    assert.equal(cache.entries, 0);
  });

  test('counting keys by their end (countsKeyEnds) gives the answers of the plain cache through adds, replacements, expiry, eviction, refusals and clears', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    const limits = { maxBytes: 6000, maxEntryBytes: 1200, maxTtlMs: 50_000 };
    const plain = new VerifiedCache<string>(limits, sizeOf);
    const counted = new VerifiedCache<string>(limits, sizeOf, { countsKeyEnds: true });
    // Half the keys share their end, so that one count stands for several keys at once.
    const keys = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? `token-${i}.same-end-of-mac` : `token-${i}.end-of-mac-${i * 7919}`));
    let seed = 7;
    const next = (below: number): number => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return (seed >>> 8) % below;
    };
    let hits = 0;
    for (let step = 0; step < 20_000; step++) {
      const key = keys[next(keys.length)] ?? '';
      const op = next(100);
      if (op < 45) {
        // A value of one of a few sizes (the largest refused), expiring soon or late (or already).
        const value = 'v'.repeat([10, 200, 600, 1500][next(4)] ?? 10);
        const expiresAt = Date.now() + ([-1, 5_000, 40_000, 100_000][next(4)] ?? 0);
        plain.set(key, value, expiresAt);
        counted.set(key, value, expiresAt);
      } else if (op < 97) {
        const value = plain.get(key);
        assert.equal(counted.get(key), value, `step ${step}: ${key}`);
        if (value !== undefined) hits++;
      } else if (op < 99) {
        t.mock.timers.setTime(Date.now() + next(20_000));
      } else {
        plain.clear();
        counted.clear();
      }
      assert.equal(counted.entries, plain.entries, `step ${step}`);
    }
    assert.ok(hits > 1000, `${hits} lookups found their key`);
  });
});
