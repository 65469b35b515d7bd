import { createSecretKey, type KeyObject } from 'node:crypto';
import type { CryptoKey } from 'jose';
import { parseCamoKeys } from './camo-keys.js';
import { ConfigError } from './errors.js';
import { loadFallbackImage, type FallbackImage } from './fallback-image.js';
import { loadTlsFiles, type TlsFiles } from './tls.js';
import {
  loadEcamoKeys,
  loadEcamoKeysFile,
  loadServicePublicKeys,
  loadServicePublicKeysFile,
  type EcamoKeys,
  type KeySources,
} from './keys.js';
import { parseRedisUrl, type RedisTarget } from './redis-url.js';
import { loadTracingSettings, type TracingSettings } from './tracing.js';
import { parseTrustedProxies, type TrustedProxies } from './trusted-proxies.js';
import { ECAMO_VERSION } from './version.js';

/** Longest proxy-token lifetime `ECAMO_TOKEN_LIFETIME` allows; tokens/proxy-token.ts refuses a later `exp`. */
export const MAX_PROXY_TOKEN_LIFETIME_SECONDS = 86_400;

/**
 * How proxy tokens are minted (`ECAMO_PROXY_TOKEN_ALG`): HS256 under a key
 * derived from the signing key (config/keys.ts), or ES256 as the reference
 * server mints them. Both are accepted whatever this says.
 */
