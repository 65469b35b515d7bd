/**
 * HEAD and the response cache, against a real source that counts requests by
 * method: a HEAD miss fetches the image with a GET, as a GET would, answers
 * its head at once and keeps the body for the requests after it (a link
 * checker that sends HEAD then GET, a CDN revalidating); a HEAD hit never
 * touches the source. What may not be kept, or is too large to be, is not
 * read for a HEAD.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startEcamo, type Ecamo, type Source } from '../helpers/harness.js';
import { paddedPng } from '../helpers/images.js';
import { PNG, proxied, sourcesOfBlock } from './fixture.js';

describe('HEAD', () => {
  let ecamo: Ecamo;
  const startBlockSource = sourcesOfBlock();

  before(async () => {
    ecamo = await startEcamo();
  });

  after(async () => {
    await ecamo.close();
  });

  async function source(handler: http.RequestListener): Promise<Source & { methods(): string[] }> {
    const started = await startBlockSource(handler);
    return { ...started, methods: () => started.requests.map((req) => `${req.method} ${req.url}`) };
  }

  test('a miss fetches with GET, answers the head, and keeps the image: the GET and HEAD after it never reach the source', async () => {
    const images = await source((_req, res) => void res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'public, max-age=600', etag: '"h"' }).end(PNG));
    const url = `${images.origin}/checked.png`;
    const head = await proxied(ecamo, url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.header('x-ecamo-cache'), 'miss');
    assert.equal(head.header('content-type'), 'image/png');
    assert.equal(head.header('etag'), '"h"');
    assert.equal(head.bytes.length, 0);
    // Kept on the way (a GET arriving before the body has ended waits for it): the same bytes, the source asked once.
    const get = await proxied(ecamo, url);
    assert.deepEqual(get.bytes, PNG);
    assert.equal(get.header('content-length'), String(PNG.length));
    const again = await proxied(ecamo, url, { method: 'HEAD' });
    assert.equal(again.header('x-ecamo-cache'), 'hit');
    assert.equal(again.header('content-length'), String(PNG.length));
    assert.deepEqual(images.methods(), ['GET /checked.png']);
  });

  test('a hit is answered from the entry without touching the source, with the headers a GET hit gets', async () => {
    const images = await source((_req, res) => void res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=600' }).end(PNG));
    const url = `${images.origin}/viewed.png`;
    await proxied(ecamo, url);
    const get = await proxied(ecamo, url);
    assert.equal(get.header('x-ecamo-cache'), 'hit');
    const head = await proxied(ecamo, url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.header('x-ecamo-cache'), 'hit');
    assert.equal(head.bytes.length, 0);
    for (const name of ['content-type', 'content-length', 'cache-control', 'x-ecamo-source', 'content-security-policy']) {
      assert.equal(head.header(name), get.header(name), name);
    }
    assert.deepEqual(images.methods(), ['GET /viewed.png']);
  });

  test('a miss that may not be kept is a bypass each time, and its body is not read', async () => {
    const sent = answers();
    const images = await source((_req, res) => {
      sent.watch(res);
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'private, max-age=600' });
      void sendHuge(res);
    });
    const url = `${images.origin}/private.png`;
    for (let i = 0; i < 2; i++) {
      const head = await proxied(ecamo, url, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.header('x-ecamo-cache'), 'bypass');
    }
    assert.deepEqual(images.methods(), ['GET /private.png', 'GET /private.png']);
    assert.deepEqual(await sent.ends(), ['cut', 'cut'], 'the source never got to send it all');
  });

  test('a body larger than ECAMO_CACHE_MAX_ENTRY_BYTES is read no further than that for a HEAD', async () => {
    const sent = answers();
    const images = await source((_req, res) => {
      sent.watch(res);
      // Chunked: the size shows only on the way.
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'public, max-age=600' });
      void sendHuge(res);
    });
    const url = `${images.origin}/large.png`;
    const head = await proxied(ecamo, url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.header('x-ecamo-cache'), 'miss');
    assert.deepEqual(await sent.ends(), ['cut'], 'the source never got to send it all');
    assert.equal((await proxied(ecamo, url, { method: 'HEAD' })).header('x-ecamo-cache'), 'miss');
    assert.equal(images.requests.length, 2);
  });
});

const HUGE_BYTES = 256 * 1024 * 1024;

/**
 * Writes HUGE_BYTES, a MiB at a time as the connection takes them, and ends.
 * Far more than loopback's socket buffers hold (tens of MiB): it ends only
 * if ecamo reads it all.
 */
async function sendHuge(res: http.ServerResponse): Promise<void> {
  const image = paddedPng(1024 * 1024);
  const chunk = Buffer.alloc(1024 * 1024, 1);
  for (let sent = 0; sent < HUGE_BYTES && !res.destroyed; sent += chunk.length) {
    if (!res.write(sent === 0 ? image : chunk)) await new Promise((resolve) => res.once('drain', resolve).once('close', resolve));
  }
  if (!res.destroyed) res.end();
}

/** How the source's answers ended: 'finished' (all sent) or 'cut' (the connection closed first). */
function answers(): { watch(res: http.ServerResponse): void; ends(): Promise<string[]> } {
  const ends: Promise<string>[] = [];
  return {
    watch: (res) => void ends.push(new Promise((resolve) => res.once('close', () => resolve(res.writableFinished ? 'finished' : 'cut')))),
    ends: () => Promise.all(ends),
  };
}
