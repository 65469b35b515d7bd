/**
 * `npm run build && node dist/bench/metrics-observe.js [-- --observes N --rounds N]`:
 * the CPU one histogram observation costs the request path, ecamo's tallied
 * histogram (src/metrics.ts, through `Metrics.requestTimed`) against
 * prom-client's own Histogram used as its docs advise (a label child made once
 * per label value, kept in a Map, then `observe`). Every request records one
 * observation, a request that fetches its source two. The medians of the
 * rounds (CPU time of this process per observation, in ns, so that other
 * processes on a shared machine count for less) go to stdout as Markdown, with
 * the Node version. Run with another Node by calling its binary on
 * dist/bench/metrics-observe.js.
 */
import { parseArgs } from 'node:util';
import { Histogram, Registry } from 'prom-client';
import { Metrics } from '../src/metrics.js';

const { values } = parseArgs({
  options: {
    observes: { type: 'string', default: '2000000' },
    rounds: { type: 'string', default: '7' },
  },
});
const OBSERVES = Number(values.observes);
const ROUNDS = Number(values.rounds);
for (const [name, value] of Object.entries({ observes: OBSERVES, rounds: ROUNDS })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
}

/** Durations from 0 to 0.1 s in a fixed scattered order, over several buckets. */
const DURATIONS = Float64Array.from({ length: 4096 }, (_, i) => ((i * 7919) % 4096) / 40_960);
const ROUTES = ['proxy', 'redirect', 'camo'] as const;
type Route = (typeof ROUTES)[number];

const metrics = new Metrics();
const histogram = new Histogram({
  name: 'ecamo_bench_request_duration_seconds',
  help: 'prom-client Histogram, for comparison',
  labelNames: ['route'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [new Registry()],
});
const children = new Map<Route, { observe(value: number): void }>();

const contenders: Readonly<Record<string, (route: Route, seconds: number) => void>> = {
  'ecamo tallied histogram (Metrics.requestTimed)': (route, seconds) => metrics.requestTimed(route, seconds),
  'prom-client Histogram, label child from a Map': (route, seconds) => {
    let child = children.get(route);
    if (child === undefined) children.set(route, (child = histogram.labels(route)));
    child.observe(seconds);
  },
};

function cpuNs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1000;
}

const perObserve = new Map<string, number[]>(Object.keys(contenders).map((name) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, observe] of Object.entries(contenders)) {
    const start = cpuNs();
    for (let i = 0; i < OBSERVES; i++) observe(ROUTES[i % ROUTES.length]!, DURATIONS[i & 4095]!);
    perObserve.get(name)!.push((cpuNs() - start) / OBSERVES);
  }
}

const median = (samples: number[]): number => [...samples].sort((a, b) => a - b)[samples.length >> 1]!;
console.log(`Node ${process.version}: CPU ns per observation, median of ${ROUNDS} rounds of ${OBSERVES}\n`);
console.log('| histogram | ns per observation |\n|---|---|');
for (const [name, samples] of perObserve) console.log(`| ${name} | ${median(samples).toFixed(0)} |`);
