/**
 * Clients' Accept headers reduced to classes (src/cache/accept-class.ts):
 * against a counting source that answers `Vary: Accept`, hundreds of
 * made-up Accept values cost one source fetch per class, on a proxy token and
 * on a camo URL alike, and evict nothing else from the cache (the parsing of
 * each spelling is accept-class.test.ts's).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SOURCE_ACCEPT, type AcceptClass } from '../../src/cache/accept-class.js';
import { camoPath } from '../helpers/camo.js';
import { CANONICAL_HOST, startEcamo, type Answer, type Ecamo } from '../helpers/harness.js';
import { PNG as TINY_PNG } from '../helpers/images.js';
import { PNG, proxied, sourcesOfBlock } from './fixture.js';

const CAMO_KEY = 'camo key of the Accept variants test';
const CLASSES = Object.keys(SOURCE_ACCEPT) as AcceptClass[];
/** A variant's body: 300 of them would be 4.7 MiB, far over the cache's bound below (room for 15). */
const VARIANT_BYTES = 16 * 1024;

/** What the source answers an Accept: a PNG of its own for each class's fixed value, another for anything else. */
function bodyFor(accept: string | undefined): Buffer {
  return Buffer.concat([TINY_PNG, Buffer.alloc(VARIANT_BYTES, CLASSES.findIndex((variant) => SOURCE_ACCEPT[variant] === accept) + 1)]);
}

/** `count` distinct Accept values, a third of them in each class, the weights spelt in several ways. */
function madeUpAccepts(count: number): { readonly accept: string; readonly variant: AcceptClass }[] {
  return Array.from({ length: count }, (_, i) => {
    switch (i % 3) {
      case 0:
        return { accept: `image/avif,image/webp;q=0.${i % 9 + 1},image/x-${i},*/*;q=0.8`, variant: 'avif' };
      case 1:
        return { accept: `IMAGE/WEBP, image/avif;q=0${i % 2 === 0 ? '.000' : ''}, image/x-${i}`, variant: 'webp' };
      default:
        return { accept: `image/x-${i},image/*,image/webp; q=0.0,image/avif`, variant: 'other' };
    }
  });
}

/** Sends every request, `parallel` at a time; returns each answer's mismatch, if any. */
async function flood(send: (accept: string) => Promise<Answer>, accepts: ReturnType<typeof madeUpAccepts>, parallel: number): Promise<string[]> {
  const wrong: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < accepts.length) {
      const { accept, variant } = accepts[next++]!;
      const answer = await send(accept);
      if (answer.status !== 200 || !answer.bytes.equals(bodyFor(SOURCE_ACCEPT[variant]))) wrong.push(`${accept}: ${answer.status}, ${variant} expected`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return wrong;
}

describe('Accept classes against a source that varies on Accept', () => {
  let ecamo: Ecamo;
  const source = sourcesOfBlock();

  before(async () => {
    // Room for the hot image and each URL's three variants, not for 300 variants.
    ecamo = await startEcamo({ ECAMO_CACHE_MAX_BYTES: String(256 * 1024), ECAMO_CAMO_KEY: CAMO_KEY });
  });

  after(async () => {
    await ecamo.close();
  });

  test('300 made-up Accept values on one proxy token and on one camo URL: one source fetch per class, and the hot image stays a hit', async () => {
    const images = await source((req, res) => {
      if (req.url === '/hot.png') return void res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'public, max-age=600' }).end(PNG);
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'public, max-age=600', vary: 'Accept' }).end(bodyFor(req.headers.accept));
    });
    const hot = `${images.origin}/hot.png`;
    assert.equal((await proxied(ecamo, hot)).header('x-ecamo-cache'), 'miss');
    assert.equal((await proxied(ecamo, hot)).header('x-ecamo-cache'), 'hit');

    const accepts = madeUpAccepts(300);
    const tokenPath = await ecamo.proxyPath(`${images.origin}/negotiated-token`);
    const camo = camoPath(CAMO_KEY, `${images.origin}/negotiated-camo`);
    const wrongByToken = await flood((accept) => ecamo.get(tokenPath, { host: CANONICAL_HOST, headers: { accept } }), accepts, 20);
    const wrongByCamo = await flood((accept) => ecamo.get(camo, { host: CANONICAL_HOST, headers: { accept } }), accepts, 20);
    assert.deepEqual(wrongByToken, []);
    assert.deepEqual(wrongByCamo, []);

    const sentFor = (path: string): (string | undefined)[] => images.requests.filter((req) => req.url === path).map((req) => req.headers.accept).sort();
    const oneEach = Object.values(SOURCE_ACCEPT).sort();
    assert.deepEqual(sentFor('/negotiated-token'), oneEach);
    assert.deepEqual(sentFor('/negotiated-camo'), oneEach);

    const stillHot = await proxied(ecamo, hot);
    assert.equal(stillHot.header('x-ecamo-cache'), 'hit');
    assert.deepEqual(stillHot.bytes, PNG);
    assert.equal(images.requests.filter((req) => req.url === '/hot.png').length, 1);
  });
});
