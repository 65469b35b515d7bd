/**
 * Sources that misbehave, against the response cache: new bytes under a
 * stable ETag, a 304 for other bytes, bodies cut by a reset, shorter or
 * longer than their Content-Length. A client never gets mixed or truncated
 * bytes from the cache, and nothing cut short is kept.
 */
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startEcamo, type Ecamo } from '../helpers/harness.js';
import { paddedPng } from '../helpers/images.js';
import { attempt, PNG, proxied, sourcesOfBlock } from './fixture.js';

describe('response cache and sources that misbehave', () => {
  let ecamo: Ecamo;
  const source = sourcesOfBlock();

  before(async () => {
    ecamo = await startEcamo();
  });

  after(async () => {
    await ecamo.close();
  });


  test('new bytes under a stable ETag: every answer is one whole version, never a mix', async () => {
    let version = paddedPng(3000);
    let honours304 = true;
    const images = await source((req, res) => {
      if (honours304 && req.headers['if-none-match'] === '"same"') return void res.writeHead(304, { etag: '"same"' }).end();
      res.writeHead(200, { 'content-type': 'image/png', etag: '"same"', 'cache-control': 'max-age=0' }).end(version);
    });
    const url = `${images.origin}/liar.png`;
    const v1 = version;
    await proxied(ecamo, url);
    version = paddedPng(5000);
    const kept = await proxied(ecamo, url);
    assert.deepEqual(kept.bytes, v1, 'a 304 keeps the stored bytes whole');
    assert.equal(kept.header('content-length'), String(v1.length));
    honours304 = false;
    const replaced = await proxied(ecamo, url);
    assert.deepEqual(replaced.bytes, version, 'a 200 replaces them whole');
    assert.equal(replaced.header('x-ecamo-cache'), 'miss');
  });

  test('a 304 for other bytes than the stored ones: fetched again in full', async () => {
    const images = await source((req, res) => {
      if (req.headers['if-none-match'] !== undefined) return void res.writeHead(304, { etag: '"other"' }).end();
      res.writeHead(200, { 'content-type': 'image/png', etag: '"mine"', 'cache-control': 'max-age=0' }).end(PNG);
    });
    const url = `${images.origin}/mismatch.png`;
    await proxied(ecamo, url);
    const second = await proxied(ecamo, url);
    assert.equal(second.status, 200);
    assert.deepEqual(second.bytes, PNG);
    assert.equal(images.requests.length, 3);
    assert.equal(images.requests[2]?.headers['if-none-match'], undefined);
  });

  test('a body cut by a reset is never kept, chunked or with a length', async () => {
    const images = await source((req, res) => {
      // Past the window ecamo reads before it answers: the client has had bytes when the cut comes.
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=600', ...(req.url === '/sized.png' ? { 'content-length': 8000 } : {}) });
      res.write(paddedPng(5000), () => req.socket.resetAndDestroy());
    });
    for (const path of ['/sized.png', '/chunked.png']) {
      const url = `${images.origin}${path}`;
      const before = images.requests.length;
      for (let i = 0; i < 2; i++) assert.equal(await attempt(ecamo, url), 'cut off', path);
      assert.equal(images.requests.length - before, 2, `${path}: fetched again`);
    }
  });

  test('a Content-Length the body does not match is never kept', async () => {
    let connections = 0;
    const raw = net.createServer((socket) => {
      connections++;
      socket.once('data', () => {
        const head = 'HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncache-control: max-age=600\r\ncontent-length: 10000\r\nconnection: close\r\n\r\n';
        socket.end(Buffer.concat([Buffer.from(head), paddedPng(5000)]));
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}/short.png`;
      for (let i = 0; i < 2; i++) assert.equal(await attempt(ecamo, url), 'cut off');
      assert.equal(connections, 2);
    } finally {
      await new Promise((resolve) => raw.close(resolve));
    }
  });

  test('more bytes than the Content-Length: the declared ones are the image, the rest never reaches another answer', async () => {
    const raw = net.createServer((socket) => {
      socket.on('data', (request: Buffer) => {
        const name = /^GET \/(\w+)/.exec(request.toString('latin1'))?.[1] ?? 'none';
        const image = `GIF89a${name}`.padEnd(12, '.');
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: image/gif\r\ncache-control: max-age=600\r\ncontent-length: 12\r\n\r\n${image}HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nextra`);
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    try {
      const origin = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
      const first = await proxied(ecamo, `${origin}/first`);
      assert.equal(first.body, 'GIF89afirst.');
      assert.equal((await proxied(ecamo, `${origin}/first`)).header('x-ecamo-cache'), 'hit');
      // The next request to the same source: its own image, not what trailed the first.
      const second = await proxied(ecamo, `${origin}/second`);
      assert.equal(second.status, 200);
      assert.equal(second.body, 'GIF89asecond');
    } finally {
      await new Promise((resolve) => raw.close(resolve));
    }
  });
});
