/**
 * Tracing off loads nothing of OpenTelemetry's SDK: every module the loader
 * resolves while ecamo's code loads and an ecamo without OTEL_* starts,
 * serves and stops is watched, and neither src/tracing/sdk.js nor an
 * @opentelemetry package (but the API prom-client requires itself) is among
 * them; with an endpoint set, both are (the watch sees them).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { watchResolved } from '../helpers/resolve-watch.js';

const CAMO_KEY = 'camo key for the lazy-load test';

const resolved: string[] = [];
const waiters = new Set<() => void>();
watchResolved((url) => {
  resolved.push(url);
  for (const wake of waiters) wake();
});

// Only now, with the hooks in place, is ecamo's code loaded: a static import of OpenTelemetry anywhere in it would be seen.
const { CANONICAL_HOST, fetchAnswer, startEcamo, startSource } = await import('../helpers/harness.js');
const { camoPath } = await import('../helpers/camo.js');
const { startOtlpReceiver } = await import('../helpers/otlp-receiver.js');
const { IMAGE } = await import('../helpers/wire.js');

/** Every URL resolved until now: a marker import, posted after all of them, says when they have all arrived. */
async function resolvedSoFar(): Promise<string[]> {
  const marker = `data:text/javascript,export default ${Date.now()}${Math.random().toString().slice(2)}`;
  await import(marker);
  while (!resolved.includes(marker)) await new Promise<void>((wake) => waiters.add(wake));
  return [...resolved];
}

/**
 * ecamo's tracing module and the OpenTelemetry SDK, exporters and their parts. Not @opentelemetry/api:
 * prom-client requires it for its exemplars, whatever ecamo does (it is a no-op without an SDK).
 */
const isOpenTelemetry = (url: string): boolean =>
  url.endsWith('/src/tracing/sdk.js') || (url.includes('/@opentelemetry/') && !url.includes('/@opentelemetry/api/'));

describe('OpenTelemetry is loaded only when tracing is on', () => {
  it('off: an ecamo starts, proxies an image and stops without loading any of it; on: it is loaded', async () => {
    const source = await startSource((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(IMAGE));
    const receiver = await startOtlpReceiver();
    try {
      const off = await startEcamo({ ECAMO_CAMO_KEY: CAMO_KEY });
      try {
        const answer = await fetchAnswer(`${off.url}${camoPath(CAMO_KEY, `${source.origin}/off.png`)}`, { host: CANONICAL_HOST });
        assert.equal(answer.status, 200);
      } finally {
        await off.close();
      }
      assert.deepEqual((await resolvedSoFar()).filter(isOpenTelemetry), []);

      const on = await startEcamo({ ECAMO_CAMO_KEY: CAMO_KEY, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
      await on.close();
      const loaded = (await resolvedSoFar()).filter(isOpenTelemetry);
      assert.ok(loaded.some((url) => url.endsWith('/src/tracing/sdk.js')), 'the watch sees src/tracing/sdk.js');
      assert.ok(loaded.some((url) => url.includes('/@opentelemetry/sdk-trace/')), 'and the SDK');
    } finally {
      await receiver.close();
      await source.close();
    }
  });
});
