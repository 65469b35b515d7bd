/**
 * The memory tier's bound, as deployed: a real `ecamo serve` (the bin, its
 * shebang's memory settings included) with an 8 MiB ECAMO_CACHE_MAX_BYTES is
 * first run through the traffic it will see with nothing kept (every image
 * `no-store`), which gives the server's own footprint; then it takes distinct
 * cacheable images adding up to 20 times the bound, each requested as a
 * browser does (URL token with the auth cookie, redirect, proxy token). Its
 * RSS, read from /proc/<pid>/status, stays within the footprint plus the
 * bound plus a slack, and the cache's own count of its bytes within the bound.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { generateKey } from '../../src/config/generate-key.js';
import { createSigner, type Signer } from '../../src/signer/index.js';
import { startSource, type Source } from '../helpers/harness.js';
import { paddedPng } from '../helpers/images.js';
import { sample } from '../helpers/prometheus.js';
import { spawnServe, type ServeProcess } from '../helpers/serve-process.js';

const MIB = 1024 * 1024;
const BOUND = 8 * MIB;
const IMAGE_BYTES = 160 * 1024;
/** Distinct images that warm the server up, nothing kept: 10 times the bound, twice. */
const WARM_IMAGES = (10 * BOUND) / IMAGE_BYTES;
/** Distinct cacheable images: 40 times the bound, so that a cache that ignored its bound would pass the limit by far. */
const KEPT_IMAGES = (40 * BOUND) / IMAGE_BYTES;
/**
 * What RSS may grow by beyond the bound once the cache is in use, and why:
 * - garbage: every kept entry is a copy of the body, made when the body has
 *   ended whole; it lives long enough to reach V8's old generation, so once
 *   evicted its bytes are freed only by a full collection. V8 starts one when
 *   external memory has grown by 64 MiB since the last, and finishes it
 *   incrementally while traffic goes on, so twice that may wait for it (the
 *   warm-up's bodies die young and are freed by the frequent scavenges of a
 *   4 MB young generation, so the footprint holds little of this). Measured
 *   here: up to 39 MiB of growth on Node 20 and 78 MiB on Node 26;
 * - the allocator: malloc does not hand every freed block back to the system
 *   at once, and kept bodies are interleaved with the traffic's socket
 *   buffers: about the bound again.
 * A cache that ignored its bound would keep all 320 MiB, far past this.
 */
const SLACK = 2 * 64 * MIB + BOUND;
const CONCURRENCY = 8;
const SERVICE_ORIGIN = 'http://wiki.test';

let served: ServeProcess;
let source: Source;
let signer: Signer;
let cookie: string;
let port: number;
let admin: string;
const agent = new Agent({ connections: CONCURRENCY, pipelining: 1 });
const image = paddedPng(IMAGE_BYTES);

before(async () => {
  source = await startSource((req, res) => {
    const cacheControl = req.url?.startsWith('/kept/') === true ? 'public, max-age=600' : 'no-store';
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': image.length, 'cache-control': cacheControl }).end(image);
  });
  const [ecamoKey, serviceKey] = await Promise.all([generateKey('e1'), generateKey('svc')]);
  served = spawnServe(
    {
      ECAMO_PRIVATE_KEYS: JSON.stringify({ e1: ecamoKey.privateJwk }),
      ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`${SERVICE_ORIGIN} svc`]: serviceKey.publicJwk }),
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://127\\.0\\.0\\.1:',
      ECAMO_ADMIN_BIND: '127.0.0.1:0',
      ECAMO_CACHE_MAX_BYTES: String(BOUND),
      ECAMO_CACHE_MAX_ENTRY_BYTES: String(256 * 1024),
      // Each image is viewed once: kept from its first request, the bound is what holds memory down.
      ECAMO_CACHE_MIN_USES: '1',
    },
    { bin: true },
  );
  const [listening] = await served.waitFor((line) => line.msg === 'ecamo listening');
  port = Number(new URL(String(listening!.url)).port);
  admin = String(listening!.admin);
  signer = await createSigner({ origin: SERVICE_ORIGIN, kid: 'svc', privateJwk: serviceKey.privateJwk });
  const auth = await signer.authCookie({ canonicalOrigin: 'http://ecamo.test', ttlSeconds: 600, insecure: true });
  cookie = `${auth.name}=${auth.token}`;
}, { timeout: 30_000 });