export const PROXY_TOKEN_ALGS = ['HS256', 'ES256'] as const;
export type ProxyTokenAlg = (typeof PROXY_TOKEN_ALGS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Everything the server needs, validated and frozen before the first request. */
export interface Config {
  readonly bind: { readonly host: string; readonly port: number };
  /** HTTPS with HTTP/2 on the public listener (`ECAMO_TLS_CERT`, `ECAMO_TLS_KEY`); undefined: plain HTTP/1.1. */
  readonly tls: TlsFiles | undefined;
  /** Metrics and probes (`ECAMO_ADMIN_BIND`); undefined: no admin listener. */
  readonly adminBind: { readonly host: string; readonly port: number } | undefined;
  readonly canonicalHost: string;
  /** The keys at start; a running server reads its current ones from `TokenService.keys` (key files reload). */
  readonly serviceKeys: ReadonlyMap<string, CryptoKey>;
  readonly ecamoKeys: EcamoKeys;
  readonly keySources: KeySources;
  readonly serviceHostRegexp: RegExp | undefined;
  readonly sourceAllowedRegexp: RegExp | undefined;
  readonly sourceBlockedRegexp: RegExp | undefined;
  readonly privateSourceAllowedRegexp: RegExp | undefined;
  readonly prefix: string;
  readonly maxRedirects: number;
  readonly maxLength: number;
  readonly contentTypeAllowed: ReadonlySet<string>;
  /** ECAMO_SVG: SVG served under the CSP sandbox, or refused. */
  readonly svg: 'sandbox' | 'refuse';
  /** ECAMO_SNIFF_UNLABELLED: a 200 without Content-Type is served when its bytes are an allowed image. */
  readonly sniffUnlabelled: boolean;
  /** ECAMO_FALLBACK_IMAGE as read at start; a running server holds the current one (it reloads on SIGHUP). */
  readonly fallbackImage: FallbackImage | undefined;
  readonly timeoutMs: number;
  readonly tokenLifetimeSeconds: number;
  readonly proxyTokenAlg: ProxyTokenAlg;
  readonly authCookie: string;
  readonly defaultCacheControl: string;
  readonly defaultSurrogateControl: string | undefined;
  /** The User-Agent sent to sources, on every hop (`ECAMO_USER_AGENT`, default `ecamo/<version>`). */
  readonly userAgent: string;
  readonly insecure: boolean;
  readonly logLevel: LogLevel;
  /** Processes sharing the port (node:cluster); 1 runs in-process. */
  readonly workers: number;
  /** Upper bound on how long SIGTERM waits for in-flight responses. */
  readonly shutdownGraceMs: number;
  /** HMAC-SHA1 keys that sign camo-format URLs (ECAMO_CAMO_KEY); empty when camo URLs are off. */
  readonly camoKeys: readonly KeyObject[];
  /** Shared state across instances (quarantine, cache); undefined keeps it per instance, in memory. */
  readonly redis: RedisTarget | undefined;
  /** Peers whose `X-Forwarded-For` and `sec-x-ecamo-service-host` count; undefined: every peer's service host counts. */
  readonly trustedProxies: TrustedProxies | undefined;
  /** Quarantine of addresses presenting refused credentials; undefined when off (ECAMO_QUARANTINE_FAILURES=0). */
  readonly quarantine: QuarantineSettings | undefined;
  /** Bytes of source answers kept in memory; 0 turns the cache off. */
  readonly cacheMaxBytes: number;
  /** Larger answers are streamed, never kept. */
  readonly cacheMaxEntryBytes: number;
  /** Requests an image takes, within the admission window, before a copy is kept; 1 keeps it from its first. */
  readonly cacheMinUses: number;
  /** OpenTelemetry traces from the standard OTEL_* variables (config/tracing.ts); undefined when off. */
  readonly tracing: TracingSettings | undefined;
}

export interface QuarantineSettings {
  readonly failures: number;
  readonly windowSeconds: number;
  readonly periodSeconds: number;
  /** IPv6 clients are counted by their network of this many leading bits (ECAMO_QUARANTINE_IPV6_PREFIX). */
  readonly ipv6PrefixBits: number;
}

/** The protocol's default allow-list, the common image types (docs/protocol.md §9). */
export const DEFAULT_CONTENT_TYPES: readonly string[] = Object.freeze([
  'image/avif',
  'image/bmp',
  'image/gif',
  'image/heic',
  'image/heif',
  'image/jpeg',
  'image/jpg',
  'image/png',
  'image/svg+xml',
  'image/tiff',
  'image/vnd.microsoft.icon',
  'image/webp',
  'image/x-icon',
]);

type Env = Readonly<Record<string, string | undefined>>;

const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/;
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const PREFIX = /^[A-Za-z0-9._~-]+$/;

class Reader {
  constructor(private readonly env: Env) {}

  name(short: string): string {
    return `ECAMO_${short}`;
  }

  /** A value, with empty strings treated as unset (as shells and orchestrators often pass them). */
  optional(short: string): string | undefined {
    const value = this.env[this.name(short)];
    return value === undefined || value === '' ? undefined : value;
  }

  required(short: string): string {
    const value = this.optional(short);
    if (value === undefined) throw new ConfigError(this.name(short), 'is required');
    return value;
  }

  integer(short: string, fallback: number, min: number, max: number): number {
    const text = this.optional(short);
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text)) throw new ConfigError(this.name(short), `must be a whole number, got "${text}"`);
    const value = Number(text);
    if (value < min || value > max) throw new ConfigError(this.name(short), `must be between ${min} and ${max}`);
    return value;
  }

  boolean(short: string): boolean {
    const text = this.optional(short);
    if (text === undefined) return false;
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    if (/^(0|false|no|off)$/i.test(text)) return false;
    throw new ConfigError(this.name(short), `must be true or false, got "${text}"`);
  }

  /**
   * The path in `fileShort` (e.g. PRIVATE_KEYS_FILE) when that variable is the
   * one set; undefined when it is not (then `short` itself must be). Both set
   * is a mistake: which one wins would be a guess.
   */
  oneOf(short: string, fileShort: string): string | undefined {
    const path = this.optional(fileShort);
    if (path !== undefined && this.optional(short) !== undefined) {
      throw new ConfigError(this.name(fileShort), `and ${this.name(short)} are both set; give only one`);
    }
    return path;
  }

  regexp(short: string): RegExp | undefined {
    const text = this.optional(short);
    if (text === undefined) return undefined;
    try {
      return new RegExp(text, 'u');
    } catch (error) {
      throw new ConfigError(this.name(short), `is not a valid regular expression (${(error as Error).message})`);
    }
  }
}

/** `host:port` or `[ipv6]:port`; `host` is empty for `:port`. Undefined when it is neither. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (match === null || Number(match[3]) > 65535) return undefined;
  // One of the two host groups always took part in the match.
  return { host: match[1] ?? match[2] ?? '', port: Number(match[3]) };
}

function parseBind(variable: string, text: string): { host: string; port: number } {
  const bind = parseHostPort(text);
  if (bind === undefined) throw new ConfigError(variable, `must be host:port or [ipv6]:port, got "${text}"`);
  return { host: bind.host || '::', port: bind.port };
}

const WILDCARD_HOSTS: ReadonlySet<string> = new Set(['::', '0.0.0.0', '']);

/** Two listeners that would fight over one port (port 0 picks a fresh one each time). */
function sharesPort(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  if (a.port !== b.port || a.port === 0) return false;
  return a.host === b.host || WILDCARD_HOSTS.has(a.host) || WILDCARD_HOSTS.has(b.host);
}

function parseWorkers(variable: string, text: string | undefined, cpus: number): number {
  if (text === undefined) return 1;
  if (text === 'auto') return Math.max(1, cpus);
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 256) {
    throw new ConfigError(variable, `must be a number from 1 to 256 or "auto", got "${text}"`);
  }
  return Number(text);
}

