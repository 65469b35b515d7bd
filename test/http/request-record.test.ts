import assert from 'node:assert/strict';
import { test } from 'node:test';
import { urlForLog } from '../../src/http/request-record.js';

test('log lines carry the start of a long source URL, not all of it', () => {
  const short = `https://images.example/${'a'.repeat(900)}`;
  assert.equal(urlForLog(short), short);
  assert.equal(urlForLog(undefined), undefined);
  const long = `https://images.example/${'a'.repeat(30_000)}`;
  const logged = urlForLog(long)!;
  assert.ok(logged.length < 1100, String(logged.length));
  assert.ok(logged.startsWith('https://images.example/aaa'));
  assert.ok(logged.endsWith(`...(${long.length - 1000} more characters)`));
});
