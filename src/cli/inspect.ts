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
import { compactVerify, decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { ConfigError } from '../config/errors.js';
import { loadConfig, type Config } from '../config/load.js';
import { verifyAuthCookie } from '../tokens/auth-cookie.js';
import { assertDigestMatches } from '../tokens/digest.js';
import { CLOCK_TOLERANCE_SECONDS } from '../tokens/jws.js';
import { verifyProxyToken } from '../tokens/proxy-token.js';
import { parseSourceUrl } from '../tokens/source-url.js';
import { verifyUrlToken } from '../tokens/url-token.js';
import { assertSourceAllowed } from '../upstream/url-policy.js';
import { createIdTokenVerifier } from '../verify/index.js';
import { ArgumentError, parseOrigin } from './arguments.js';

type Env = Readonly<Record<string, string | undefined>>;

type TokenKind = 'url-token' | 'auth-cookie' | 'proxy-token' | 'id-token';

const KIND_NAMES: Readonly<Record<TokenKind, string>> = {
  'url-token': 'URL token: signed by a service origin, the last segment of /{prefix}/v1/r/{token}',
  'auth-cookie': 'authorisation cookie: signed by a service origin for ecamo',
  'proxy-token': 'proxy token: signed by ecamo, the t= of a canonical /{prefix}/v1/p/{digest} URL',
  'id-token': 'ID token: signed by ecamo, presented to a source as Authorization: Bearer',
};

/** A token, and what came with it when a whole URL, header or cookie was pasted. */
interface InspectInput {
  readonly token: string;
  /** The {digest} of a pasted proxy URL. */
  readonly digest?: string;
  /** The name of a pasted `name=value` cookie. */
  readonly cookieName?: string;
}

/** Accepts a bare token, `Bearer <token>`, a redirect or proxy URL or path, or `name=<token>`. */
function parseInspectInput(raw: string): InspectInput {
  const text = raw.trim();
  const bearer = /^(?:authorization:\s*)?bearer\s+(\S+)$/i.exec(text);
  if (bearer !== null) return { token: bearer[1]! };
  const proxy = /\/v1\/p\/([^/?#\s]+)\?(?:[^#\s]*&)?t=([^&#\s]+)/.exec(text);
  if (proxy !== null) return { token: decodeURIComponent(proxy[2]!), digest: proxy[1]! };
  const redirect = /\/v1\/r\/([^/?#\s]+)/.exec(text);
  if (redirect !== null) return { token: redirect[1]! };
  const cookie = /^(?:cookie:\s*)?([^=\s;]+)=([^;\s]+);?$/i.exec(text);
  if (cookie !== null) return { token: cookie[2]!, cookieName: cookie[1]! };
  return { token: text };
}

/** Which ecamo token the claims describe; undefined when none. */
function recogniseToken(claims: JWTPayload): TokenKind | undefined {
  if (claims.iss === 'ecamo:s' || claims.aud === 'ecamo:p') return 'proxy-token';
  if ('ecamo:url' in claims) return 'url-token';
  if (claims.sub === 'anonymous' && 'ecamo:svc' in claims) return 'id-token';
  if (typeof claims.iss === 'string' && claims.aud !== undefined) return 'auth-cookie';
  return undefined;
}

/** `3 min`, `45 s`, `2 h`, `12 days`: how people read token ages. */
function duration(seconds: number): string {
  const s = Math.round(Math.abs(seconds));
  if (s < 120) return `${s} s`;
  if (s < 2 * 3600) return `${Math.round(s / 60)} min`;
  if (s < 2 * 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

function when(time: number, now: number): string {
  const iso = new Date(time * 1000).toISOString().replace('.000Z', 'Z');
  return `${iso} (${time === now ? 'now' : time > now ? `in ${duration(time - now)}` : `${duration(now - time)} ago`})`;
}

interface InspectFlags {
  /** The service origin a request would come from (URL tokens, cookies); default: what `iss` says, in ecamo's scheme. */
  readonly serviceOrigin?: string;
  /** The source origin an ID token should be for. */
  readonly audience?: string;
}

interface Context {
  readonly config: Config;
  readonly flags: InspectFlags;
  readonly now: number;
}

export async function inspectCommand(args: string[], env: Env, write: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { 'service-origin': { type: 'string' }, audience: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new ArgumentError('inspect takes exactly one token (or - to read it from stdin)');
  const flags: InspectFlags = {
    ...(values['service-origin'] === undefined ? {} : { serviceOrigin: parseOrigin('--service-origin', values['service-origin']) }),
    ...(values.audience === undefined ? {} : { audience: parseOrigin('--audience', values.audience) }),
  };
  const input = parseInspectInput(positionals[0] === '-' ? await readAll(process.stdin) : positionals[0]!);

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

async function diagnose(
  kind: TokenKind,
  input: InspectInput,
  header: ProtectedHeaderParameters,
  claims: JWTPayload,
  context: Context,
): Promise<string[]> {
  const reasons: string[] = [];
  const serviceOrigin = kind === 'url-token' || kind === 'auth-cookie' ? expectedServiceOrigin(claims, context, reasons) : undefined;

  if (header.alg !== 'ES256') reasons.push(`alg is ${String(header.alg)}, not ES256`);
  const key = lookUpKey(kind, header, serviceOrigin, context.config, reasons);
  if (key !== undefined && header.alg === 'ES256') {
    try {
      await compactVerify(input.token, key.key, { algorithms: ['ES256'] });
    } catch {
      reasons.push(`bad signature: not signed by the key ${key.name}`);
    }
  }
  checkTimes(claims, kind !== 'url-token', context.now, reasons);
  switch (kind) {
    case 'url-token':
      checkSource(claims['ecamo:url'], context.config, reasons);
      if (claims['ecamo:send-token'] !== undefined && typeof claims['ecamo:send-token'] !== 'boolean') {
        reasons.push('ecamo:send-token is not true or false');
      }
      break;
    case 'auth-cookie':
      checkCookie(claims, input, serviceOrigin, context.config, reasons);
      break;
    case 'proxy-token':
      checkProxyToken(claims, input, context.config, reasons);
      break;
    case 'id-token':
      checkIdToken(claims, context, reasons);
      break;
  }
  if (reasons.length === 0) {
    const failure = await serverRefusal(kind, input.token, claims, serviceOrigin, context);
    if (failure !== undefined) reasons.push(`ecamo's own check refuses it: ${failure}`);
  }
  return reasons;
}

/** The origin ecamo would see a request from: `--service-origin`, else the host in `iss` in ecamo's scheme. */
function expectedServiceOrigin(claims: JWTPayload, { config, flags }: Context, reasons: string[]): string | undefined {
  const iss = claims.iss;
  let origin = flags.serviceOrigin;
  if (origin === undefined && typeof iss === 'string' && URL.canParse(iss)) {
    const url = new URL(iss);
    origin = `${config.insecure ? url.protocol.slice(0, -1) : 'https'}://${url.host}`;
  }
  if (origin === undefined) {
    reasons.push(`iss is ${JSON.stringify(iss)}, not a service origin`);
    return undefined;
  }
  if (iss !== origin) {
    const why = !config.insecure && typeof iss === 'string' && iss.startsWith('http:') ? ' (without ECAMO_INSECURE every service origin is https)' : '';
    reasons.push(`wrong iss: the token says ${JSON.stringify(iss)}, ecamo would see the service origin ${origin}${why}`);
  }
  const host = new URL(origin).host;
  if (config.serviceHostRegexp !== undefined && !config.serviceHostRegexp.test(host)) {
    reasons.push(`service host ${host} does not match ECAMO_SERVICE_HOST_REGEXP (403 unallowed-service-host)`);
  }
  return origin;
}

function lookUpKey(
  kind: TokenKind,
  header: ProtectedHeaderParameters,
  serviceOrigin: string | undefined,
  config: Config,
  reasons: string[],
): { key: CryptoKey; name: string } | undefined {
  if (typeof header.kid !== 'string') {
    reasons.push('the header has no kid');
    return undefined;
  }
  if (kind === 'proxy-token' || kind === 'id-token') {
    const key = config.ecamoKeys.verification.get(header.kid);
    if (key !== undefined) return { key, name: `"${header.kid}" of ECAMO_PRIVATE_KEYS` };
    reasons.push(`unknown kid "${header.kid}": ECAMO_PRIVATE_KEYS has ${[...config.ecamoKeys.verification.keys()].map((kid) => `"${kid}"`).join(', ')}`);
    return undefined;
  }
  if (serviceOrigin === undefined) return undefined;
  const name = `${serviceOrigin} ${header.kid}`;
  const key = config.serviceKeys.get(name);
  if (key !== undefined) return { key, name: `"${name}" of ECAMO_SERVICE_PUBLIC_KEYS` };
  const kids = [...config.serviceKeys.keys()].filter((entry) => entry.startsWith(`${serviceOrigin} `)).map((entry) => `"${entry}"`);
  reasons.push(`unknown kid "${name}": ECAMO_SERVICE_PUBLIC_KEYS has ${kids.length === 0 ? `no key for ${serviceOrigin}` : kids.join(', ')}`);
  return undefined;
}

function checkTimes(claims: JWTPayload, expRequired: boolean, now: number, reasons: string[]): void {
  const { exp, nbf } = claims;
  if (exp === undefined) {
    if (expRequired) reasons.push('no exp claim, which this token must have');
  } else if (typeof exp !== 'number') {
    reasons.push('exp is not a number');
  } else if (exp <= now - CLOCK_TOLERANCE_SECONDS) {
    reasons.push(`expired ${duration(now - exp)} ago (exp ${when(exp, now)})`);
  }
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + CLOCK_TOLERANCE_SECONDS)) {
    reasons.push(typeof nbf === 'number' ? `not valid yet: nbf ${when(nbf, now)}` : 'nbf is not a number');
  }
}

function checkSource(url: unknown, config: Config, reasons: string[]): void {
  try {
    assertSourceAllowed(parseSourceUrl(url).href, config);
  } catch (error) {
    reasons.push(`ecamo:url: ${(error as Error).message}`);
  }
}

function checkCookie(claims: JWTPayload, input: InspectInput, serviceOrigin: string | undefined, config: Config, reasons: string[]): void {
  if (serviceOrigin !== undefined) {
    const canonicalOrigin = `${new URL(serviceOrigin).protocol}//${config.canonicalHost}`;
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audiences.includes(canonicalOrigin)) {
      reasons.push(`wrong aud: the token is for ${JSON.stringify(claims.aud)}, ecamo's canonical origin is ${canonicalOrigin}`);
    }
  }
  if (input.cookieName !== undefined && input.cookieName !== config.authCookie) {
    reasons.push(`the cookie is named ${input.cookieName}, ecamo reads ${config.authCookie} (ECAMO_AUTH_COOKIE)`);
  }
}

function checkProxyToken(claims: JWTPayload, input: InspectInput, config: Config, reasons: string[]): void {
  if (claims.iss !== 'ecamo:s') reasons.push(`wrong iss: ${JSON.stringify(claims.iss)}, proxy tokens have "ecamo:s"`);
  if (claims.aud !== 'ecamo:p') reasons.push(`wrong aud: ${JSON.stringify(claims.aud)}, proxy tokens have "ecamo:p"`);
  if (typeof claims['ecamo:svc'] !== 'string') reasons.push('ecamo:svc is missing or not a string');
  if (claims['ecamo:tok'] !== undefined && typeof claims['ecamo:tok'] !== 'boolean') reasons.push('ecamo:tok is not true or false');
  checkSource(claims['ecamo:url'], config, reasons);
  if (input.digest !== undefined && typeof claims['ecamo:url'] === 'string' && URL.canParse(claims['ecamo:url'])) {
    try {
      assertDigestMatches(input.digest, new URL(claims['ecamo:url']).href);
    } catch (error) {
      reasons.push(`the URL's digest: ${(error as Error).message}`);
    }
  }
}

/** ID tokens are issued as `https://CANONICAL_HOST`, or with the scheme of the request in insecure mode. */
function idTokenIssuers(config: Config): string[] {
  const secure = `https://${config.canonicalHost}`;
  return config.insecure ? [`http://${config.canonicalHost}`, secure] : [secure];
}

function checkIdToken(claims: JWTPayload, { config, flags }: Context, reasons: string[]): void {
  const issuers = idTokenIssuers(config);
  if (typeof claims.iss !== 'string' || !issuers.includes(claims.iss)) {
    reasons.push(`wrong iss: ${JSON.stringify(claims.iss)}, ecamo issues ID tokens as ${issuers.join(' or ')}`);
  }
  if (typeof claims.aud !== 'string') reasons.push('aud is missing or not a string');
  else if (flags.audience !== undefined && claims.aud !== flags.audience) {
    reasons.push(`wrong aud: the token is for ${claims.aud}, not ${flags.audience}`);
  }
  if (typeof claims.jti !== 'string') reasons.push('no jti, which sources need to refuse replays');
  if (typeof claims.iat !== 'number') reasons.push('no iat');
}

/** What the server's (or the source verifier's) own code says; undefined when it accepts. */
async function serverRefusal(
  kind: TokenKind,
  token: string,
  claims: JWTPayload,
  serviceOrigin: string | undefined,
  { config, flags }: Context,
): Promise<string | undefined> {
  try {
    switch (kind) {
      // For service-signed tokens the diagnosis found a service origin, or it would not be here.
      case 'url-token':
        await verifyUrlToken(token, serviceOrigin!, config.serviceKeys);
        return undefined;
      case 'auth-cookie':
        await verifyAuthCookie(token, serviceOrigin!, `${new URL(serviceOrigin!).protocol}//${config.canonicalHost}`, config.serviceKeys);
        return undefined;
      case 'proxy-token':
        await verifyProxyToken(token, config.ecamoKeys);
        return undefined;
      case 'id-token':
        // Replays cannot be judged from one token; the audience is the one checked above.
        await createIdTokenVerifier({
          ecamoOrigin: claims.iss!,
          audience: flags.audience ?? (claims.aud as string),
          keys: { keys: [...config.ecamoKeys.publicJwks] },
          replay: false,
          clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
        }).verify(token);
        return undefined;
    }
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return `${typeof code === 'string' ? `${code}: ` : ''}${(error as Error).message}`;
  }
}
