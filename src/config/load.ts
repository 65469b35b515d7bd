import { AUTH_COOKIE_NAMES } from '@ecamo/protocol';
import type { CryptoKey } from 'jose';
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
import { readSettings, type Env } from './setting.js';
import { DEFAULT_CACHE_CONTROL, SETTINGS, type LogLevel, type SettingValues } from './settings.js';
import { loadTracingSettings, type TracingSettings } from './tracing.js';

export {
  DEFAULT_CONTENT_TYPES,
  LOG_LEVELS,
  MAX_PROXY_TOKEN_LIFETIME_SECONDS,
  PROXY_TOKEN_ALGS,
  parseHostPort,
  type LogLevel,
  type ProxyTokenAlg,
} from './settings.js';

/** The rows of config/settings.ts that feed a field composed of several variables, rather than being one. */
type ComposedFrom =
  | 'canonicalHost'
  | 'servicePublicKeysText'
  | 'servicePublicKeysFile'
  | 'privateKeysText'
  | 'privateKeysFile'
  | 'signingKid'
  | 'tlsCertFile'
  | 'tlsKeyFile'
  | 'fallbackImagePath'
  | 'authCookieName'
  | 'defaultCacheControlText'
  | 'misspeltDefaultCacheControl'
  | 'workersWanted'
  | 'quarantineFailures'
  | 'quarantineWindowSeconds'
  | 'quarantinePeriodSeconds'
  | 'quarantineIpv6PrefixBits';

/**
 * Everything the server needs, validated and frozen before the first request:
 * each row of config/settings.ts not in `ComposedFrom` is a field as read
 * (its doc is the row's), and the fields below are composed here.
 */
