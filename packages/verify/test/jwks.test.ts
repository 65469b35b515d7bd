import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxAgeOf } from '../src/jwks.js';

test('Cache-Control max-age', () => {
  // What ecamo's /.well-known/jwks.json answers (test/verify/verifier.test.ts pins the header).
  assert.equal(maxAgeOf('public, max-age=300'), 300);
  assert.equal(maxAgeOf(null), undefined);
  assert.equal(maxAgeOf('public'), undefined);
  assert.equal(maxAgeOf('public, Max-Age=120'), 120);
  assert.equal(maxAgeOf('max-age="60"'), 60);
  assert.equal(maxAgeOf('no-store, max-age=600'), 0);
  assert.equal(maxAgeOf('s-maxage=5'), undefined);
});
