/**
 * `ecamo inspect`: decodes any ecamo token or camo URL, and says in plain
 * words whether the ecamo configured by the ECAMO_* environment would accept
 * it, and if not, why. Exit 0: accepted; 1: rejected, or undecidable (not a
 * token, no or broken configuration). cli/inspect.ts parses the arguments.
 */
import { createSecretKey } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { parseCamoKeys } from '../config/camo-keys.js';
import { ConfigError } from '../config/errors.js';
import { loadConfig, type Config } from '../config/load.js';
import { inspectCamoUrl, parseCamoInput, type CamoInput, type CamoKeys } from './camo.js';
import { diagnose, when, type InspectFlags } from './diagnosis.js';
import { KIND_NAMES, parseInspectInput, recogniseToken } from './input.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface InspectOptions extends InspectFlags {
  /** camo keys to check a camo URL with instead of ECAMO_CAMO_KEY's. */
  readonly camoKeys?: readonly string[];
}

export async function inspect(text: string, options: InspectOptions, env: Env, write: (text: string) => void): Promise<number> {
  const camo = parseCamoInput(text);
  if (camo !== undefined) return inspectCamo(camo, options, env, write);
  const input = parseInspectInput(text);

  let header: ProtectedHeaderParameters;
  let claims: JWTPayload;
  try {
    header = decodeProtectedHeader(input.token);
    claims = decodeJwt(input.token);
  } catch (error) {
    write(`not a JWT: ${(error as Error).message}\n`);
    return 1;
  }
  const now = Math.floor(Date.now() / 1000);
  const kind = recogniseToken(claims);
  write(`kind: ${kind === undefined ? 'unknown (no ecamo token has these claims)' : KIND_NAMES[kind]}\n`);
  write(`header: ${JSON.stringify(header, null, 2)}\n`);
  write(`claims: ${JSON.stringify(claims, null, 2)}\n`);
  for (const name of ['iat', 'nbf', 'exp'] as const) {
    // 1e400 reads as Infinity: no date to show (the diagnosis says why).
    if (Number.isFinite(claims[name])) write(`${name}: ${when(Number(claims[name]), now)}\n`);
  }
  if (kind === undefined) {
    write('verdict: undecidable: not an ecamo token\n');
    return 1;
  }

  const loaded = await configFrom(env);
  if (typeof loaded === 'string') {
    write(`verdict: undecidable: ${loaded}\n`);
    return 1;
  }
  return verdict(await diagnose(kind, input, header, claims, { config: loaded, flags: options, now }), loaded, write);
}

async function inspectCamo(input: CamoInput, options: InspectOptions, env: Env, write: (text: string) => void): Promise<number> {
  const loaded = await configFrom(env);
  const config = typeof loaded === 'string' ? undefined : loaded;
  let keys: CamoKeys;
  if (options.camoKeys !== undefined) {
    keys = { keys: options.camoKeys.map((key) => createSecretKey(key, 'utf8')), from: '--camo-key' };
  } else if (config !== undefined) {
    keys = { keys: config.camoKeys, from: 'ECAMO_CAMO_KEY' };
  } else {
    // Without the rest of the configuration, ECAMO_CAMO_KEY alone still judges the HMAC.
    const text = env.ECAMO_CAMO_KEY;
    try {
      keys = { keys: text === undefined || text === '' ? [] : parseCamoKeys('ECAMO_CAMO_KEY', text).map((key) => createSecretKey(key, 'utf8')), from: 'ECAMO_CAMO_KEY' };
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      write(`verdict: undecidable: ${error.message}\n`);
      return 1;
    }
  }
  const report = inspectCamoUrl(input, keys, config);
  write(report.lines.map((line) => `${line}\n`).join(''));
  if (typeof loaded === 'string' && report.reasons.length === 0) {
    write(`verdict: undecidable: ${loaded}\n`);
    return 1;
  }
  return verdict(report.reasons, config, write);
}

function verdict(reasons: readonly string[], config: Config | undefined, write: (text: string) => void): number {
  if (reasons.length === 0 && config !== undefined) {
    write(`verdict: accepted by the ecamo configured in ECAMO_* (canonical host ${config.canonicalHost})\n`);
    return 0;
  }
  write(`verdict: rejected\n${reasons.map((reason) => `  - ${reason}\n`).join('')}`);
  return 1;
}

/** The server configuration, or why there is none. */
async function configFrom(env: Env): Promise<Config | string> {
  const required = ['ECAMO_CANONICAL_HOST', 'ECAMO_SERVICE_PUBLIC_KEYS', 'ECAMO_PRIVATE_KEYS'];
  if (required.every((name) => env[name] === undefined || env[name] === '')) {
    return `no ecamo configuration in the environment (set ${required.join(', ')} as for \`ecamo serve\`)`;
  }
  try {
    return await loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return `the ECAMO_* configuration is wrong: ${error.message}`;
    throw error;
  }
}
