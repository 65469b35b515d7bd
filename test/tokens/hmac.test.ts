import assert from 'node:assert/strict';
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { hmacOf, PreparedHmac, type HmacAlgorithm } from '../../src/tokens/hmac.js';

const ALGORITHMS: readonly HmacAlgorithm[] = ['sha1', 'sha256'];

describe('PreparedHmac', () => {
  test('gives what createHmac gives, for keys shorter than, as long as and longer than a block, and messages of every size up to past its buffer', () => {
    for (const algorithm of ALGORITHMS) {
      for (const keyLength of [0, 1, 20, 32, 63, 64, 65, 200]) {
        const key = randomBytes(keyLength);
        const hmac = new PreparedHmac(algorithm, key);
        for (const messageLength of [0, 1, 55, 56, 63, 64, 65, 511, 512, 513, 2000, 100]) {
          const bytes = randomBytes(messageLength);
          assert.deepEqual(hmac.digest(bytes), createHmac(algorithm, key).update(bytes).digest(), `${algorithm}, key ${keyLength}, bytes ${messageLength}`);
          const text = bytes.toString('latin1');
          assert.deepEqual(hmac.digest(text), createHmac(algorithm, key).update(text, 'latin1').digest(), `${algorithm}, key ${keyLength}, text ${messageLength}`);
        }
      }
    }
  });

  test('a shorter message after a longer one is MACed alone (nothing of the longer one is left in)', () => {
    const key = randomBytes(32);
    const hmac = new PreparedHmac('sha256', key);
    hmac.digest('x'.repeat(3000));
    assert.deepEqual(hmac.digest('abc'), createHmac('sha256', key).update('abc').digest());
  });

  test('a string is read one byte a character, as createHmac reads latin1', () => {
    const key = randomBytes(16);
    const text = 'caf\u00e9 \u0130';
    assert.deepEqual(new PreparedHmac('sha256', key).digest(text), createHmac('sha256', key).update(text, 'latin1').digest());
  });
});

describe('PreparedHmac.matches', () => {
  test("is true for the message's MAC only: any other byte anywhere, or another message, is false; a MAC of another length throws, as timingSafeEqual does", () => {
    for (const algorithm of ALGORITHMS) {
      const key = randomBytes(32);
      const hmac = new PreparedHmac(algorithm, key);
      const message = randomBytes(300);
      const mac = createHmac(algorithm, key).update(message).digest();
      assert.equal(hmac.matches(message, mac), true, algorithm);
      assert.equal(hmac.matches(message.toString('latin1'), mac), true, `${algorithm}, as text`);
      for (let at = 0; at < mac.length; at++) {
        const other = Buffer.from(mac);
        other[at] = (other[at] ?? 0) ^ 1;
        assert.equal(hmac.matches(message, other), false, `${algorithm}, byte ${at}`);
      }
      assert.equal(hmac.matches(message.subarray(1), mac), false, `${algorithm}, another message`);
      assert.throws(() => hmac.matches(message, mac.subarray(1)), RangeError);
      assert.equal(hmac.matches(message, mac), true, `${algorithm}, again after the others`);
    }
  });
});

describe('hmacOf', () => {
  test('prepares a key once per algorithm, and each algorithm on its own', () => {
    const key = createSecretKey(randomBytes(32));
    assert.equal(hmacOf('sha256', key), hmacOf('sha256', key));
    assert.notEqual(hmacOf('sha1', key), hmacOf('sha256', key));
    assert.deepEqual(hmacOf('sha1', key).digest('m'), createHmac('sha1', key).update('m').digest());
  });
});
