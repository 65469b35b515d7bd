/** What the numbers were measured on and with, for comparing runs across machines and commits. */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import type { Tools } from './prerequisites.js';
import { runCommand } from './processes.js';
import { wrkVersion } from './wrk.js';

export interface MachineInfo {
  readonly date: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly memoryGb: number;
  readonly os: string;
  /** The Node running the benchmark harness. */
  readonly node: string;
  /** The Node running ecamo and camo (--node). */
  readonly ecamoNode: string;
  /** Load average when the run began: a busy machine explains odd numbers. */
  readonly loadAverage: readonly number[];
  readonly ecamo: string;
  readonly camo: string;
  readonly nginx: string;
  readonly wrk: string;
}

export async function machineInfo(tools: Tools, repoRoot: string, ecamoNode: string): Promise<MachineInfo> {
  const cpus = os.cpus();
  const nginx = await runCommand(tools.nginx, ['-v']);
  const camoPackage = JSON.parse(readFileSync(join(dirname(tools.camo), 'package.json'), 'utf8')) as { version?: string };
  return {
    date: new Date().toISOString(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    ecamoNode: (await runCommand(ecamoNode, ['--version'])).stdout.trim(),
    loadAverage: os.loadavg().map((load) => Math.round(load * 100) / 100),
    ecamo: await ecamoVersion(repoRoot),
    camo: camoPackage.version ?? 'unknown',
    nginx: (nginx.stderr + nginx.stdout).trim().replace(/^nginx version: /, ''),
    wrk: (await wrkVersion(tools.wrk)).replace(/ Copyright.*$/, ''),
  };
}

/** The package version and commit; "+changes" when src/ differs from it (others edit src/ while we measure). */
async function ecamoVersion(repoRoot: string): Promise<string> {
  const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  try {
    const head = await runCommand('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']);
    if (head.code !== 0) return version;
    const status = await runCommand('git', ['-C', repoRoot, 'status', '--porcelain', '--', 'src']);
    return `${version} (${head.stdout.trim()}${status.stdout.trim() === '' ? '' : '+changes'})`;
  } catch {
    return version;
  }
}
