/**
 * answerFromEntry (src/http/cached-answer.ts) on a real node:http server on
 * 127.0.0.1: one kept entry answered again and again with other
 * `x-ecamo-cache` and `age` values. Each answer carries its own values and
 * nothing of another's, and the entry, shared by every request that hits it,
 * stays as it was kept.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeEntry, type CacheEntry } from '../../src/cache/entry.js';
import { clockedPolicies, keptAnswer } from '../../src/cache/policy.js';
import { loadConfig } from '../../src/config/load.js';
import { answerFromEntry, prepareAnswer } from '../../src/http/cached-answer.js';
import { newRequestRecord } from '../../src/http/request-record.js';
import { env } from '../config/fixture.js';
import { fetchAnswer, startSource, type Answer, type Source } from '../helpers/harness.js';

const SOURCE_URL = 'http://images.example/cat.png';
const BODY = Buffer.from('the bytes of a kept image');
const KEPT_AT = Date.UTC(2026, 11, 6, 12);

let entry: CacheEntry;
let server: Source;

before(async () => {
  const config = await loadConfig(env());
  const kept = keptAnswer({ url: SOURCE_URL, variant: 'other', sendToken: false }, { 'content-type': 'image/png', 'cache-control': 'public, max-age=600', etag: '"v1"' }, config.defaultCacheControl, clockedPolicies(() => KEPT_AT));
  assert.ok(kept !== undefined);
  entry = makeEntry(SOURCE_URL, BODY, kept.headers, kept.policy, prepareAnswer(config), KEPT_AT);
  // Each request names how it is answered: hit or revalidated, so many ms after the entry was current.
  server = await startSource((req, res) => {
    const query = new URL(req.url ?? '/', 'http://ecamo.example').searchParams;
    const status = query.get('status') === 'revalidated' ? 'revalidated' : 'hit';
    answerFromEntry(res, newRequestRecord('127.0.0.1'), entry, status, entry.bornAt + Number(query.get('after')));
  });
});

after(() => server.close());

/** Everything of an answer but the two fields that change with each one. */
function sharedPart(answer: Answer): unknown {
  const { 'x-ecamo-cache': _cache, age: _age, date: _date, connection: _connection, 'keep-alive': _keepAlive, ...headers } = answer.headers;
  return { status: answer.status, headers, body: answer.body };
}

describe('answerFromEntry', () => {
  test('each answer carries its own x-ecamo-cache and age; the entry keeps its fields as they were prepared', async () => {
    const prepared = [...entry.fields];
    assert.ok(Object.isFrozen(entry.fields));
    assert.ok(!prepared.includes('x-ecamo-cache') && !prepared.includes('age'), 'the varying fields are no part of the entry');

    const asked = [['hit', 5_000], ['revalidated', 0], ['hit', 42_900], ['revalidated', 1_000]] as const;
    const answers: Answer[] = [];
    for (const [status, afterMs] of asked) answers.push(await fetchAnswer(`${server.origin}/?status=${status}&after=${afterMs}`));

    assert.deepEqual(
      answers.map((answer) => [answer.header('x-ecamo-cache'), answer.header('age')]),
      [['hit', '5'], ['revalidated', '0'], ['hit', '42'], ['revalidated', '1']],
    );
    for (const answer of answers) assert.deepEqual(sharedPart(answer), sharedPart(answers[0]!));
    assert.equal(answers[0]!.body, BODY.toString());
    assert.equal(answers[0]!.header('etag'), '"v1"');
    assert.equal(answers[0]!.header('x-ecamo-source'), SOURCE_URL);
    assert.deepEqual(entry.fields, prepared);
  });
});
