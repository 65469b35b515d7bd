/**
 * `npm run bench [-- --quick]`: ecamo against Debian's camo and an nginx
 * proxy_pass ceiling, all on this machine, each driven by the same wrk
 * settings in interleaved rounds. Markdown goes to stdout, progress to
 * stderr, and everything to .bench/results-<date>.json (gitignored).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo, type MachineInfo } from './machine.js';
import { measureAll, type Measurements } from './measure.js';
import { rssNowMb } from './memory.js';
import { parseOptions, usage, type Options } from './options.js';
import { CLIENT_HEADERS } from './pools.js';
import { findTools } from './prerequisites.js';
import { installCleanup, interrupted, stopAll } from './processes.js';
import { chartSvg } from './chart.js';
import { markdown, memoryFigure, ratio, summarize, warnings, type MemoryFigure, type MemorySpec, type Ratio, type RatioSpec, type ScenarioResult } from './report.js';
import { buildLab, type Lab } from './setup.js';
import { writeWrkScripts } from './wrk.js';

/** dist/bench/run.js → the repository root. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ECAMO_CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

const RATIOS: readonly RatioSpec[] = [
  { label: 'proxy req/s: ecamo / camo', metric: 'requestsPerSecond', numerator: ['proxy', 'ecamo'], denominator: ['proxy', 'camo'], better: 'higher', goal: 1.3 },
  { label: 'proxy req/s: ecamo / nginx proxy_pass', metric: 'requestsPerSecond', numerator: ['proxy', 'ecamo'], denominator: ['proxy', 'nginx'], better: 'higher', goal: 0.5 },
  { label: 'proxy p99: ecamo / camo', metric: 'p99Ms', numerator: ['proxy', 'ecamo'], denominator: ['proxy', 'camo'], better: 'lower' },
  { label: 'camo URLs req/s: ecamo / camo', metric: 'requestsPerSecond', numerator: ['proxy', 'ecamo-camo'], denominator: ['proxy', 'camo'], better: 'higher', goal: 1.3 },
  { label: 'camo URLs req/s: ecamo / nginx proxy_pass', metric: 'requestsPerSecond', numerator: ['proxy', 'ecamo-camo'], denominator: ['proxy', 'nginx'], better: 'higher', goal: 0.5 },
  { label: 'camo URLs p99: ecamo / camo', metric: 'p99Ms', numerator: ['proxy', 'ecamo-camo'], denominator: ['proxy', 'camo'], better: 'lower' },
  { label: 'first-sight proxy req/s: ecamo / camo', metric: 'requestsPerSecond', numerator: ['proxy-first', 'ecamo'], denominator: ['proxy-first', 'camo'], better: 'higher' },
  { label: 'redirect req/s (ecamo) / proxy req/s (camo)', metric: 'requestsPerSecond', numerator: ['redirect', 'ecamo'], denominator: ['proxy', 'camo'], better: 'higher', goal: 1.3 },
  { label: 'redirect req/s: ecamo / nginx 302', metric: 'requestsPerSecond', numerator: ['redirect', 'ecamo'], denominator: ['redirect', 'nginx'], better: 'higher' },
  { label: '1 MiB MB/s: ecamo / camo', metric: 'megabytesPerSecond', numerator: ['large', 'ecamo'], denominator: ['large', 'camo'], better: 'higher' },
  { label: '1 MiB MB/s: ecamo / nginx', metric: 'megabytesPerSecond', numerator: ['large', 'ecamo'], denominator: ['large', 'nginx'], better: 'higher' },
  { label: '1 MiB peak RSS: ecamo / camo', metric: 'peakRssMb', numerator: ['large', 'ecamo'], denominator: ['large', 'camo'], better: 'lower' },
  { label: 'hot images req/s: ecamo (cache) / camo', metric: 'requestsPerSecond', numerator: ['hot', 'ecamo'], denominator: ['hot', 'camo'], better: 'higher', goal: 2 },
  { label: 'hot images req/s: ecamo (cache) / nginx proxy_cache', metric: 'requestsPerSecond', numerator: ['hot', 'ecamo'], denominator: ['hot', 'nginx'], better: 'higher', goal: 0.5 },
  { label: 'hot images 2×64 req/s: ecamo (cache) / camo', metric: 'requestsPerSecond', numerator: ['hot-2x64', 'ecamo'], denominator: ['hot-2x64', 'camo'], better: 'higher', goal: 2 },
  {
    label: 'hot images 2×64 req/s: ecamo (cache) / nginx proxy_cache', metric: 'requestsPerSecond',
    numerator: ['hot-2x64', 'ecamo'], denominator: ['hot-2x64', 'nginx'], better: 'higher', goal: 0.5,
  },
  // The Node ceiling: how far a Node proxy with no checks gets against camo and nginx, and how much of it ecamo reaches.
  { label: 'proxy req/s: bare Node proxy / camo', metric: 'requestsPerSecond', numerator: ['proxy', 'bare-node'], denominator: ['proxy', 'camo'], better: 'higher', reference: true },
  {
    label: 'proxy req/s: bare Node proxy / nginx proxy_pass', metric: 'requestsPerSecond',
    numerator: ['proxy', 'bare-node'], denominator: ['proxy', 'nginx'], better: 'higher', reference: true,
  },
  // A one-process proxy that uses all of its core serves at most (nginx's CPU per request / its own) × nginx's rate:
  // the first of these says how far the 0.5 × nginx goals are within a Node proxy's reach on this machine.
  {
    label: 'proxy CPU per request: nginx proxy_pass / bare Node proxy', metric: 'cpuPerRequest',
    numerator: ['proxy', 'nginx'], denominator: ['proxy', 'bare-node'], better: 'higher', reference: true,
  },
  { label: 'proxy CPU per request: nginx proxy_pass / ecamo', metric: 'cpuPerRequest', numerator: ['proxy', 'nginx'], denominator: ['proxy', 'ecamo'], better: 'higher', reference: true },
  { label: 'proxy req/s: ecamo / bare Node proxy', metric: 'requestsPerSecond', numerator: ['proxy', 'ecamo'], denominator: ['proxy', 'bare-node'], better: 'higher', reference: true },
  {
    label: 'camo URLs req/s: ecamo / bare Node proxy', metric: 'requestsPerSecond',
    numerator: ['proxy', 'ecamo-camo'], denominator: ['proxy', 'bare-node'], better: 'higher', reference: true,
  },
  { label: 'proxy req/s: ecamo 2 workers / 1 worker', metric: 'requestsPerSecond', numerator: ['proxy', 'ecamo-2w'], denominator: ['proxy', 'ecamo'], better: 'higher' },
];

/** Issue 21's memory limits; MiB as /proc counts them (the 1 MiB downloads' "150 MB" read as MiB, which is the looser reading by 7 MB). */
const MEMORY: readonly MemorySpec[] = [
  { label: 'peak RSS of ecamo over the proxy runs', of: [['proxy', 'proxy-first'], 'ecamo'], limitMb: 200 },
  { label: 'peak RSS of ecamo, 64 × 1 MiB downloads', of: [['large'], 'ecamo'], limitMb: 150 },
];

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const options = readOptions();
  if (options === undefined) return;
  const tools = findTools(ECAMO_CLI);
  const machine = await machineInfo(tools, REPO_ROOT, options.node);
  log(`ecamo, camo and the bare Node proxy run on node ${machine.ecamoNode} (${options.node}); the harness on node ${machine.node}`);

  const dir = mkdtempSync(join(os.tmpdir(), 'ecamo-bench-'));
  // nginx running as root hands requests to an unprivileged worker, which must read the images.
  chmodSync(dir, 0o755);
  installCleanup(() => rmSync(dir, { recursive: true, force: true }));

  const lab = await buildLab(tools, options, dir, REPO_ROOT, log);
  const idleRssMb = new Map(lab.servers.map((server) => [server.pid, rssNowMb(server.pid)]));
  const measurements = await measureAll(tools, lab, options, writeWrkScripts(dir, CLIENT_HEADERS), log);

  const results = collectResults(lab, measurements, idleRssMb);
  const ratios = RATIOS.map((spec) => ratio(results, spec)).filter((r): r is Ratio => r !== undefined);
  const memory = MEMORY.map((spec) => memoryFigure(results, spec)).filter((m): m is MemoryFigure => m !== undefined);
  const problems = warnings(results);
  const elapsedSeconds = Math.round((Date.now() - startedAt) / 1000);

  const has = (id: string): boolean => results.some((result) => result.id === id);
  process.stdout.write(markdown(header(machine, options), results, ratios, memory, [
    'errors = socket errors (connect/read/write/timeout) + responses with status ≥ 400; the redirect scenario counts 302s as successes.',
    ...(has('proxy-first')
      ? ['first sight: one pass over the whole tail right after warm-up, going on where warm-up stopped, so that every token was last seen ' +
          'a whole tail ago (more than the verified-token caches hold); the rounds go on the same way.']
      : []),
    ...(has('large') || has('proxy') ? ['peak RSS: highest sum of VmRSS over the server and its child processes, sampled every 50 ms during the runs.'] : []),
    ...problems.map((problem) => `**warning**: ${problem}`),
    `this run took ${elapsedSeconds} s.`,
  ]));

  const outDir = join(REPO_ROOT, '.bench');
  mkdirSync(outDir, { recursive: true });
  const outFile = join(outDir, `results-${machine.date.replace(/[:.]/g, '-')}.json`);
  const scenarios = results.map((result) => ({
    ...result,
    summary: Object.fromEntries(result.targets.map((t) => [t.id, summarize(result.runs[t.id] ?? [])])),
  }));
  writeFileSync(outFile, `${JSON.stringify({ machine, options, elapsedSeconds, scenarios, ratios, memory, warnings: problems }, null, 2)}\n`);
  log(`results written to ${relative(process.cwd(), outFile)}`);
  const svg = chartSvg(
    `ecamo on Node ${machine.ecamoNode.replace(/^v/, '')}: ratios against camo and nginx, same run`,
    `${machine.date.slice(0, 16).replace('T', ' ')} UTC · ${machine.cpus} × ${machine.cpuModel} (shared) · ecamo ${machine.ecamo} · load average ${machine.loadAverage.join(' ')} at start`,
    ratios,
    memory,
  );
  // A full run is what README shows; a --quick smoke run only goes next to its JSON.
  const svgFiles = [outFile.replace(/\.json$/, '.svg'), ...(options.quick ? [] : [join(REPO_ROOT, 'docs', `performance-node${machine.ecamoNode.replace(/^v(\d+).*$/, '$1')}.svg`)])];
  for (const svgFile of svgFiles) writeFileSync(svgFile, svg);
  log(`chart written to ${svgFiles.map((svgFile) => relative(process.cwd(), svgFile)).join(' and ')}`);
  await stopAll();
}

