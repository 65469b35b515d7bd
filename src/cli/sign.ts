/**
 * `ecamo sign-url` and `ecamo sign-cookie`: what a service origin's code
 * does with `ecamo/signer`, from a shell (debugging, scripts, curl).
 *
 * The key comes from `--key-file FILE` (the JSON `ecamo keygen` prints, or a
 * bare private JWK) or else from ECAMO_SIGNER_PRIVATE_JWK. The origin and kid
 * are taken from, in order: `--origin`/`--kid`; the key file; the
 * environment (ECAMO_SIGNER_ORIGIN, ECAMO_SIGNER_KID); the key itself (the
 * JWK's `kid`, the origin keygen was given).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { JWK } from 'jose';
import { parseCamoKeys } from '../config/camo-keys.js';
import { ConfigError } from '../config/errors.js';
import { camoUrl, createSigner, type Signer } from '../signer/index.js';
import { ArgumentError, onlyPositional, parseOrigin, parseSeconds } from './arguments.js';

const SIGNER_ENV = Object.freeze({
  origin: 'ECAMO_SIGNER_ORIGIN',
  kid: 'ECAMO_SIGNER_KID',
  privateJwk: 'ECAMO_SIGNER_PRIVATE_JWK',
});

type Env = Readonly<Record<string, string | undefined>>;

const KEY_OPTIONS = {
  'key-file': { type: 'string' },
  origin: { type: 'string' },
  kid: { type: 'string' },
} as const;

interface KeyFlags {
  readonly 'key-file'?: string | undefined;
  readonly origin?: string | undefined;
  readonly kid?: string | undefined;
}

/** A value and where it came from, so that errors name the right flag or variable. */
interface Sourced {
  readonly value: string;
  readonly from: string;
}

interface KeyMaterial {
  readonly jwk: Sourced & { readonly parsed: JWK };
  readonly kid: string | undefined;
  readonly origin: string | undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A bare JWK, or `ecamo keygen` output (its privateJwk, kid, and the origin of its one service key). */
function parseKeyMaterial(from: string, text: string): KeyMaterial {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConfigError(from, 'is not valid JSON');
  }
  if (!isObject(value)) throw new ConfigError(from, 'must hold a private JWK or the output of `ecamo keygen`');
  if (!isObject(value.privateJwk)) {
    return { jwk: { value: text, from, parsed: value }, kid: typeof value.kid === 'string' ? value.kid : undefined, origin: undefined };
  }
  const jwk = value.privateJwk as JWK;
  const serviceKeys = isObject(value.ECAMO_SERVICE_PUBLIC_KEYS) ? Object.keys(value.ECAMO_SERVICE_PUBLIC_KEYS) : [];
  return {
    jwk: { value: text, from, parsed: jwk },
    kid: typeof value.kid === 'string' ? value.kid : jwk.kid,
    origin: serviceKeys.length === 1 ? serviceKeys[0]?.split(' ')[0] : undefined,
  };
}

function first(...candidates: [string | undefined, string][]): Sourced | undefined {
  for (const [value, from] of candidates) if (value !== undefined && value !== '') return { value, from };
  return undefined;
}

