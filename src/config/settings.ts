import { createSecretKey, type KeyObject } from 'node:crypto';
import { AUTH_COOKIE_NAMES, COOKIE_NAME_PATTERN, DEFAULT_PREFIX, PREFIX_PATTERN } from '@ecamo/protocol';
import { parseCamoKeys } from './camo-keys.js';
import { ConfigError } from './errors.js';
import { parseRedisUrl } from './redis-url.js';
import { boolean, code, integer, optional, optionalText, regexp, row, type Values } from './setting.js';
import { parseAddressRanges } from './ip-address.js';
import { FALLBACK_IMAGE } from './fallback-image.js';
import { ECAMO_VERSION } from './version.js';

/**
 * Every ECAMO_* variable `ecamo serve` reads, one row each, in the order of
 * docs/configuration.md (generated from this table: `npm run docs:config`).
 * A row keyed by a field of `Config` (config/load.ts) is that field as read;
 * the other rows feed the fields load.ts composes from several variables
 * (keys, TLS, workers, quarantine).
 */

/** Longest proxy-token lifetime `ECAMO_TOKEN_LIFETIME` allows; tokens/proxy-token.ts refuses a later `exp`. */
export const MAX_PROXY_TOKEN_LIFETIME_SECONDS = 86_400;

/**
 * How proxy tokens are minted (`ECAMO_PROXY_TOKEN_ALG`): HS256 under a key
 * derived from the signing key (config/keys.ts), or ES256 as the reference
 * server mints them. Both are accepted whatever this says.
 */
export const PROXY_TOKEN_ALGS = ['HS256', 'ES256'] as const;
export type ProxyTokenAlg = (typeof PROXY_TOKEN_ALGS)[number];

export const SVG_MODES = ['sandbox', 'refuse'] as const;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

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

export const DEFAULT_CACHE_CONTROL = 'public, max-age=3600';

const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/;
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** `host:port` or `[ipv6]:port`; `host` is empty for `:port`. Undefined when it is neither. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (match === null || Number(match[3]) > 65535) return undefined;
  // One of the two host groups always took part in the match.
  return { host: match[1] ?? match[2] ?? '', port: Number(match[3]) };
}

function parseBind(text: string, name: string): { readonly host: string; readonly port: number } {
  const bind = parseHostPort(text);
  if (bind === undefined) throw new ConfigError(name, `must be host:port or [ipv6]:port, got "${text}"`);
  return Object.freeze({ host: bind.host || '::', port: bind.port });
}

function checkHeaderValue(text: string, name: string): void {
  if (!/^[\t\x20-\x7e]*$/.test(text)) throw new ConfigError(name, 'holds characters not allowed in a header');
}

const required = 'required';
const requiredOrFile = 'required, or its `_FILE`';

