/**
 * What `ecamo serve` loads, watched from inside the process by a preloaded
 * module (helpers/loaded-modules.ts), as docs/performance.md ("Where the
 * memory goes") counts it: with neither Redis nor tracing configured, a
 * server that starts, proxies an image and stops has loaded neither ioredis
 * nor OpenTelemetry's SDK, nor undici's index nor Node's bundled undici
 * (which an ES import of node:http loads on Node 22.5 and later); with both
 * configured, ioredis and the SDK are loaded, which shows that the watch sees
 * them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchAnswer, startSource, type Source } from '../helpers/harness.js';
import type { LoadedModules } from '../helpers/loaded-modules.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { unlessInstalled } from '../helpers/programs.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { serveKeys, spawnServe } from '../helpers/serve-process.js';
import { IMAGE } from '../helpers/wire.js';

const PRELOAD = new URL('../helpers/loaded-modules.js', import.meta.url).href;
const NODE_BUNDLED_UNDICI = 'NativeModule internal/deps/undici/undici';

const isIoredis = (url: string): boolean => url.includes('/node_modules/ioredis/') || url.endsWith('/src/state/redis.js');
/** Not @opentelemetry/api: prom-client requires it for its exemplars, whatever ecamo does. */
const isTracingSdk = (url: string): boolean => url.endsWith('/src/tracing/sdk.js') || (url.includes('/@opentelemetry/') && !url.includes('/@opentelemetry/api/'));
const isUndiciIndex = (url: string): boolean => url.endsWith('/node_modules/undici/index.js');

let dir: string;
let source: Source;
let keys: Awaited<ReturnType<typeof serveKeys>>;

before(async () => {
  dir = mkdtempSync(join(os.tmpdir(), 'ecamo-loaded-'));
  source = await startSource((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(IMAGE));
  keys = await serveKeys();
});

after(async () => {
  await source.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `ecamo serve` with `env`, proxies one image through it, stops it with SIGTERM, and reads what it loaded. */
async function servedOnce(name: string, env: Record<string, string>): Promise<LoadedModules> {
  const file = join(dir, `${name}.json`);
  const served = spawnServe({
    ...keys.env,
    ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://127\\.0\\.0\\.1:',
    NODE_OPTIONS: `--import=${PRELOAD}`,
    LOADED_MODULES_FILE: file,
    ...env,
  });
  try {
    const [listening] = await served.waitFor((line) => line.msg === 'ecamo listening');
    const answer = await fetchAnswer(`${String(listening!.url)}${await keys.proxyPath(`${source.origin}/image.png`)}`, { host: 'ecamo.test' });
    assert.equal(answer.status, 200, served.stderr());
    served.child.kill('SIGTERM');
    assert.deepEqual(await served.exited, [0, null], served.stderr());
  } finally {
    await served.kill();
  }
  return JSON.parse(readFileSync(file, 'utf8')) as LoadedModules;
}

describe('ecamo serve loads what only some configurations use only when they ask for it', () => {
  it('neither Redis nor tracing: no ioredis, no OpenTelemetry SDK, no undici index, no Node-bundled undici', async () => {
    const loaded = await servedOnce('plain', {});
    assert.ok(loaded.resolved.some((url) => url.endsWith('/src/server/compose.js')), 'the watch sees the server load');
    assert.deepEqual(loaded.resolved.filter(isIoredis), []);
    assert.deepEqual(loaded.resolved.filter(isTracingSdk), []);
    assert.deepEqual(loaded.resolved.filter(isUndiciIndex), []);
    assert.ok(!loaded.builtins.includes(NODE_BUNDLED_UNDICI), `${NODE_BUNDLED_UNDICI} was loaded`);
  });

  describe('with Redis and tracing', { skip: unlessInstalled('redis-server') }, () => {
    let redis: RedisServer;
    let receiver: OtlpReceiver;
    before(async () => {
      [redis, receiver] = await Promise.all([startRedisServer(), startOtlpReceiver()]);
    });
    after(async () => {
      await Promise.all([redis.stop(), receiver.close()]);
    });

    it('loads ioredis and the SDK', async () => {
      const loaded = await servedOnce('configured', { ECAMO_REDIS_URL: redis.url, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
      assert.ok(loaded.resolved.some((url) => url.includes('/node_modules/ioredis/')), 'ioredis');
      assert.ok(loaded.resolved.some((url) => url.endsWith('/src/tracing/sdk.js')), 'src/tracing/sdk.js');
      assert.ok(loaded.resolved.some((url) => url.includes('/@opentelemetry/sdk-trace/')), 'the SDK');
    });
  });
});
