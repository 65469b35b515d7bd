/**
 * The admission rule: an image is kept from its ECAMO_CACHE_MIN_USES-th request
 * (default 2) within the window, so a long tail of images asked for once is
 * streamed and never copied into memory.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Admission, admissionWindow } from '../../src/cache/admission.js';
import { startEcamo, type Ecamo } from '../helpers/harness.js';
import { PNG, proxied, sourcesOfBlock } from './fixture.js';

describe('Admission', () => {
  test('admits a key on its n-th use, then makes it earn its place again', () => {
    const admission = new Admission(3, 100);
    assert.deepEqual([admission.use('a'), admission.use('a'), admission.use('a')], [false, false, true]);
    assert.deepEqual([admission.use('a'), admission.use('a'), admission.use('a')], [false, false, true]);
  });

  test('forgets the least recently used key beyond the window', () => {
    const admission = new Admission(2, 3);
    admission.use('a');
    admission.use('b');
    admission.use('a'); // a admitted, and forgotten
    admission.use('c');
    admission.use('d');
    admission.use('e');
    admission.use('b'); // a fourth distinct key pushed b out: this is b's first use again
    assert.equal(admission.use('e'), true);
    assert.equal(admission.use('c'), false, 'c was pushed out when b came back');
    assert.equal(admission.use('b'), true);
  });

  test('a key asked for again becomes the newest: the older ones leave the window before it', () => {
    const admission = new Admission(3, 2);
    admission.use('a');
    admission.use('b');
    admission.use('a'); // a's second use: now newer than b
    admission.use('c'); // the window holds two keys: b, the oldest, goes
    assert.equal(admission.use('a'), true, "a's third use");
    assert.equal(admission.use('b'), false, "b's first use again");
    assert.equal(admission.use('b'), false);
    assert.equal(admission.use('b'), true);
  });

  test('a long tail of keys asked for once leaves room for a key asked for twice in a row', () => {
    const admission = new Admission(2, 1024);
    for (let i = 0; i < 100_000; i++) assert.equal(admission.use(`tail ${i}`), false);
    assert.deepEqual([admission.use('hot'), admission.use('hot')], [false, true]);
    assert.equal(admission.use('tail 0'), false, 'long forgotten');
    assert.equal(admission.use('tail 99999'), true, 'still in the window');
  });

  test('with one use, every key is admitted at once', () => {
    const admission = new Admission(1, 10);
    assert.deepEqual([admission.use('a'), admission.use('b')], [true, true]);
  });

  test('the window spans four times the images of 32 KiB that the memory bound holds, at least 1024', () => {
    assert.equal(admissionWindow(64 * 1024 * 1024), 8192);
    assert.equal(admissionWindow(1024 * 1024), 1024);
  });
});

describe('response cache admission', () => {
  const source = sourcesOfBlock();
  const ecamos: Ecamo[] = [];
  let images: Awaited<ReturnType<typeof source>>;

  before(async () => {
    images = await source((_req, res) => void res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'public, max-age=600' }).end(PNG));
  });

  after(async () => {
    for (const ecamo of ecamos) await ecamo.close();
  });

  async function cacheStatuses(env: Record<string, string>, path: string, requests: number): Promise<string[]> {
    const ecamo = await startEcamo(env);
    ecamos.push(ecamo);
    const statuses: string[] = [];
    for (let i = 0; i < requests; i++) {
      const answer = await proxied(ecamo, `${images.origin}/${path}`);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.bytes, PNG);
      statuses.push(answer.header('x-ecamo-cache') ?? '');
    }
    return statuses;
  }

  test('by default an image is streamed on its first request, kept on its second, answered from memory after', async () => {
    const before = images.requests.length;
    assert.deepEqual(await cacheStatuses({ ECAMO_CACHE_MIN_USES: '2' }, 'twice.png', 4), ['bypass', 'miss', 'hit', 'hit']);
    assert.equal(images.requests.length - before, 2);
  });

  test('ECAMO_CACHE_MIN_USES=1 keeps an image from its first request', async () => {
    const before = images.requests.length;
    assert.deepEqual(await cacheStatuses({ ECAMO_CACHE_MIN_USES: '1' }, 'once.png', 3), ['miss', 'hit', 'hit']);
    assert.equal(images.requests.length - before, 1);
  });

  test('a kept entry that went stale is revalidated on its next request, without earning its place again', async () => {
    const validated = await source((req, res) => {
      if (req.headers['if-none-match'] === '"v1"') return void res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=0, must-revalidate' }).end();
      res.writeHead(200, { 'content-type': 'image/png', etag: '"v1"', 'cache-control': 'max-age=0, must-revalidate' }).end(PNG);
    });
    const ecamo = await startEcamo({ ECAMO_CACHE_MIN_USES: '2' });
    ecamos.push(ecamo);
    const statuses: string[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await proxied(ecamo, `${validated.origin}/stale.png`)).header('x-ecamo-cache') ?? '');
    assert.deepEqual(statuses, ['bypass', 'miss', 'revalidated', 'revalidated']);
    assert.deepEqual(validated.requests.map((request) => request.headers['if-none-match']), [undefined, undefined, '"v1"', '"v1"']);
  });

  test('ECAMO_CACHE_MIN_USES=3 waits for the third', async () => {
    assert.deepEqual(await cacheStatuses({ ECAMO_CACHE_MIN_USES: '3' }, 'thrice.png', 4), ['bypass', 'bypass', 'miss', 'hit']);
  });
});
