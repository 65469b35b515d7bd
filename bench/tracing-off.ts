/**
 * `node dist/bench/tracing-off.js [--ms N --rounds N]`: what the tracing
 * hooks cost a request while tracing is off (no OTLP endpoint): the same
 * calls a proxy request on a cache miss with Redis makes, with no trace, against
 * the same work called without them.
 *
 * With tracing off a request's `record.trace` is undefined, and each hook is
 * an `undefined` check where the request path calls it: `traced()` around the
 * quarantine check and the proxy-token verification (src/tracing/index.ts),
 * the shared tier's GET in Redis (src/cache/redis-tier.ts, twice for an answer
 * that varies on Accept), the hop of each source request (src/upstream/fetch.ts)
 * and the end of the request (src/http/dispatch.ts). The work itself is an
 * already settled promise, so that what is measured is the hooks and not it.
 * The main thread's CPU time per request (ns), median over the rounds, goes
 * to stdout as Markdown with the Node version and the load average.
 */
import os from 'node:os';
import { tracedSharedGet, type SharedLookupResult } from '../src/cache/trace.js';
import { traced, type RequestTrace } from '../src/tracing/index.js';
import { cpuNsPerCall, measurementOptions, median } from './micro.js';

const { ms: MILLISECONDS, rounds: ROUNDS } = measurementOptions({ ms: 300, rounds: 9 });

/** A request's record and app as the hooks read them with tracing off. */
interface Untraced {
  readonly tracing: undefined;
  trace: RequestTrace | undefined;
}
const request: Untraced = { tracing: undefined, trace: undefined };

const SETTLED = Promise.resolve(null);
const work = (): Promise<null> => SETTLED;
const found = (reply: null | undefined): SharedLookupResult => (reply === undefined ? 'unavailable' : 'none');
const URL_OF_HOP = new URL('http://127.0.0.1/a.png');
const HOP_HEADERS: Record<string, string> = {};
const OUTCOME = { route: 'proxy', client: '127.0.0.1', action: undefined, error: undefined, source: undefined, sourceStatus: 200, cache: 'miss', bytes: 0 };

/** One request's hook calls, each around its (settled) work, as the request path makes them with tracing off. */
async function withHooks(): Promise<void> {
  // dispatch.ts starts a trace only when tracing is on.
  if (request.tracing !== undefined) throw new Error('tracing is on');
  await traced(request.trace, 'quarantine check', work);
  await traced(request.trace, 'verify proxy token', work);
  await tracedSharedGet(request.trace, work, found);
  await tracedSharedGet(request.trace, work, found);
  request.trace?.hop(URL_OF_HOP, HOP_HEADERS);
  await work();
  request.trace?.end(OUTCOME, 200);
}

/** The same work (five settled promises awaited), no hooks. */
async function withoutHooks(): Promise<void> {
  await work();
  await work();
  await work();
  await work();
  await work();
}

/** Main-thread CPU per request, ns. */
function cost(run: () => Promise<void>): Promise<number> {
  return cpuNsPerCall(run, MILLISECONDS, 1000);
}

async function main(): Promise<void> {
  const runs = { 'hook calls and work': withHooks, 'the work alone': withoutHooks };
  const names = Object.keys(runs) as (keyof typeof runs)[];
  const costs: Record<keyof typeof runs, number[]> = { 'hook calls and work': [], 'the work alone': [] };
  for (const name of names) await cost(runs[name]); // warm-up
  const loadBefore = os.loadavg()[0]!;
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) costs[name].push(await cost(runs[name]));
    process.stderr.write(`bench: round ${round + 1} of ${ROUNDS}\n`);
  }
  const differences = costs['hook calls and work'].map((withThem, round) => withThem - costs['the work alone'][round]!);
  process.stdout.write(
    [
      `Node ${process.version}, ${MILLISECONDS} ms per measurement x ${ROUNDS} rounds; medians of main-thread CPU per request; load average ${loadBefore.toFixed(1)} → ${os.loadavg()[0]!.toFixed(1)} (1 min, start → end) on ${os.availableParallelism()} CPUs`,
      '',
      '| per request (tracing off) | ns |',
      '|---|--:|',
      ...names.map((name) => `| ${name} | ${median(costs[name]).toFixed(1)} |`),
      `| the hook calls (difference, median of the rounds; min … max) | ${median(differences).toFixed(1)} (${Math.min(...differences).toFixed(1)} … ${Math.max(...differences).toFixed(1)}) |`,
      '',
    ].join('\n'),
  );
}

await main();
