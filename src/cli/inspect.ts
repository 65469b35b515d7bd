/**
 * `ecamo inspect TOKEN`: decodes any ecamo token, and says in plain words
 * whether the ecamo configured by the ECAMO_* environment would accept it,
 * and if not, every reason why. Exit 0: accepted; 1: rejected, or
 * undecidable (not a token, no or broken configuration).
 *
 * The diagnosis is written for people; the verdict "accepted" is only given
 * once the server's own verification code agreed.
 */
import { text as readAll } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { ConfigError } from '../config/errors.js';
import { loadConfig, type Config } from '../config/load.js';
import { diagnose, when, type InspectFlags } from '../inspect/diagnosis.js';
import { KIND_NAMES, parseInspectInput, recogniseToken } from '../inspect/input.js';
import { onlyPositional, parseOrigin } from './arguments.js';

type Env = Readonly<Record<string, string | undefined>>;

export async function inspectCommand(args: string[], env: Env, write: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { 'service-origin': { type: 'string' }, audience: { type: 'string' } },
  });
  const argument = onlyPositional(positionals, 'inspect takes exactly one token (or - to read it from stdin)');
  const flags: InspectFlags = {
    ...(values['service-origin'] === undefined ? {} : { serviceOrigin: parseOrigin('--service-origin', values['service-origin']) }),
    ...(values.audience === undefined ? {} : { audience: parseOrigin('--audience', values.audience) }),
  };
  const input = parseInspectInput(argument === '-' ? await readAll(process.stdin) : argument);

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
    if (typeof claims[name] === 'number') write(`${name}: ${when(claims[name], now)}\n`);
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
  const reasons = await diagnose(kind, input, header, claims, { config: loaded, flags, now });
  if (reasons.length === 0) {
    write(`verdict: accepted by the ecamo configured in ECAMO_* (canonical host ${loaded.canonicalHost})\n`);
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