/**
 * The settings `ecamo serve` shares with `ecamo verify-proxy`: how it logs,
 * and how long a SIGTERM drain may last.
 */
export function loadProcessSettings(env: Env): { logLevel: LogLevel; shutdownGraceMs: number } {
  const read = new Reader(env);
  const logLevel = (read.optional('LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(read.name('LOG_LEVEL'), `must be one of ${LOG_LEVELS.join(', ')}`);
  return { logLevel, shutdownGraceMs: read.integer('SHUTDOWN_GRACE', 10, 0, 600) * 1000 };
}

/**
 * Reads every ECAMO_* variable once. Throws ConfigError on the first problem;
 * the returned object is frozen, and its keys, regexps and sets are never
 * mutated after start.
 */
export async function loadConfig(env: Env, options: { cpus?: number } = {}): Promise<Config> {
  const read = new Reader(env);

  const canonicalHost = read.required('CANONICAL_HOST');
  if (!HOST.test(canonicalHost)) throw new ConfigError(read.name('CANONICAL_HOST'), `must be a host[:port], got "${canonicalHost}"`);

  const keySources: KeySources = Object.freeze({
    servicePublicKeysFile: read.oneOf('SERVICE_PUBLIC_KEYS', 'SERVICE_PUBLIC_KEYS_FILE'),
    privateKeysFile: read.oneOf('PRIVATE_KEYS', 'PRIVATE_KEYS_FILE'),
    signingKid: read.optional('SIGNING_KID'),
  });
  const serviceKeys = keySources.servicePublicKeysFile === undefined
    ? await loadServicePublicKeys(read.name('SERVICE_PUBLIC_KEYS'), read.required('SERVICE_PUBLIC_KEYS'))
    : await loadServicePublicKeysFile(keySources.servicePublicKeysFile);
  const ecamoKeys = keySources.privateKeysFile === undefined
    ? await loadEcamoKeys(read.name('PRIVATE_KEYS'), read.required('PRIVATE_KEYS'), read.name('SIGNING_KID'), keySources.signingKid)
    : await loadEcamoKeysFile(keySources.privateKeysFile, keySources.signingKid);

  const bind = Object.freeze(parseBind(read.name('BIND'), read.optional('BIND') ?? '[::]:3000'));
  const tlsCert = read.optional('TLS_CERT');
  const tlsKey = read.optional('TLS_KEY');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new ConfigError(read.name(tlsCert === undefined ? 'TLS_CERT' : 'TLS_KEY'), `is required with ${read.name(tlsCert === undefined ? 'TLS_KEY' : 'TLS_CERT')}`);
  }
  const tls = tlsCert === undefined || tlsKey === undefined ? undefined : await loadTlsFiles(tlsCert, tlsKey);
  const adminText = read.optional('ADMIN_BIND');
  const adminBind = adminText === undefined ? undefined : Object.freeze(parseBind(read.name('ADMIN_BIND'), adminText));
  if (adminBind !== undefined && sharesPort(adminBind, bind)) {
    throw new ConfigError(read.name('ADMIN_BIND'), `must not be the public listener's address (${read.name('BIND')})`);
  }

  const insecure = read.boolean('INSECURE');

  const prefix = read.optional('PREFIX') ?? '.ecamo';
  if (!PREFIX.test(prefix)) throw new ConfigError(read.name('PREFIX'), 'must be one path segment of unreserved characters');

  const authCookie = read.optional('AUTH_COOKIE') ?? (insecure ? 'ecamo_token' : '__Host-ecamo_token');
  if (!COOKIE_NAME.test(authCookie)) throw new ConfigError(read.name('AUTH_COOKIE'), 'is not a valid cookie name');

  const contentTypeText = read.optional('CONTENT_TYPE_ALLOWED');
  const contentTypes = contentTypeText === undefined
    ? DEFAULT_CONTENT_TYPES
    : contentTypeText.split(',').map((item) => item.trim().toLowerCase()).filter((item) => item !== '');
  for (const type of contentTypes) {
    if (!MEDIA_TYPE.test(type)) throw new ConfigError(read.name('CONTENT_TYPE_ALLOWED'), `"${type}" is not a type/subtype`);
  }
  if (contentTypes.length === 0) throw new ConfigError(read.name('CONTENT_TYPE_ALLOWED'), 'lists no type');

  const svg = read.optional('SVG') ?? 'sandbox';
  if (svg !== 'sandbox' && svg !== 'refuse') throw new ConfigError(read.name('SVG'), `must be sandbox or refuse, got "${svg}"`);
  const contentRules = { contentTypeAllowed: new Set(contentTypes), svg } as const;
  const fallbackPath = read.optional('FALLBACK_IMAGE');

  const { logLevel, shutdownGraceMs } = loadProcessSettings(env);

  const proxyTokenAlg = (read.optional('PROXY_TOKEN_ALG') ?? 'HS256') as ProxyTokenAlg;
  if (!PROXY_TOKEN_ALGS.includes(proxyTokenAlg)) throw new ConfigError(read.name('PROXY_TOKEN_ALG'), `must be one of ${PROXY_TOKEN_ALGS.join(', ')}`);

  const cacheControl = read.optional('DEFAULT_CACHE_CONTROL') ?? read.optional('DEFUALT_CACHE_CONTROL') ?? 'public, max-age=3600';
  const surrogateControl = read.optional('DEFAULT_SURROGATE_CONTROL');
  const userAgent = read.optional('USER_AGENT') ?? `ecamo/${ECAMO_VERSION}`;
  for (const [short, value] of [['DEFAULT_CACHE_CONTROL', cacheControl], ['DEFAULT_SURROGATE_CONTROL', surrogateControl], ['USER_AGENT', userAgent]] as const) {
    if (value !== undefined && !/^[\t\x20-\x7e]*$/.test(value)) throw new ConfigError(read.name(short), 'holds characters not allowed in a header');
  }

  const camoKeysText = read.optional('CAMO_KEY');
  const redisUrl = read.optional('REDIS_URL');
  const trustedProxiesText = read.optional('TRUSTED_PROXIES');
  const quarantineFailures = read.integer('QUARANTINE_FAILURES', 0, 0, 1_000_000);
  const quarantineWindow = read.integer('QUARANTINE_WINDOW', 60, 1, 86_400);
  const quarantinePeriod = read.integer('QUARANTINE_PERIOD', 300, 1, 604_800);
  // Below /32 one quarantine would cover a whole provider; /128 counts each address alone.
  const quarantineIpv6Prefix = read.integer('QUARANTINE_IPV6_PREFIX', 64, 32, 128);

  const config: Config = {
    bind,
    tls,
    adminBind,
    canonicalHost,
    serviceKeys,
    ecamoKeys,
    keySources,
    serviceHostRegexp: read.regexp('SERVICE_HOST_REGEXP'),
    sourceAllowedRegexp: read.regexp('SOURCE_ALLOWED_REGEXP'),
    sourceBlockedRegexp: read.regexp('SOURCE_BLOCKED_REGEXP'),
    privateSourceAllowedRegexp: read.regexp('PRIVATE_SOURCE_ALLOWED_REGEXP'),
    prefix,
    maxRedirects: read.integer('MAX_REDIRECTS', 0, 0, 20),
    maxLength: read.integer('MAX_LENGTH', 5242880, 1, Number.MAX_SAFE_INTEGER),
    ...contentRules,
    sniffUnlabelled: read.boolean('SNIFF_UNLABELLED'),
    fallbackImage: fallbackPath === undefined ? undefined : await loadFallbackImage(fallbackPath, contentRules),
    timeoutMs: read.integer('TIMEOUT', 10, 1, 3600) * 1000,
    tokenLifetimeSeconds: read.integer('TOKEN_LIFETIME', 45, 1, MAX_PROXY_TOKEN_LIFETIME_SECONDS),
    proxyTokenAlg,
    authCookie,
    defaultCacheControl: cacheControl,
    defaultSurrogateControl: surrogateControl,
    userAgent,
    insecure,
    logLevel,
    workers: parseWorkers(read.name('WORKERS'), read.optional('WORKERS'), options.cpus ?? 1),
    shutdownGraceMs,
    camoKeys: Object.freeze(camoKeysText === undefined ? [] : parseCamoKeys(read.name('CAMO_KEY'), camoKeysText).map((key) => createSecretKey(key, 'utf8'))),
    redis: redisUrl === undefined ? undefined : parseRedisUrl(read.name('REDIS_URL'), redisUrl),
    trustedProxies: trustedProxiesText === undefined ? undefined : parseTrustedProxies(read.name('TRUSTED_PROXIES'), trustedProxiesText),
    quarantine:
      quarantineFailures === 0
        ? undefined
        : Object.freeze({ failures: quarantineFailures, windowSeconds: quarantineWindow, periodSeconds: quarantinePeriod, ipv6PrefixBits: quarantineIpv6Prefix }),
    cacheMaxBytes: read.integer('CACHE_MAX_BYTES', 67108864, 0, Number.MAX_SAFE_INTEGER),
    cacheMaxEntryBytes: read.integer('CACHE_MAX_ENTRY_BYTES', 1048576, 1, Number.MAX_SAFE_INTEGER),
    cacheMinUses: read.integer('CACHE_MIN_USES', 2, 1, 1000),
    tracing: loadTracingSettings(env),
  };
  return Object.freeze(config);
}