export interface Config extends Omit<SettingValues, ComposedFrom> {
  /** `ECAMO_CANONICAL_HOST` */
  readonly canonicalHost: string;
  /** HTTPS with HTTP/2 on the public listener (`ECAMO_TLS_CERT`, `ECAMO_TLS_KEY`); undefined: plain HTTP/1.1. */
  readonly tls: TlsFiles | undefined;
  /** The keys at start; a running server reads its current ones from `TokenService.keys` (key files reload). */
  readonly serviceKeys: ReadonlyMap<string, CryptoKey>;
  readonly ecamoKeys: EcamoKeys;
  readonly keySources: KeySources;
  /** ECAMO_FALLBACK_IMAGE as read at start; a running server holds the current one (it reloads on SIGHUP). */
  readonly fallbackImage: FallbackImage | undefined;
  /** `ECAMO_AUTH_COOKIE`, or its default for the mode (`ECAMO_INSECURE`). */
  readonly authCookie: string;
  /** `ECAMO_DEFAULT_CACHE_CONTROL`, or its old misspelling, or the default. */
  readonly defaultCacheControl: string;
  /** Processes sharing the port (node:cluster); 1 runs in-process. */
  readonly workers: number;
  /** Quarantine of addresses presenting refused credentials; undefined when off (ECAMO_QUARANTINE_FAILURES=0). */
  readonly quarantine: QuarantineSettings | undefined;
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

const WILDCARD_HOSTS: ReadonlySet<string> = new Set(['::', '0.0.0.0', '']);

/** Two listeners that would fight over one port (port 0 picks a fresh one each time). */
function sharesPort(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  if (a.port !== b.port || a.port === 0) return false;
  return a.host === b.host || WILDCARD_HOSTS.has(a.host) || WILDCARD_HOSTS.has(b.host);
}

/** The value of a required row; a ConfigError naming it when unset. */
function requireValue<T>(name: string, value: T | undefined): T {
  if (value === undefined) throw new ConfigError(name, 'is required');
  return value;
}

/**
 * A key set's file variable when that is the one set; undefined when it is
 * not (then the variable itself must be). Both set is a mistake: which one
 * wins would be a guess.
 */
function fileInsteadOf(name: string, text: string | undefined, fileName: string, file: string | undefined): string | undefined {
  if (file !== undefined && text !== undefined) throw new ConfigError(fileName, `and ${name} are both set; give only one`);
  return file;
}

/**
 * The settings `ecamo serve` shares with `ecamo verify-proxy`: how it logs,
 * and how long a SIGTERM drain may last.
 */
export function loadProcessSettings(env: Env): { logLevel: LogLevel; shutdownGraceMs: number } {
  return { logLevel: SETTINGS.logLevel.read(env), shutdownGraceMs: SETTINGS.shutdownGraceMs.read(env) };
}

/**
 * Reads every row of config/settings.ts once, then the rules between rows
 * (a key set or its file, the TLS pair, the two listeners), then the keys and
 * TLS files. Throws ConfigError on the first problem; the returned object is
 * frozen, and its keys, regexps and sets are never mutated after start.
 */
export async function loadConfig(env: Env, options: { cpus?: number } = {}): Promise<Config> {
  const {
    canonicalHost,
    servicePublicKeysText,
    servicePublicKeysFile,
    privateKeysText,
    privateKeysFile,
    signingKid,
    tlsCertFile,
    tlsKeyFile,
    fallbackImagePath,
    authCookieName,
    defaultCacheControlText,
    misspeltDefaultCacheControl,
    workersWanted,
    quarantineFailures,
    quarantineWindowSeconds,
    quarantinePeriodSeconds,
    quarantineIpv6PrefixBits,
    ...asRead
  } = readSettings(SETTINGS, env);
  const { servicePublicKeysText: serviceKeysRow, privateKeysText: privateKeysRow, signingKid: signingKidRow, tlsCertFile: certRow, tlsKeyFile: keyRow } = SETTINGS;

  const keySources: KeySources = Object.freeze({
    servicePublicKeysFile: fileInsteadOf(serviceKeysRow.name, servicePublicKeysText, SETTINGS.servicePublicKeysFile.name, servicePublicKeysFile),
    privateKeysFile: fileInsteadOf(privateKeysRow.name, privateKeysText, SETTINGS.privateKeysFile.name, privateKeysFile),
    signingKid,
  });
  const host = requireValue(SETTINGS.canonicalHost.name, canonicalHost);
  const serviceKeys = keySources.servicePublicKeysFile === undefined
    ? await loadServicePublicKeys(serviceKeysRow.name, requireValue(serviceKeysRow.name, servicePublicKeysText))
    : await loadServicePublicKeysFile(keySources.servicePublicKeysFile);
  const ecamoKeys = keySources.privateKeysFile === undefined
    ? await loadEcamoKeys(privateKeysRow.name, requireValue(privateKeysRow.name, privateKeysText), signingKidRow.name, signingKid)
    : await loadEcamoKeysFile(keySources.privateKeysFile, signingKid);

  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    const [missing, given] = tlsCertFile === undefined ? [certRow, keyRow] : [keyRow, certRow];
    throw new ConfigError(missing.name, `is required with ${given.name}`);
  }
  const tls = tlsCertFile === undefined || tlsKeyFile === undefined ? undefined : await loadTlsFiles(tlsCertFile, tlsKeyFile);
  if (asRead.adminBind !== undefined && sharesPort(asRead.adminBind, asRead.bind)) {
    throw new ConfigError(SETTINGS.adminBind.name, `must not be the public listener's address (${SETTINGS.bind.name})`);
  }

  const config: Config = {
    ...asRead,
    canonicalHost: host,
    tls,
    fallbackImage: fallbackImagePath === undefined ? undefined : await loadFallbackImage(fallbackImagePath, asRead),
    serviceKeys,
    ecamoKeys,
    keySources,
    authCookie: authCookieName ?? (asRead.insecure ? AUTH_COOKIE_NAMES.insecure : AUTH_COOKIE_NAMES.secure),
    defaultCacheControl: defaultCacheControlText ?? misspeltDefaultCacheControl ?? DEFAULT_CACHE_CONTROL,
    workers: workersWanted === 'auto' ? Math.max(1, options.cpus ?? 1) : workersWanted,
    quarantine:
      quarantineFailures === 0
        ? undefined
        : Object.freeze({ failures: quarantineFailures, windowSeconds: quarantineWindowSeconds, periodSeconds: quarantinePeriodSeconds, ipv6PrefixBits: quarantineIpv6PrefixBits }),
    tracing: loadTracingSettings(env),
  };
  return Object.freeze(config);
}
