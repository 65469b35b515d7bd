/** camo and ecamo as separate processes, configured the way an operator would. */
import { dirname } from 'node:path';
import type { GeneratedKey } from '../src/config/generate-key.js';
import { CAMO_LISTENING, CAMO_PORT_REPORTER } from '../test/helpers/server-ports.js';
import { startChild, startOnSomePort, waitForHttp, waitForOutput, type Child } from './processes.js';

/** Fits both images (camo and ecamo share the 5 MiB default; stated so it cannot drift). */
const LENGTH_LIMIT = 5 * 1024 * 1024;

/** Debian's atmos/camo on `node` with upstream keep-alive on, on the port it binds (0) and reports (test/helpers/camo-port.ts). */
export async function startCamo(server: string, node: string, key: string): Promise<{ readonly port: number; readonly child: Child }> {
  const env = {
    ...withoutPrefix(process.env, 'CAMO_'),
    PORT: '0',
    CAMO_KEY: key,
    CAMO_KEEP_ALIVE: 'true',
    CAMO_LOGGING_ENABLED: 'disabled',
    CAMO_LENGTH_LIMIT: String(LENGTH_LIMIT),
  };
  // --no-deprecation: camo uses `new Buffer` and url.parse; the warnings are noise here.
  const child = startChild('camo', node, ['--no-deprecation', '--import', CAMO_PORT_REPORTER, server], { env });
  const port = Number((await waitForOutput(child, CAMO_LISTENING))[1]);
  await waitForHttp(child, `http://127.0.0.1:${port}/`);
  return { port, child };
}

export interface EcamoOptions {
  /** For progress and errors. */
  readonly name: string;
  readonly cli: string;
  /** The Node binary that runs it: its directory goes first on PATH, where the bin's shebang looks. */
  readonly node: string;
  readonly workers: number;
  readonly ecamoKey: GeneratedKey;
  /** The service origin whose key signs URL tokens; undefined: its own `http://127.0.0.1:<port>`, where the benchmark sends redirect requests. */
  readonly serviceOrigin: string | undefined;
  readonly serviceKey: GeneratedKey;
  readonly originPort: number;
  readonly cwd: string;
  /** The key camo signs with: ecamo serves the very same camo URLs (ECAMO_CAMO_KEY). */
  readonly camoKey: string;
}

/**
 * `ecamo serve` on some free port, its cache and token caches at their defaults: its canonical host
 * (and, by default, its service host) is its own address, port included.
 */
export async function startEcamo(options: EcamoOptions): Promise<{ readonly port: number; readonly child: Child }> {
  const { name } = options;
  return startOnSomePort(name, async (port) => {
    // Run as the installed bin runs (its shebang carries ecamo's V8 flags), not as `node main.js`.
    const child = startChild(name, options.cli, ['serve'], { env: ecamoEnv(options, port), cwd: options.cwd });
    await waitForHttp(child, `http://127.0.0.1:${port}/healthz`);
    return child;
  });
}

function ecamoEnv(options: EcamoOptions, port: number): NodeJS.ProcessEnv {
  const { ecamoKey, serviceKey } = options;
  return {
    ...withoutPrefix(process.env, 'ECAMO_'),
    PATH: `${dirname(options.node)}:${process.env.PATH ?? ''}`,
    ECAMO_BIND: `127.0.0.1:${port}`,
    ECAMO_CANONICAL_HOST: `127.0.0.1:${port}`,
    ECAMO_INSECURE: 'true',
    ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamoKey.kid]: ecamoKey.privateJwk }),
    ECAMO_SIGNING_KID: ecamoKey.kid,
    ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`${options.serviceOrigin ?? `http://127.0.0.1:${port}`} ${serviceKey.kid}`]: serviceKey.publicJwk }),
    ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${options.originPort}/`,
    ECAMO_MAX_LENGTH: String(LENGTH_LIMIT),
    // Proxy tokens issued by the redirect endpoint must outlive the whole run.
    ECAMO_TOKEN_LIFETIME: '7200',
    ECAMO_LOG_LEVEL: 'warn',
    ECAMO_WORKERS: String(options.workers),
    ECAMO_SHUTDOWN_GRACE: '1',
    ECAMO_CAMO_KEY: options.camoKey,
  };
}

/** The parent's environment minus one program's variables, so a developer's shell cannot skew the run. */
function withoutPrefix(env: NodeJS.ProcessEnv, prefix: string): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith(prefix)));
}
