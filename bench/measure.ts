/**
 * The measuring itself, in three phases: warm-up (unrecorded), a first-sight
 * pass over the token pool where the scenario asks for one, then the rounds,
 * in which every target runs once per round in rotating order.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForQuiet, watchForeignCpu, watchServerCpu } from './cpu.js';
import { sampleMemory } from './memory.js';
import type { Options } from './options.js';
import type { Tools } from './prerequisites.js';
import type { Run } from './report.js';
import type { Lab, Scenario, Target } from './setup.js';
import { runWrk, type WrkScripts, type WrkSettings } from './wrk.js';

/** Lets sockets of the previous run close before the next starts. */
const SETTLE_MS = 500;
/** A first-sight pass that takes longer than this is reported as a failure. */
const FIRST_SIGHT_LIMIT_SECONDS = 300;
/** Other processes below this share of the CPU count as quiet. */
const QUIET_PERCENT = 5;
/** A response slower than this counts as a wrk timeout error. */
const RESPONSE_TIMEOUT_SECONDS = 10;

export interface Measurements {
  /** One run per round and target. */
  readonly rounds: ReadonlyMap<Scenario, ReadonlyMap<Target, readonly Run[]>>;
  /** One pass per target, for scenarios with `firstSight`. */
  readonly firstSight: ReadonlyMap<Scenario, ReadonlyMap<Target, Run>>;
}

interface Mode {
  readonly once?: boolean;
  readonly seconds: number;
  readonly watchMemory?: boolean;
  readonly recorded: boolean;
  readonly load: Scenario['load'];
}

type Measure = (target: Target, file: string, mode: Mode) => Promise<Omit<Run, 'round'>>;

export async function measureAll(tools: Tools, lab: Lab, options: Options, scripts: WrkScripts, log: (line: string) => void): Promise<Measurements> {
  // Where each target is in each request list: every run goes on from there, so that on a long
  // tail each image is asked for once per pass over the list, warm-up and rounds together.
  const offsets = new Map<string, number>();
  const measure: Measure = async (target, file, mode) => {
    const load = mode.load ?? { threads: options.threads, connections: options.connections };
    const at = `${target.url} ${file}`;
    // The check before any run (setup.ts) asked for the first line once already.
    const offset = offsets.get(at) ?? 1;
    const result = await measureOnce(tools, lab, scripts, target, file, {
      once: mode.once ?? false,
      settings: { ...load, durationSeconds: mode.seconds, timeoutSeconds: RESPONSE_TIMEOUT_SECONDS, offset },
      watchMemory: mode.watchMemory ?? false,
      // Only runs whose numbers are kept are worth waiting for a quiet machine.
      quietWaitSeconds: mode.recorded ? options.quietWaitSeconds : 0,
      log,
    });
    // From where the thread that went furthest stopped: no line is asked for twice in a pass (a 1 MiB image
    // asked for twice was kept by the cache, and a proxy token seen twice answered from the token cache).
    offsets.set(at, offset + result.sentPerThread);
    return result;
  };

  if (options.warmupSeconds > 0) {
    log(`warming up (${options.warmupSeconds} s per target: JIT, upstream keep-alive, token caches)`);
    for (const scenario of lab.scenarios) {
      for (const target of scenario.targets) await measure(target, target.warmupFile, { seconds: options.warmupSeconds, recorded: false, load: scenario.load });
    }
  }

  // While ecamo has not seen the measured tokens yet: what verifying each one costs.
  const firstSight = new Map<Scenario, Map<Target, Run>>();
  for (const scenario of lab.scenarios.filter((s) => s.firstSight)) {
    const passes = new Map<Target, Run>();
    for (const target of scenario.targets) {
      const mode = { once: true, seconds: FIRST_SIGHT_LIMIT_SECONDS, watchMemory: scenario.watchMemory, recorded: true, load: scenario.load };
      const run = { round: 0, ...(await measure(target, target.requestsFile, mode)) };
      passes.set(target, run);
      log(`first sight ${scenario.id.padEnd(8)} ${target.label.padEnd(27)} ${describe(run)}`);
    }
    firstSight.set(scenario, passes);
    if (options.warmupSeconds > 0) {
      // Back towards steady state before the rounds: ecamo's caches are per process,
      // so the 2-worker instance has so far seen each token in one worker only.
      for (const target of scenario.targets) await measure(target, target.requestsFile, { seconds: options.warmupSeconds, recorded: false, load: scenario.load });
    }
  }

  const rounds = new Map<Scenario, Map<Target, Run[]>>(lab.scenarios.map((s) => [s, new Map(s.targets.map((t) => [t, []]))]));
  for (let round = 0; round < options.rounds; round++) {
    for (const scenario of lab.scenarios) {
      // Rotating the order keeps "always runs first/last" from favouring one target.
      for (const target of rotate(scenario.targets, round)) {
        const mode = { seconds: options.durationSeconds, watchMemory: scenario.watchMemory, recorded: true, load: scenario.load };
        const run = { round, ...(await measure(target, target.requestsFile, mode)) };
        rounds.get(scenario)!.get(target)!.push(run);
        log(`round ${round + 1}/${options.rounds} ${scenario.id.padEnd(8)} ${target.label.padEnd(27)} ${describe(run)}`);
      }
    }
  }
  return { rounds, firstSight };
}

