/**
 * The benchmark installs nothing: it finds nginx, Debian's camo and wrk, or
 * says exactly which packages are missing.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface Tools {
  readonly nginx: string;
  readonly wrk: string;
  /** Debian's atmos/camo, run with node. */
  readonly camo: string;
  /** ecamo's compiled CLI. */
  readonly ecamo: string;
}

const CAMO_SERVER = '/usr/share/camo/server.js';

/** Returns the tools, or prints what to install and exits 1. */
export function findTools(ecamoCli: string): Tools {
  const nginx = findExecutable('nginx');
  const wrk = findExecutable('wrk');
  const camo = existsSync(CAMO_SERVER) ? CAMO_SERVER : undefined;

  const missing: string[] = [];
  if (nginx === undefined) missing.push('nginx-light');
  if (camo === undefined) missing.push('camo');
  if (wrk === undefined) missing.push('wrk');
  if (missing.length > 0) {
    process.stderr.write(`bench: missing ${missing.join(', ')}; install with:\n  apt-get install -y ${missing.join(' ')}\n`);
    process.exit(1);
  }
  if (!existsSync(ecamoCli)) {
    process.stderr.write(`bench: ${ecamoCli} is missing; build first (npm run build)\n`);
    process.exit(1);
  }
  return { nginx: nginx!, wrk: wrk!, camo: camo!, ecamo: ecamoCli };
}

/** Looks in PATH and in the sbin directories, which a non-root PATH often lacks. */
function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
