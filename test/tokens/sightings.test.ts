import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Sightings } from '../../src/tokens/sightings.js';

/** A token-like string: a fixed start, and a random MAC-like end, as an admitted token has. */
function token(): string {
  return `eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.${randomBytes(32).toString('base64url')}`;
}

describe('Sightings', () => {
  it('a token is seen before from its second noting on', () => {
    const sightings = new Sightings(1024);
    const one = token();
    assert.equal(sightings.seenBefore(one), false);
    assert.equal(sightings.seenBefore(one), true);
    assert.equal(sightings.seenBefore(one), true);
  });

  it('tells apart tokens that differ only in their MAC, each in the slot of its fingerprint', () => {
    const sightings = new Sightings(65_536);
    const tokens = Array.from({ length: 1000 }, token);
    for (const each of tokens) assert.equal(sightings.seenBefore(each), false);
    // 1,000 tokens in 65,536 slots: about 8 pairs share a slot, the later one taking it from the earlier.
    const remembered = tokens.filter((each) => sightings.seenBefore(each)).length;
    assert.ok(remembered >= 950, `${remembered} of 1000`);
  });

  it('forgets a token once others took its slot', () => {
    const sightings = new Sightings(16);
    const first = token();
    sightings.seenBefore(first);
    for (let i = 0; i < 500; i++) sightings.seenBefore(token());
    assert.equal(sightings.seenBefore(first), false);
  });

  it('takes only a power of two of slots', () => {
    assert.throws(() => new Sightings(1000), RangeError);
    assert.doesNotThrow(() => new Sightings(1));
  });
});