export const SETTINGS = {
  canonicalHost: optional('ECAMO_CANONICAL_HOST', {
    shown: required,
    doc: 'Host of ecamo\'s own origin (with port if non-standard). The proxy endpoint and the JWKS only answer on it.',
    parse(text, name) {
      if (!HOST.test(text)) throw new ConfigError(name, `must be a host[:port], got "${text}"`);
      return text;
    },
  }),
  servicePublicKeysText: optionalText('ECAMO_SERVICE_PUBLIC_KEYS', {
    shown: requiredOrFile,
    doc: '`{"<service origin> <kid>": <public JWK>}`. P-256 only.',
  }),
  servicePublicKeysFile: optionalText('ECAMO_SERVICE_PUBLIC_KEYS_FILE', {
    reloadable: true,
    doc: 'Path of a file holding the same JSON instead. Setting it and `ECAMO_SERVICE_PUBLIC_KEYS` is an error.',
  }),
  privateKeysText: optionalText('ECAMO_PRIVATE_KEYS', {
    shown: requiredOrFile,
    doc: '`{"<kid>": <private JWK>}`. Every key verifies proxy tokens (rotation); all public halves are published.',
  }),
  privateKeysFile: optionalText('ECAMO_PRIVATE_KEYS_FILE', {
    reloadable: true,
    doc: 'Path of a file holding the same JSON, or `{"signing_kid": "<kid>", "keys": {"<kid>": <private JWK>}}`. Setting it and `ECAMO_PRIVATE_KEYS` is an error.',
  }),
  signingKid: optionalText('ECAMO_SIGNING_KID', {
    shown: 'the only key',
    doc: 'Which private key signs. Required when there are several (unless the key file names a `signing_kid`, which wins).',
  }),
  bind: row('ECAMO_BIND', {
    shown: code('[::]:3000'),
    unset: Object.freeze({ host: '::', port: 3000 }),
    doc: 'Listen address, `host:port` or `[ipv6]:port`.',
    parse: parseBind,
  }),
  tlsCertFile: optionalText('ECAMO_TLS_CERT', {
    reloadable: true,
    doc: 'PEM file of the certificate chain. With `ECAMO_TLS_KEY`: the public listener speaks HTTPS, HTTP/2 and HTTP/1.1 by ALPN.',
    see: { title: 'TLS and HTTP/2', href: 'operations.md#tls-and-http2' },
  }),
  tlsKeyFile: optionalText('ECAMO_TLS_KEY', {
    reloadable: true,
    doc: 'PEM file of the private key of `ECAMO_TLS_CERT`; the two are set together.',
  }),
  adminBind: optional('ECAMO_ADMIN_BIND', {
    shown: 'unset (off)',
    doc: 'Admin listener for `/metrics`, `/healthz`, `/readyz`, `host:port`. Must not be the public port. Keep it off the internet.',
    see: { title: 'Operations', href: 'operations.md' },
    parse: parseBind,
  }),
  prefix: row('ECAMO_PREFIX', {
    shown: code(DEFAULT_PREFIX),
    unset: DEFAULT_PREFIX,
    doc: 'Path segment used in the Location ecamo builds. Incoming requests may use any prefix.',
    parse(text, name) {
      if (!PREFIX_PATTERN.test(text)) throw new ConfigError(name, 'must be one path segment of unreserved characters');
      return text;
    },
  }),
  serviceHostRegexp: regexp('ECAMO_SERVICE_HOST_REGEXP', { doc: 'Service hosts allowed (403 `unallowed-service-host` otherwise).' }),
  sourceAllowedRegexp: regexp('ECAMO_SOURCE_ALLOWED_REGEXP', { doc: 'Source URLs allowed (403 `unallowed-source` otherwise).' }),
  sourceBlockedRegexp: regexp('ECAMO_SOURCE_BLOCKED_REGEXP', { doc: 'Source URLs refused.' }),
  privateSourceAllowedRegexp: regexp('ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP', { doc: 'Source URLs that may resolve to private addresses (for internal image hosts).' }),
  sourceBlockedCidrs: optional('ECAMO_SOURCE_BLOCKED_CIDRS', {
    doc: 'Comma-separated IPv4/IPv6 addresses and CIDR ranges no source may be fetched from, checked where the socket connects, on every redirect hop, like the private ranges, and even for URLs `ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP` allows to be private (403 `unallowed-source`; the address receives nothing). For what only your network knows: a site-specific NAT64 prefix, an internal range that is globally routed. IPv4-mapped IPv6 addresses count as their IPv4 address.',
    parse: (text, name) => parseAddressRanges(name, text),
  }),
  maxRedirects: integer('ECAMO_MAX_REDIRECTS', {
    fallback: 0,
    min: 0,
    max: 20,
    doc: 'Redirects followed when fetching a source (0-20); each hop is re-checked against the private-address rule and the three source regexps.',
  }),
  maxLength: integer('ECAMO_MAX_LENGTH', { fallback: 5242880, min: 1, max: Number.MAX_SAFE_INTEGER, doc: 'Largest source body in bytes, declared or streamed.' }),
  contentTypeAllowed: row<ReadonlySet<string>>('ECAMO_CONTENT_TYPE_ALLOWED', {
    shown: 'common `image/*`',
    unset: new Set(DEFAULT_CONTENT_TYPES),
    doc: `Comma-separated \`type/subtype\` list. Default: ${DEFAULT_CONTENT_TYPES.map((type) => type.replace('image/', '')).join(', ')}. Both the declared type and the type the bytes show must be on it.`,
    see: { title: 'What is served', href: 'security.md#what-is-served-the-bytes-not-the-label' },
    parse(text, name) {
      const types = text.split(',').map((item) => item.trim().toLowerCase()).filter((item) => item !== '');
      for (const type of types) {
        if (!MEDIA_TYPE.test(type)) throw new ConfigError(name, `"${type}" is not a type/subtype`);
      }
      if (types.length === 0) throw new ConfigError(name, 'lists no type');
      return new Set(types);
    },
  }),
  svg: row<(typeof SVG_MODES)[number]>('ECAMO_SVG', {
    shown: code('sandbox'),
    unset: 'sandbox',
    doc: '`sandbox`: SVG is served (under the CSP sandbox every proxied answer carries). `refuse`: every SVG, labelled or not, is 403 `unallowed-content-type`.',
    parse(text, name) {
      const mode = SVG_MODES.find((known) => known === text);
      if (mode === undefined) throw new ConfigError(name, `must be sandbox or refuse, got "${text}"`);
      return mode;
    },
  }),
  sniffUnlabelled: boolean('ECAMO_SNIFF_UNLABELLED', {
    doc: '`true`: a 200 without `Content-Type` is served when its bytes are an allowed image, under that type (old image hosts send none). Off, it is 403 `unallowed-content-type`, as with the reference server.',
  }),
  fallbackImagePath: optionalText(FALLBACK_IMAGE, {
    reloadable: true,
    doc: 'Path of an image file (at most 1 MiB, an allowed type by the rules above) sent as the body of error answers to image requests. A file that is not such an image stops the start.',
    see: { title: 'Fallback image', href: 'security.md#fallback-image' },
  }),
  timeoutMs: integer('ECAMO_TIMEOUT', { fallback: 10, min: 1, max: 3600, scale: 1000, doc: 'Seconds for the whole source fetch, body included.' }),
  tokenLifetimeSeconds: integer('ECAMO_TOKEN_LIFETIME', {
    fallback: 45,
    min: 1,
    max: MAX_PROXY_TOKEN_LIFETIME_SECONDS,
    doc: `Seconds a proxy token and an ID token live (at most ${MAX_PROXY_TOKEN_LIFETIME_SECONDS}).`,
  }),
  proxyTokenAlg: row<ProxyTokenAlg>('ECAMO_PROXY_TOKEN_ALG', {
    shown: code('HS256'),
    unset: 'HS256',
    doc: 'How ecamo mints proxy tokens: `HS256` (a MAC under a key derived from the signing key, [protocol.md §4.4](protocol.md#44-proxy-token)) or `ES256` (signed with the signing key, the reference server\'s form, for fleets where the reference server still checks proxy tokens). Both are accepted whatever it says.',
    see: { title: 'Upgrading from the reference server', href: 'migrating.md#upgrading-from-the-reference-server' },
    parse(text, name) {
      const alg = PROXY_TOKEN_ALGS.find((known) => known === text);
      if (alg === undefined) throw new ConfigError(name, `must be one of ${PROXY_TOKEN_ALGS.join(', ')}`);
      return alg;
    },
  }),
  authCookieName: optionalText('ECAMO_AUTH_COOKIE', {
    shown: code(AUTH_COOKIE_NAMES.secure),
    doc: `Cookie name (${code(AUTH_COOKIE_NAMES.insecure)} in insecure mode).`,
    check(text, name) {
      if (!COOKIE_NAME_PATTERN.test(text)) throw new ConfigError(name, 'is not a valid cookie name');
    },
  }),
  defaultCacheControlText: optionalText('ECAMO_DEFAULT_CACHE_CONTROL', {
    shown: code(DEFAULT_CACHE_CONTROL),
    doc: 'Cache-Control of a 200 whose source sends none (errors are `no-store`).',
    see: { title: 'Errors', href: 'protocol.md#10-error-codes' },
    check: checkHeaderValue,
  }),
  misspeltDefaultCacheControl: optionalText('ECAMO_DEFUALT_CACHE_CONTROL', {
    doc: 'The old misspelling of `ECAMO_DEFAULT_CACHE_CONTROL`, read (and checked as it) when that is unset.',
    // Errors name the variable it stands for, as they did before this row existed.
    check: (text) => checkHeaderValue(text, 'ECAMO_DEFAULT_CACHE_CONTROL'),
  }),
  defaultSurrogateControl: optionalText('ECAMO_DEFAULT_SURROGATE_CONTROL', { doc: 'Surrogate-Control added to proxied 200s (never to errors).', check: checkHeaderValue }),
  userAgent: row('ECAMO_USER_AGENT', {
    shown: '`ecamo/<version>`',
    unset: `ecamo/${ECAMO_VERSION}`,
    doc: 'User-Agent sent to sources, on every redirect hop (many image hosts refuse requests without one); the client\'s is never passed on.',
    parse(text, name) {
      checkHeaderValue(text, name);
      return text;
    },
  }),
  insecure: boolean('ECAMO_INSECURE', { doc: 'Plain-HTTP development: origins use the scheme the request came on.' }),
  logLevel: row<LogLevel>('ECAMO_LOG_LEVEL', {
    shown: code('info'),
    unset: 'info',
    doc: `${LOG_LEVELS.slice(0, -1).map((level) => code(level)).join(', ')} or ${code('silent')}.`,
    parse(text, name) {
      const level = LOG_LEVELS.find((known) => known === text);
      if (level === undefined) throw new ConfigError(name, `must be one of ${LOG_LEVELS.join(', ')}`);
      return level;
    },
  }),
  workersWanted: row<number | 'auto'>('ECAMO_WORKERS', {
    shown: code(1),
    unset: 1,
    doc: 'Processes sharing the port (node:cluster), a number from 1 to 256 or `auto` (one per CPU).',
    parse(text, name) {
      if (text === 'auto') return 'auto';
      if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 256) {
        throw new ConfigError(name, `must be a number from 1 to 256 or "auto", got "${text}"`);
      }
      return Number(text);
    },
  }),
  shutdownGraceMs: integer('ECAMO_SHUTDOWN_GRACE', {
    fallback: 10,
    min: 0,
    max: 600,
    scale: 1000,
    doc: 'Seconds a SIGTERM drain waits for responses in flight before cutting them; `ecamo verify-proxy` reads it too.',
    see: { title: 'Deployment', href: 'operations.md#deployment' },
  }),
  camoKeys: row<readonly KeyObject[]>('ECAMO_CAMO_KEY', {
    shown: 'unset',
    unset: Object.freeze([]),
    doc: "camo HMAC keys, comma-separated, newest first: ecamo then also serves camo-format URLs. Each key is used byte for byte; empty entries, surrounding spaces and camo's published default key are refused. Unset: camo paths are 404.",
    see: { title: 'Migrating from camo', href: 'migrating.md#from-camo' },
    parse: (text, name) => Object.freeze(parseCamoKeys(name, text).map((key) => createSecretKey(key, 'utf8'))),
  }),
  redis: optional('ECAMO_REDIS_URL', {
    doc: '`redis://[[user]:password@]host[:port][/db]` (or `rediss://`): state shared by all instances. Unset: each instance keeps its own, in memory.',
    see: { title: 'Shared state in Redis', href: 'operations.md#shared-state-in-redis' },
    parse: (text, name) => parseRedisUrl(name, text),
  }),
  trustedProxies: optional('ECAMO_TRUSTED_PROXIES', {
    doc: 'Comma-separated IPv4/IPv6 addresses and CIDR ranges of your load balancers and reverse proxies. Only from these peers does ecamo believe `X-Forwarded-For` (for the client address) and `sec-x-ecamo-service-host`; from any other peer both are ignored and counted. Unset: every peer may send `sec-x-ecamo-service-host` and the client address is always the peer\'s. Recommended: set it.',
    see: { title: 'Trusted proxies', href: 'operations.md#trusted-proxies' },
    parse: (text, name) => parseAddressRanges(name, text),
  }),
  quarantineFailures: integer('ECAMO_QUARANTINE_FAILURES', {
    fallback: 0,
    min: 0,
    max: 1_000_000,
    shown: '`0` (off)',
    doc: 'Refused credentials (URL token, auth cookie, proxy token, camo digest: 400/401 of a token code) after which a client address is quarantined: answered `429 quarantined` with `Retry-After`.',
    see: { title: 'Quarantine', href: 'operations.md#quarantine' },
  }),
  quarantineWindowSeconds: integer('ECAMO_QUARANTINE_WINDOW', {
    fallback: 60,
    min: 1,
    max: 86_400,
    doc: "Seconds within which those failures are counted (a window that starts at an address's first failure).",
  }),
  quarantinePeriodSeconds: integer('ECAMO_QUARANTINE_PERIOD', {
    fallback: 300,
    min: 1,
    max: 604_800,
    doc: 'Seconds a quarantine lasts, from the failure that tripped it; 429 answers do not extend it.',
  }),
  // Below /32 one quarantine would cover a whole provider; /128 counts each address alone.
  quarantineIpv6PrefixBits: integer('ECAMO_QUARANTINE_IPV6_PREFIX', {
    fallback: 64,
    min: 32,
    max: 128,
    doc: 'Leading bits (32 to 128) by which IPv6 clients are counted and quarantined: every address of one `/64` is one client by default; `128` counts each address alone. IPv4-mapped IPv6 counts as IPv4.',
  }),
  cacheMaxBytes: integer('ECAMO_CACHE_MAX_BYTES', {
    fallback: 67108864,
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    doc: 'Bytes of source answers kept in memory, least recently used out first. `0` turns the cache off.',
    see: { title: 'Caching', href: 'caching.md' },
  }),
  cacheMaxEntryBytes: integer('ECAMO_CACHE_MAX_ENTRY_BYTES', { fallback: 1048576, min: 1, max: Number.MAX_SAFE_INTEGER, doc: 'Larger answers are streamed and never kept.' }),
  cacheMinUses: integer('ECAMO_CACHE_MIN_USES', {
    fallback: 2,
    min: 1,
    max: 1000,
    doc: 'Requests an image takes before a copy is kept (1 to 1000; `1`: from its first request), counted among the last images asked for.',
    see: { title: 'Caching', href: 'caching.md' },
  }),
} as const;

export type SettingValues = Values<typeof SETTINGS>;