after(async () => {
  await agent.close();
  await served.kill();
  await source.close();
});

/** One image as a browser gets it: the URL token with the cookie, then the proxy URL it is redirected to. Returns x-ecamo-cache. */
async function view(sourceUrl: string): Promise<string> {
  const redirect = await request(`http://127.0.0.1:${port}${await signer.url(sourceUrl)}`, { headers: { host: 'wiki.test', cookie }, dispatcher: agent });
  await redirect.body.dump();
  assert.equal(redirect.statusCode, 302);
  const proxy = new URL(String(redirect.headers.location));
  const answer = await request(`http://127.0.0.1:${port}${proxy.pathname}${proxy.search}`, { headers: { host: proxy.host }, dispatcher: agent });
  const bytes = await answer.body.arrayBuffer();
  assert.equal(answer.statusCode, 200);
  assert.equal(bytes.byteLength, IMAGE_BYTES);
  return String(answer.headers['x-ecamo-cache']);
}

/** Views every URL, CONCURRENCY at a time; the count of each x-ecamo-cache. */
async function viewAll(urls: readonly string[]): Promise<Record<string, number>> {
  const outcomes: Record<string, number> = {};
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < urls.length) {
      const outcome = await view(urls[next++]!);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return outcomes;
}

function memoryMib(field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${served.child.pid}/status`, 'utf8');
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) / 1024;
}

async function cacheBytes(): Promise<number> {
  const metrics = await request(`${admin}/metrics`, { dispatcher: agent });
  const value = sample(await metrics.body.text(), 'ecamo_cache_memory_bytes');
  assert.ok(value !== undefined, 'ecamo_cache_memory_bytes is exported');
  return value;
}

const urls = (kind: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${source.origin}/${kind}/${i}.png`);

test(`RSS stays within the footprint plus ECAMO_CACHE_MAX_BYTES (${BOUND / MIB} MiB) plus ${SLACK / MIB} MiB under ${(KEPT_IMAGES * IMAGE_BYTES) / MIB} MiB of distinct images`, { timeout: 170_000 }, async () => {
  // The footprint: the same traffic with nothing kept (twice, so that what a first run sets up is in it.
  assert.deepEqual(await viewAll(urls('warm', WARM_IMAGES)), { bypass: WARM_IMAGES });
  assert.deepEqual(await viewAll(urls('warm', WARM_IMAGES)), { bypass: WARM_IMAGES });
  assert.equal(await cacheBytes(), 0);
  const footprintPeak = memoryMib('VmHWM');
  const footprint = memoryMib('VmRSS');

  assert.deepEqual(await viewAll(urls('kept', KEPT_IMAGES)), { miss: KEPT_IMAGES });
  const kept = await cacheBytes();
  // In use (the last images are there), and within the bound by its own count.
  assert.ok(kept > BOUND / 2 && kept <= BOUND, `the cache holds ${kept} bytes`);
  assert.equal(await view(`${source.origin}/kept/${KEPT_IMAGES - 1}.png`), 'hit');

  const peak = memoryMib('VmHWM');
  const rss = memoryMib('VmRSS');
  // For the record; only the limit is asserted (the numbers vary with the machine and Node's version).
  console.log(
    `# ecamo serve, cache bound ${BOUND / MIB} MiB: footprint ${footprint.toFixed(0)} MiB (peak ${footprintPeak.toFixed(0)}), ` +
      `after ${(KEPT_IMAGES * IMAGE_BYTES) / MIB} MiB of cacheable images ${rss.toFixed(0)} MiB (peak ${peak.toFixed(0)}); cache counts ${(kept / MIB).toFixed(1)} MiB`,
  );
  const limit = footprintPeak + (BOUND + SLACK) / MIB;
  assert.ok(peak <= limit, `peak RSS ${peak.toFixed(0)} MiB, limit ${limit.toFixed(0)} MiB`);
});