async function loadKeyMaterial(flags: KeyFlags, env: Env): Promise<{ material: KeyMaterial; fromFile: boolean }> {
  const file = flags['key-file'];
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new ConfigError('--key-file', `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return { material: parseKeyMaterial(`--key-file ${file}`, text), fromFile: true };
  }
  const text = env[SIGNER_ENV.privateJwk];
  if (text === undefined || text === '') throw new ConfigError(SIGNER_ENV.privateJwk, 'is required when --key-file is not given');
  return { material: parseKeyMaterial(SIGNER_ENV.privateJwk, text), fromFile: false };
}

/** The service's signer, from flags, key file and environment (see the module comment for the order). */
async function signerFromArguments(flags: KeyFlags, env: Env): Promise<Signer> {
  const { material, fromFile } = await loadKeyMaterial(flags, env);
  const fileSays = (value: string | undefined): [string | undefined, string] => [fromFile ? value : undefined, material.jwk.from];
  const keySays = (value: string | undefined): [string | undefined, string] => [value, material.jwk.from];
  const origin = first([flags.origin, '--origin'], fileSays(material.origin), [env[SIGNER_ENV.origin], SIGNER_ENV.origin], keySays(material.origin));
  const kid = first([flags.kid, '--kid'], fileSays(material.kid), [env[SIGNER_ENV.kid], SIGNER_ENV.kid], keySays(material.kid));
  if (origin === undefined) throw new ConfigError(SIGNER_ENV.origin, 'is required (or --origin, or a key file from `ecamo keygen --origin`)');
  if (kid === undefined) throw new ConfigError(SIGNER_ENV.kid, 'is required (or --kid, or a JWK with a kid)');
  try {
    return await createSigner({ origin: origin.value, kid: kid.value, privateJwk: material.jwk.parsed });
  } catch (error) {
    const message = (error as Error).message;
    const culprit = message.startsWith('origin') ? origin.from : message.startsWith('kid') ? kid.from : material.jwk.from;
    throw new ConfigError(culprit, message);
  }
}

/** `ecamo sign-url URL [--send-token] [--prefix P] [--ttl S]`: prints `/{prefix}/v1/r/{token}`. */
export async function signUrlCommand(args: string[], env: Env, write: (text: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...KEY_OPTIONS, 'send-token': { type: 'boolean' }, prefix: { type: 'string' }, ttl: { type: 'string' } },
  });
  const sourceUrl = onlyPositional(positionals, 'sign-url takes exactly one source URL');
  const ttlSeconds = values.ttl === undefined ? undefined : parseSeconds('--ttl', values.ttl);
  const signer = await signerFromArguments(values, env);
  let path: string;
  try {
    path = await signer.url(sourceUrl, {
      sendToken: values['send-token'] === true,
      ...(values.prefix === undefined ? {} : { prefix: values.prefix }),
      ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
    });
  } catch (error) {
    throw new ArgumentError((error as Error).message);
  }
  write(`${path}\n`);
}

const COOKIE_FORMATS = ['set-cookie', 'cookie', 'token'] as const;

/**
 * `ecamo sign-cookie --canonical-origin O [--ttl S] [--subject SUB]`: prints
 * the auth cookie as a Set-Cookie value (default), as `name=token` for a
 * Cookie header (`--format cookie`, e.g. for curl -b), or the bare token.
 */
export async function signCookieCommand(args: string[], env: Env, write: (text: string) => void): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...KEY_OPTIONS,
      'canonical-origin': { type: 'string' },
      ttl: { type: 'string', default: '300' },
      subject: { type: 'string' },
      'cookie-name': { type: 'string' },
      insecure: { type: 'boolean' },
      format: { type: 'string', default: 'set-cookie' },
    },
  });
  if (values['canonical-origin'] === undefined) throw new ArgumentError('sign-cookie needs --canonical-origin, e.g. https://ecamo.example');
  const canonicalOrigin = parseOrigin('--canonical-origin', values['canonical-origin']);
  const format = values.format as (typeof COOKIE_FORMATS)[number];
  if (!COOKIE_FORMATS.includes(format)) throw new ArgumentError(`--format must be one of ${COOKIE_FORMATS.join(', ')}`);
  const ttlSeconds = parseSeconds('--ttl', values.ttl);
  const signer = await signerFromArguments(values, env);
  let cookie: Awaited<ReturnType<Signer['authCookie']>>;
  try {
    cookie = await signer.authCookie({
      canonicalOrigin,
      ttlSeconds,
      insecure: values.insecure === true,
      ...(values.subject === undefined ? {} : { subject: values.subject }),
      ...(values['cookie-name'] === undefined ? {} : { cookieName: values['cookie-name'] }),
    });
  } catch (error) {
    throw new ArgumentError((error as Error).message);
  }
  const output = { 'set-cookie': cookie.setCookie, cookie: `${cookie.name}=${cookie.token}`, token: cookie.token }[format];
  write(`${output}\n`);
}

const CAMO_ENCODINGS = ['hex', 'base64'] as const;

/**
 * `ecamo sign-camo URL [--key K] [--encoding hex|base64]`: prints the camo
 * path for a source URL, signed with `--key` or else the first (newest) key of
 * ECAMO_CAMO_KEY, the one a server configured alike verifies first.
 */
export async function signCamoCommand(args: string[], env: Env, write: (text: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { key: { type: 'string' }, encoding: { type: 'string', default: 'hex' } },
  });
  const sourceUrl = onlyPositional(positionals, 'sign-camo takes exactly one source URL');
  const encoding = values.encoding as (typeof CAMO_ENCODINGS)[number];
  if (!CAMO_ENCODINGS.includes(encoding)) throw new ArgumentError(`--encoding must be one of ${CAMO_ENCODINGS.join(', ')}`);
  let key = values.key;
  if (key === undefined) {
    const keys = env.ECAMO_CAMO_KEY;
    if (keys === undefined || keys === '') throw new ConfigError('ECAMO_CAMO_KEY', 'is required when --key is not given');
    [key] = parseCamoKeys('ECAMO_CAMO_KEY', keys);
  }
  if (key === '') throw new ArgumentError('--key must not be empty');
  let path: string;
  try {
    path = await camoUrl(key, sourceUrl, { encoding });
  } catch (error) {
    throw new ArgumentError((error as Error).message);
  }
  write(`${path}\n`);
}
