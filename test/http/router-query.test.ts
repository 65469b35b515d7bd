/**
 * The proxy endpoint's `t` parameter is read without URLSearchParams when the
 * query is plainly `t=<token>` (http/router.ts): for every query, the token
 * routed must be the one URLSearchParams reads.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { route } from '../../src/http/router.js';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.c2lnbmF0dXJl_-';

const QUERIES: readonly string[] = [
  `t=${TOKEN}`,
  't=',
  't',
  '',
  `t=${TOKEN}&t=other`,
  `x=1&t=${TOKEN}`,
  `t=${TOKEN}&x=1`,
  't=a+b',
  't=a%2Bb',
  't=%65yJ',
  't=%zz',
  't=a=b',
  `T=${TOKEN}`,
  `tt=${TOKEN}`,
  ` t=${TOKEN}`,
  't=caf\u00e9',
  't=a;b',
  't=a#b',
  '&&t=x',
];

for (const query of QUERIES) {
  test(`?${JSON.stringify(query)}: the token URLSearchParams reads`, () => {
    const routed = route(`/.ecamo/v1/p/DIGEST?${query}`);
    assert.equal(routed.kind, 'proxy');
    assert.equal(routed.kind === 'proxy' ? routed.token : null, new URLSearchParams(query).get('t') ?? undefined);
  });
}

test('no query at all: no token', () => {
  assert.deepEqual(route('/.ecamo/v1/p/DIGEST'), { kind: 'proxy', digest: 'DIGEST', token: undefined });
});
