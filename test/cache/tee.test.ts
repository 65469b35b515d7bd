/**
 * TeeBody (src/cache/tee.ts) and the socket reads a streamed body is freed
 * from (src/upstream/socket-reads.ts): a chunk the cache keeps is never
 * reported spent, so the copy outlives the client's write, whether it is
 * one chunk (the kept body is then a view of the socket read itself), many
 * (joined), or given up on when the body outgrows an entry. Bytes are random
 * after a PNG signature, so that any byte out of place shows.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startEcamo, type Ecamo } from '../helpers/harness.js';
import { PNG } from '../helpers/images.js';
import { gate, joined, proxied, sourcesOfBlock } from './fixture.js';

function image(length: number): Buffer {
  return Buffer.concat([PNG, randomBytes(length - PNG.length)]);
}

describe('kept copies and freed socket reads', () => {
  let ecamo: Ecamo;
  const source = sourcesOfBlock();

  before(async () => {
    // Every image kept from its first request (the harness's ECAMO_CACHE_MIN_USES=1).
    ecamo = await startEcamo();
  });

  after(async () => {
    await ecamo.close();
  });

  for (const [what, length] of [
    ['an image that comes in one socket read with its head (kept as a view of that read)', 20_000],
    ['an image of many socket reads (kept joined)', 600_000],
  ] as const) {
    test(`${what}: streamed on a miss, then served from the cache, byte for byte`, async () => {
      const body = image(length);
      const images = await source((_req, res) => void res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=600', 'content-length': body.length }).end(body));
      const url = `${images.origin}/kept.png`;
      const miss = await proxied(ecamo, url);
      assert.equal(miss.header('x-ecamo-cache'), 'miss');
      assert.ok(miss.bytes.equals(body), 'the streamed answer');
      for (let hit = 0; hit < 2; hit++) {
        const kept = await proxied(ecamo, url);
        assert.equal(kept.header('x-ecamo-cache'), 'hit');
        assert.ok(kept.bytes.equals(body), `hit ${hit}: ${kept.bytes.length} bytes`);
      }
      assert.equal(images.requests.length, 1);
    });
  }

  test('requests waiting on the fetch get the kept copy of what the first one streamed, byte for byte', async () => {
    const body = image(600_000);
    const held = gate();
    const images = await source((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=600', 'content-length': body.length });
      void held.opened.then(() => res.end(body));
    });
    const url = `${images.origin}/shared.png`;
    const answers = Array.from({ length: 5 }, () => proxied(ecamo, url));
    await joined(ecamo, url, 4);
    held.open();
    for (const answer of await Promise.all(answers)) assert.ok(answer.bytes.equals(body), `${answer.header('x-ecamo-cache')}: ${answer.bytes.length} bytes`);
    assert.equal(images.requests.length, 1);
  });

  test('a body of unknown length that outgrows an entry (1 MiB): the copy is given up mid-body, and both answers are whole', async () => {
    const body = image(1_500_000);
    const images = await source((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=600' });
      for (let at = 0; at < body.length; at += 50_000) res.write(body.subarray(at, at + 50_000));
      res.end();
    });
    const url = `${images.origin}/outgrown.png`;
    for (let round = 0; round < 2; round++) {
      const answer = await proxied(ecamo, url);
      assert.equal(answer.header('x-ecamo-cache'), 'miss');
      assert.ok(answer.bytes.equals(body), `round ${round}: ${answer.bytes.length} bytes`);
    }
    assert.equal(images.requests.length, 2);
  });
});