interface MeasureOptions {
  readonly once: boolean;
  readonly settings: WrkSettings;
  readonly watchMemory: boolean;
  readonly quietWaitSeconds: number;
  readonly log: (line: string) => void;
}

/** One wrk run against a target, with every server checked alive before and after. */
async function measureOnce(tools: Tools, lab: Lab, scripts: WrkScripts, target: Target, requestsFile: string, options: MeasureOptions): Promise<Omit<Run, 'round'>> {
  const pids = lab.servers.map((server) => server.pid);
  for (const server of lab.servers) server.assertAlive();
  if (options.quietWaitSeconds > 0) {
    await waitForQuiet(pids, options.quietWaitSeconds, QUIET_PERCENT, (percent) =>
      options.log(`other processes are using ${percent.toFixed(0)}% of the CPU; waiting up to ${options.quietWaitSeconds} s for them`));
  }
  const memorySampler = options.watchMemory ? sampleMemory(target.server.pid) : undefined;
  const cpu = watchForeignCpu(pids);
  const serverCpu = watchServerCpu(target.server.pid);
  const result = await runWrk(tools.wrk, options.once ? scripts.once : scripts.timed, options.once, target.url, requestsFile, options.settings);
  const targetCpu = serverCpu.stop();
  const foreignCpuPercent = cpu.stop();
  const memory = memorySampler?.stop();
  for (const server of lab.servers) server.assertAlive();
  await sleep(SETTLE_MS);
  return {
    ...result,
    serverCpu: targetCpu,
    ...(memory === undefined ? {} : { memory }),
    ...(foreignCpuPercent === undefined ? {} : { foreignCpuPercent }),
  };
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/** One progress line. */
function describe(run: Run): string {
  const parts = [
    `${Math.round(run.requestsPerSecond).toString().padStart(6)} req/s`,
    `${run.megabytesPerSecond.toFixed(1).padStart(7)} MB/s`,
    `p50 ${run.latencyMs.p50.toFixed(2)} ms`,
    `p99 ${run.latencyMs.p99.toFixed(2)} ms`,
    `${run.errorCount} errors`,
  ];
  if (run.memory !== undefined) parts.push(`peak RSS ${run.memory.peakRssMb.toFixed(0)} MB`);
  if (run.foreignCpuPercent !== undefined && run.foreignCpuPercent >= 1) parts.push(`other processes ${run.foreignCpuPercent.toFixed(0)}% CPU`);
  return parts.join('  ');
}
