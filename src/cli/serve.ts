import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { serveHelp } from '../config/settings-doc.js';

/**
 * `ecamo serve [--help]`: configuration from ECAMO_* (validated before
 * anything listens, `ECAMO_WORKERS=auto` counting this machine's CPUs), then
 * the server's processes (server/workers.ts). `--help` lists the settings and
 * needs none of them.
 */
export async function serveCommand(args: string[], env: NodeJS.ProcessEnv, write: (text: string) => void): Promise<void> {
  const { values } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help === true) return write(serveHelp());
  const config = await loadConfig(env, { cpus: availableParallelism() });
  // Loaded only to serve: `--help` does without the server's modules.
  await (await import('../server/workers.js')).runWorkers(config);
}
