/**
 * The admin listener of `ecamo serve` with ECAMO_WORKERS=2 when a worker
 * dies: counters never go backwards, /readyz says not ready until the
 * replacement answers, and a scrape meanwhile neither fails nor logs an error.
 * Settings worth a warning are warned of once for the group.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fetchAnswer } from '../helpers/harness.js';
import { getOnNewConnection, serviceKeysEnv, spawnServe, type LogLine } from '../helpers/serve-process.js';

/** Every sample of the counters and histograms of a scrape, by series (`name{labels}`, labels sorted). */
function monotonicSamples(text: string): Map<string, number> {
  const monotonic = new Set([...text.matchAll(/^# TYPE (\S+) (counter|histogram)$/gm)].map((match) => match[1]!));
  const samples = new Map<string, number>();
  for (const match of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/gm)) {
    const name = match[1]!;
    const family = name.replace(/_(bucket|sum|count)$/, '');
    if (!monotonic.has(name) && !monotonic.has(family)) continue;
    const labels = [...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((pair) => `${pair[1]}="${pair[2]}"`).sort();
    samples.set(`${name}{${labels.join(',')}}`, Number(match[3]));
  }
  return samples;
}

const listening = (line: LogLine): boolean => line.msg === 'ecamo listening';
const died = (line: LogLine): boolean => line.msg === 'worker died; starting another';

test('ECAMO_WORKERS=2: a worker killed between two scrapes takes no count with it; not ready until its replacement answers; no scrape fails meanwhile', async () => {
  // Quarantine without trusted proxies: one warning for the group, from the primary, not one per worker.
  const served = spawnServe({ ...(await serviceKeysEnv()), ECAMO_ADMIN_BIND: '127.0.0.1:0', ECAMO_WORKERS: '2', ECAMO_QUARANTINE_FAILURES: '100' });
  try {
    await served.waitFor(listening, 2);
    assert.equal(served.lines.filter((line) => line.setting === 'ECAMO_QUARANTINE_FAILURES').length, 1);
    const [admin] = await served.waitFor((line) => line.msg === 'ecamo admin listening');
    const adminUrl = String(admin!.admin);
    const publicUrl = String(served.lines.find(listening)!.url);
    assert.equal((await fetchAnswer(`${adminUrl}/readyz`)).status, 200);

    const requests = 20;
    for (let i = 0; i < requests; i++) assert.equal(await getOnNewConnection(`${publicUrl}/healthz`), 200);
    const accessLines = await served.waitFor((line) => line.msg === 'access', requests);
    const before = await fetchAnswer(`${adminUrl}/metrics`);
    assert.equal(before.status, 200);
    const counted = monotonicSamples(before.body);
    assert.equal(counted.get('ecamo_requests_total{error="",route="health",status="200"}'), requests);

    // The worker that served the first request, which has counted some of them.
    const victim = Number(accessLines[0]!.pid);
    process.kill(victim, 'SIGKILL');
    await served.waitFor(died);
    // One worker of two: not ready, and scrapes answer (the replacement is not asked while it starts) until it listens.
    assert.equal((await fetchAnswer(`${adminUrl}/readyz`)).status, 503);
    const scrapesWhileReplacing: number[] = [];
    while ((await fetchAnswer(`${adminUrl}/readyz`)).status !== 200) scrapesWhileReplacing.push((await fetchAnswer(`${adminUrl}/metrics`)).status);
    await served.waitFor(listening, 3);
    assert.deepEqual(new Set(scrapesWhileReplacing), new Set([200]));
    const complaints = served.lines.filter((line) => typeof line.msg === 'string' && line.msg.startsWith('admin:'));
    assert.deepEqual(complaints, []);

    const after = monotonicSamples((await fetchAnswer(`${adminUrl}/metrics`)).body);
    const wentBack = [...counted].filter(([series, value]) => (after.get(series) ?? 0) < value).map(([series, value]) => `${series}: ${value} -> ${after.get(series)}`);
    assert.deepEqual(wentBack, []);
    assert.ok(counted.size > 20, `${counted.size} series compared`);

    // Counting goes on on top of what the dead worker left.
    for (let i = 0; i < 4; i++) assert.equal(await getOnNewConnection(`${publicUrl}/healthz`), 200);
    await served.waitFor((line) => line.msg === 'access', requests + 4);
    const later = monotonicSamples((await fetchAnswer(`${adminUrl}/metrics`)).body);
    assert.ok(later.get('ecamo_requests_total{error="",route="health",status="200"}')! >= after.get('ecamo_requests_total{error="",route="health",status="200"}')! + 4);
    assert.ok(served.lines.every((line) => line.level !== 50 || died(line)), 'no error but the death itself');
    assert.equal(served.lines.filter((line) => line.setting === 'ECAMO_QUARANTINE_FAILURES').length, 1, 'the replacement does not warn again');
  } finally {
    await served.kill();
  }
});