/** undefined after --help. Bad options: usage and exit 2. */
function readOptions(): Options | undefined {
  try {
    const parsed = parseOptions(process.argv.slice(2), process.env);
    if (parsed !== 'help') return parsed;
    process.stdout.write(usage());
    return undefined;
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n${usage()}`);
    process.exit(2);
  }
}

/** One result per scenario, plus one for its first-sight pass when it has one. */
function collectResults(lab: Lab, measurements: Measurements, idleRssMb: ReadonlyMap<number, number>): ScenarioResult[] {
  return lab.scenarios.flatMap((scenario) => {
    const common = {
      bulk: scenario.bulk,
      targets: scenario.targets.map((t) => ({ id: t.id, label: t.label, idleRssMb: idleRssMb.get(t.server.pid) ?? 0 })),
      ...(scenario.bodyBytes === undefined ? {} : { bodyBytes: scenario.bodyBytes }),
    };
    const rounds = measurements.rounds.get(scenario)!;
    const measured: ScenarioResult = {
      ...common,
      id: scenario.id,
      title: scenario.title,
      runs: Object.fromEntries(scenario.targets.map((t) => [t.id, [...rounds.get(t)!]])),
    };
    const passes = measurements.firstSight.get(scenario);
    if (passes === undefined) return [measured];
    return [measured, {
      ...common,
      id: `${scenario.id}-first`,
      title: `${scenario.title}: first sight of each token`,
      runs: Object.fromEntries(scenario.targets.map((t) => [t.id, [passes.get(t)!]])),
    }];
  });
}

function header(machine: MachineInfo, options: Options): string[] {
  return [
    `${machine.date} · ${machine.cpus} × ${machine.cpuModel} · ${machine.os} · ecamo and camo on node ${machine.ecamoNode}, harness on ${machine.node} · load average ${machine.loadAverage.join(' ')} at start`,
    `ecamo ${machine.ecamo} · camo ${machine.camo} · ${machine.nginx} · ${machine.wrk}`,
    `wrk -t${options.threads} -c${options.connections} (large bodies and hot-2x64: -t2 -c64) -d${options.durationSeconds}s, ${options.rounds} round(s) after ${options.warmupSeconds} s warm-up per target` +
      `${options.quick ? ' (--quick)' : ''}; figures are medians over rounds, errors are summed.`,
  ];
}

main().catch(async (error: unknown) => {
  // Servers stopped under a running measurement: the signal handler is already exiting.
  if (interrupted()) return;
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  await stopAll();
  process.exit(1);
});
