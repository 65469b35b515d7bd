/**
 * ECAMO_FALLBACK_IMAGE against a real ecamo and source: error answers to
 * image requests carry the image with their status and code kept; document
 * navigations and other requests get the text; SIGHUP's reload swaps it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CANONICAL_HOST, startEcamo, startSource, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { GIF, PNG } from '../helpers/images.js';

const IMAGE_REQUEST = { 'sec-fetch-dest': 'image', accept: 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8' };
const CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

function assertFallback(answer: Answer, status: number, code: string, image: Buffer, type: string, name: string): void {
  assert.deepEqual([answer.status, answer.header('x-ecamo-error')], [status, code], name);
  assert.deepEqual([answer.header('content-type'), answer.header('cache-control'), answer.header('content-length')], [type, 'no-store', String(image.length)], name);
  assert.deepEqual([answer.header('x-content-type-options'), answer.header('content-security-policy')], ['nosniff', CSP], name);
  assert.deepEqual(answer.bytes, image, name);
}

function assertText(answer: Answer, status: number, code: string, name: string): void {
  assert.deepEqual([answer.status, answer.header('x-ecamo-error')], [status, code], name);
  assert.match(answer.header('content-type') ?? '', /^text\/plain/, name);
  assert.equal(answer.bytes.includes(PNG), false, name);
}

describe('ECAMO_FALLBACK_IMAGE', () => {
  let dir: string;
  let file: string;
  let source: Source;
  let ecamo: Ecamo;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ecamo-fallback-'));
    file = join(dir, 'placeholder');
    writeFileSync(file, PNG);
    source = await startSource((req, res) => {
      if (req.url === '/missing.png') return void res.writeHead(404, { 'content-type': 'text/html', 'cache-control': 'max-age=600' }).end('<h1>gone</h1>');
      res.writeHead(200, { 'content-type': 'image/png' }).end('<!doctype html><script>alert(1)</script>');
    });
    ecamo = await startEcamo({ ECAMO_FALLBACK_IMAGE: file });
  });

  after(async () => {
    await ecamo.close();
    await source.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const proxied = async (path: string, headers: Record<string, string>): Promise<Answer> =>
    ecamo.get(await ecamo.proxyPath(`${source.origin}${path}`), { host: CANONICAL_HOST, headers });
  const forged = async (headers: Record<string, string>): Promise<Answer> => {
    const path = await ecamo.proxyPath(`${source.origin}/img.png`);
    return ecamo.get(`${path.slice(0, -8)}AAAAAAAA`, { host: CANONICAL_HOST, headers });
  };

  test('a source 404, a refused type and a forged token: the image, with status and code kept', async () => {
    assertFallback(await proxied('/missing.png', IMAGE_REQUEST), 404, 'source-response', PNG, 'image/png', 'source 404');
    assertFallback(await proxied('/html.png', IMAGE_REQUEST), 403, 'unallowed-content-type', PNG, 'image/png', 'refused type');
    const forgery = await forged(IMAGE_REQUEST);
    assertFallback(forgery, 401, 'invalid-token', PNG, 'image/png', 'forged token');
    assert.equal(forgery.header('www-authenticate'), 'Bearer error="invalid_token"');
    // Browsers without Sec-Fetch-Dest: an Accept that starts with image/.
    assertFallback(await proxied('/missing.png', { accept: 'image/webp,*/*' }), 404, 'source-response', PNG, 'image/png', 'Accept only');
  });

  test('a document navigation, a fetch() and a request that says nothing get the text', async () => {
    assertText(await forged({ 'sec-fetch-dest': 'document', accept: 'text/html' }), 401, 'invalid-token', 'document');
    for (const headers of [{ 'sec-fetch-dest': 'empty', accept: 'image/png' }, {}]) {
      const name = JSON.stringify(headers);
      assertText(await forged(headers), 401, 'invalid-token', name);
      assertText(await proxied('/html.png', headers), 403, 'unallowed-content-type', name);
      assertText(await proxied('/missing.png', headers), 404, 'source-response', name);
    }
  });

  test('SIGHUP re-reads the file; one that is no longer an image leaves the one in use', async () => {
    writeFileSync(file, GIF);
    await ecamo.server.reload();
    assertFallback(await forged(IMAGE_REQUEST), 401, 'invalid-token', GIF, 'image/gif', 'reloaded');
    writeFileSync(file, '<!doctype html><p>oops');
    await ecamo.server.reload();
    assertFallback(await forged(IMAGE_REQUEST), 401, 'invalid-token', GIF, 'image/gif', 'kept');
  });
});
