/** camo, ecamo and the bare Node proxy as separate processes, configured the way an operator would. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

const BARE_PROXY_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'bare-proxy.js');

/**
 * bench/bare-proxy.ts on `node` in front of the origin, on the port it binds (0) and reports. It runs with
 * the environment and Node flags of ecamo's bin (its shebang), so that the two differ only in what their code does.
 */
export async function startBareProxy(node: string, ecamoCli: string, originPort: number): Promise<{ readonly port: number; readonly child: Child }> {
  const { env, flags } = binRuntime(ecamoCli);
  const child = startChild('bare Node proxy', node, [...flags, BARE_PROXY_SCRIPT, `http://127.0.0.1:${originPort}`], { env: { ...process.env, ...env } });
  const port = Number((await waitForOutput(child, /bare-proxy-listening (\d+)\n/))[1]);
  // Forwarded as nginx would: the origin's /healthz.
  await waitForHttp(child, `http://127.0.0.1:${port}/healthz`);
  return { port, child };
}

/** What the bin's `#!/usr/bin/env -S NAME=value node --flag` line sets: environment before `node`, flags after. */
function binRuntime(cli: string): { readonly env: Record<string, string>; readonly flags: readonly string[] } {
  const shebang = readFileSync(cli, 'utf8').split('\n', 1)[0]!;
  const words = /^#!\S*env -S (.*)$/.exec(shebang)?.[1]?.trim().split(/\s+/) ?? [];
  const at = words.indexOf('node');
  if (at === -1) throw new Error(`${cli}: expected a "#!/usr/bin/env -S ... node ..." line, got ${shebang}`);
  return { env: Object.fromEntries(words.slice(0, at).map((word) => [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)])), flags: words.slice(at + 1) };
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
