import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateKey } from '../../src/config/generate-key.js';
import { DEFAULT_CONTENT_TYPES, loadConfig } from '../../src/config/load.js';
import { SERVICE, ecamoKey, env, keysOf, secondKey, serviceKey } from './fixture.js';

describe('loadConfig: defaults', () => {
  it('fills every optional variable with its protocol default (docs/protocol.md §11)', async () => {
    const config = await loadConfig(env());
    assert.deepEqual(config.bind, { host: '::', port: 3000 });
    assert.equal(config.canonicalHost, 'ecamo.example');
    assert.equal(config.prefix, '.ecamo');
    assert.equal(config.maxRedirects, 0);
    assert.equal(config.maxLength, 5242880);
    assert.equal(config.timeoutMs, 10_000);
    assert.equal(config.tokenLifetimeSeconds, 45);
    assert.equal(config.proxyTokenAlg, 'HS256');
    assert.equal(config.authCookie, '__Host-ecamo_token');
    assert.equal(config.defaultCacheControl, 'public, max-age=3600');
    assert.equal(config.defaultSurrogateControl, undefined);
    assert.equal(config.insecure, false);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.workers, 1);
    assert.equal(config.shutdownGraceMs, 10_000);
    assert.equal(config.redis, undefined);
    assert.equal(config.trustedProxies, undefined);
    assert.equal(config.quarantine, undefined);
    assert.equal(config.cacheMaxBytes, 67_108_864);
    assert.equal(config.cacheMaxEntryBytes, 1_048_576);
    assert.equal(config.cacheMinUses, 2);
    assert.equal(config.svg, 'sandbox');
    assert.equal(config.sniffUnlabelled, false);
    assert.equal(config.fallbackImage, undefined);
    assert.equal(config.serviceHostRegexp, undefined);
    assert.equal(config.sourceAllowedRegexp, undefined);
    assert.equal(config.sourceBlockedRegexp, undefined);
    assert.equal(config.privateSourceAllowedRegexp, undefined);
    assert.equal(config.ecamoKeys.signing.kid, 'ecamo-1', 'a single key signs without ECAMO_SIGNING_KID');
  });

  it('allows the common image types by default (docs/protocol.md §9)', async () => {
    const config = await loadConfig(env());
    assert.deepEqual([...config.contentTypeAllowed].sort(), [...DEFAULT_CONTENT_TYPES].sort());
    for (const type of ['avif', 'bmp', 'gif', 'heic', 'heif', 'x-icon', 'vnd.microsoft.icon', 'jpeg', 'png', 'svg+xml', 'tiff', 'webp']) {
      assert.ok(config.contentTypeAllowed.has(`image/${type}`), type);
    }
    for (const type of ['text/html', 'application/octet-stream', 'text/xml', 'application/xml']) assert.equal(config.contentTypeAllowed.has(type), false, type);
  });

  it('in insecure mode the default cookie name is ecamo_token', async () => {
    const config = await loadConfig(env({ ECAMO_INSECURE: 'true' }));
    assert.equal(config.insecure, true);
    assert.equal(config.authCookie, 'ecamo_token');
  });

  it('treats empty strings as unset', async () => {
    const config = await loadConfig(
      env({ ECAMO_BIND: '', ECAMO_PREFIX: '', ECAMO_MAX_LENGTH: '', ECAMO_SOURCE_ALLOWED_REGEXP: '', ECAMO_LOG_LEVEL: '', ECAMO_INSECURE: '', ECAMO_SIGNING_KID: '' }),
    );
    assert.equal(config.bind.port, 3000);
    assert.equal(config.prefix, '.ecamo');
    assert.equal(config.maxLength, 5242880);
    assert.equal(config.sourceAllowedRegexp, undefined);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.insecure, false);
  });

  it('the result is frozen', async () => {
    const config = await loadConfig(env());
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.bind));
    assert.ok(Object.isFrozen(config.ecamoKeys.signing));
    assert.ok(Object.isFrozen(config.ecamoKeys.publicJwks));
    for (const jwk of config.ecamoKeys.publicJwks) assert.ok(Object.isFrozen(jwk));
    assert.throws(() => {
      (config as { prefix: string }).prefix = 'x';
    }, TypeError);
    assert.throws(() => {
      (config.bind as { port: number }).port = 1;
    }, TypeError);
    assert.equal(config.prefix, '.ecamo');
  });
});

describe('loadConfig: every variable is read', () => {
  it('ECAMO_BIND: host:port, [ipv6]:port, :port', async () => {
    const cases: [string, { host: string; port: number }][] = [
      ['127.0.0.1:8080', { host: '127.0.0.1', port: 8080 }],
      ['[::1]:8081', { host: '::1', port: 8081 }],
      ['localhost:0', { host: 'localhost', port: 0 }],
      [':9000', { host: '::', port: 9000 }],
    ];
    for (const [text, expected] of cases) assert.deepEqual((await loadConfig(env({ ECAMO_BIND: text }))).bind, expected, text);
  });

  it('ECAMO_CANONICAL_HOST may carry a port', async () => {
    assert.equal((await loadConfig(env({ ECAMO_CANONICAL_HOST: 'ecamo.example:8443' }))).canonicalHost, 'ecamo.example:8443');
    assert.equal((await loadConfig(env({ ECAMO_CANONICAL_HOST: '[::1]:8443' }))).canonicalHost, '[::1]:8443');
  });

  it('ECAMO_SERVICE_PUBLIC_KEYS: one public key per "<service origin> <kid>"; kid/use/alg accepted', async () => {
    const other = await generateKey('k2');
    const config = await loadConfig(
      env({
        ECAMO_SERVICE_PUBLIC_KEYS: keysOf({
          [`${SERVICE} svc-1`]: serviceKey.publicJwk,
          'http://other.example:8080 k2': other.publicJwk,
          'https://bare.example k3': { kty: 'EC', crv: 'P-256', x: other.publicJwk.x, y: other.publicJwk.y },
        }),
      }),
    );
    assert.deepEqual([...config.serviceKeys.keys()].sort(), ['http://other.example:8080 k2', 'https://bare.example k3', `${SERVICE} svc-1`]);
    for (const key of config.serviceKeys.values()) assert.equal(key.type, 'public');
    assert.deepEqual((await loadConfig(env({ ECAMO_SERVICE_PUBLIC_KEYS: '{}' }))).serviceKeys.size, 0);
  });

  it('ECAMO_PRIVATE_KEYS and ECAMO_SIGNING_KID: the named key signs, every key verifies, only public halves are published', async () => {
    const config = await loadConfig(
      env({ ECAMO_PRIVATE_KEYS: keysOf({ 'ecamo-1': ecamoKey.privateJwk, 'ecamo-2': secondKey.privateJwk }), ECAMO_SIGNING_KID: 'ecamo-2' }),
    );
    assert.equal(config.ecamoKeys.signing.kid, 'ecamo-2');
    assert.equal(config.ecamoKeys.signing.privateKey.type, 'private');
    assert.deepEqual([...config.ecamoKeys.verification.keys()].sort(), ['ecamo-1', 'ecamo-2']);
    for (const key of config.ecamoKeys.verification.values()) assert.equal(key.type, 'public');
    assert.deepEqual(
      config.ecamoKeys.publicJwks.map((jwk) => ({ ...jwk })),
      [ecamoKey, secondKey].map((key) => ({ kty: 'EC', crv: 'P-256', x: key.publicJwk.x, y: key.publicJwk.y, kid: key.kid, use: 'sig', alg: 'ES256' })),
    );
    assert.equal(JSON.stringify(config.ecamoKeys.publicJwks).includes('"d"'), false);
  });

  it('the four regular expressions', async () => {
    const config = await loadConfig(
      env({
        ECAMO_SERVICE_HOST_REGEXP: '^wiki\\.example$',
        ECAMO_SOURCE_ALLOWED_REGEXP: '^https://',
        ECAMO_SOURCE_BLOCKED_REGEXP: '\\.internal/',
        ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://10\\.',
      }),
    );
    assert.ok(config.serviceHostRegexp!.test('wiki.example'));
    assert.equal(config.serviceHostRegexp!.test('evil.example'), false);
    assert.ok(config.sourceAllowedRegexp!.test('https://img.example/a.png'));
    assert.ok(config.sourceBlockedRegexp!.test('https://x.internal/a.png'));
    assert.ok(config.privateSourceAllowedRegexp!.test('http://10.0.0.1/a.png'));
  });

  it('regular expressions are unanchored, match code points, and keep \\w and \\d ASCII (as JavaScript with the u flag did)', async () => {
    const compiled = async (text: string) => (await loadConfig(env({ ECAMO_SOURCE_ALLOWED_REGEXP: text }))).sourceAllowedRegexp!;
    assert.ok((await compiled('img\\.example/')).test('https://img.example/a.png'), 'unanchored');
    assert.equal((await compiled('^img\\.example/')).test('https://img.example/a.png'), false);
    assert.ok((await compiled('^https://x/.$')).test('https://x/\u{1F600}'), 'one . for one code point outside the BMP');
    assert.equal((await compiled('^\\w+$')).test('caf\u00e9'), false);
    assert.equal((await compiled('^\\d+$')).test('\u0663'), false);
    assert.ok((await compiled('\\/img\\.')).test('https://x/img.png'), 'escaped punctuation');
    assert.ok((await compiled('(?i)^https://IMG\\.')).test('https://img.example/'), 'inline flags');
  });

  it('numbers, names and strings', async () => {
    const config = await loadConfig(
      env({
        ECAMO_PREFIX: 'img-proxy',
        ECAMO_MAX_REDIRECTS: '3',
        ECAMO_MAX_LENGTH: '1024',
        ECAMO_TIMEOUT: '2',
        ECAMO_TOKEN_LIFETIME: '90',
        ECAMO_PROXY_TOKEN_ALG: 'ES256',
        ECAMO_AUTH_COOKIE: 'img_auth',
        ECAMO_DEFAULT_CACHE_CONTROL: 'private, max-age=10',
        ECAMO_DEFAULT_SURROGATE_CONTROL: 'max-age=86400',
        ECAMO_LOG_LEVEL: 'debug',
        ECAMO_WORKERS: '4',
        ECAMO_SHUTDOWN_GRACE: '3',
        ECAMO_CACHE_MAX_BYTES: '1000000',
        ECAMO_CACHE_MAX_ENTRY_BYTES: '20000',
      }),
    );
    assert.equal(config.prefix, 'img-proxy');
    assert.equal(config.maxRedirects, 3);
    assert.equal(config.maxLength, 1024);
    assert.equal(config.timeoutMs, 2000);
    assert.equal(config.tokenLifetimeSeconds, 90);
    assert.equal(config.proxyTokenAlg, 'ES256');
    assert.equal(config.authCookie, 'img_auth');
    assert.equal(config.defaultCacheControl, 'private, max-age=10');
    assert.equal(config.defaultSurrogateControl, 'max-age=86400');
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.workers, 4);
    assert.equal(config.shutdownGraceMs, 3000);
    assert.equal(config.cacheMaxBytes, 1_000_000);
    assert.equal(config.cacheMaxEntryBytes, 20_000);
  });

  it('ECAMO_SVG and ECAMO_SNIFF_UNLABELLED', async () => {
    const config = await loadConfig(env({ ECAMO_SVG: 'refuse', ECAMO_SNIFF_UNLABELLED: 'true' }));
    assert.deepEqual([config.svg, config.sniffUnlabelled], ['refuse', true]);
  });

  it('ECAMO_CONTENT_TYPE_ALLOWED: comma-separated, trimmed, lower-cased; replaces the default list', async () => {
    const config = await loadConfig(env({ ECAMO_CONTENT_TYPE_ALLOWED: ' Image/PNG ,application/pdf,, ' }));
    assert.deepEqual([...config.contentTypeAllowed].sort(), ['application/pdf', 'image/png']);
  });

  it('ECAMO_DEFUALT_CACHE_CONTROL (old misspelling) is accepted; the right spelling wins', async () => {
    assert.equal((await loadConfig(env({ ECAMO_DEFUALT_CACHE_CONTROL: 'public, max-age=5' }))).defaultCacheControl, 'public, max-age=5');
    const both = await loadConfig(env({ ECAMO_DEFUALT_CACHE_CONTROL: 'public, max-age=5', ECAMO_DEFAULT_CACHE_CONTROL: 'public, max-age=6' }));
    assert.equal(both.defaultCacheControl, 'public, max-age=6');
  });

  it('ECAMO_INSECURE accepts the usual spellings of true and false', async () => {
    for (const text of ['true', 'TRUE', '1', 'yes', 'on']) assert.equal((await loadConfig(env({ ECAMO_INSECURE: text }))).insecure, true, text);
    for (const text of ['false', '0', 'no', 'off']) assert.equal((await loadConfig(env({ ECAMO_INSECURE: text }))).insecure, false, text);
  });

  it('ECAMO_WORKERS=auto uses the CPU count', async () => {
    assert.equal((await loadConfig(env({ ECAMO_WORKERS: 'auto' }), { cpus: 6 })).workers, 6);
    assert.equal((await loadConfig(env({ ECAMO_WORKERS: 'auto' }), { cpus: 0 })).workers, 1);
  });

  it('ECAMO_LOG_LEVEL takes every pino level and silent', async () => {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
      assert.equal((await loadConfig(env({ ECAMO_LOG_LEVEL: level }))).logLevel, level);
    }
  });
});

describe('loadConfig: trusted proxies and quarantine', () => {
  it('reads addresses and ranges of both families, and the quarantine with its defaults', async () => {
    const config = await loadConfig(env({ ECAMO_TRUSTED_PROXIES: '10.0.0.0/8, 192.0.2.1,2001:db8::/32, ::ffff:172.16.0.0/108', ECAMO_QUARANTINE_FAILURES: '5' }));
    assert.deepEqual(config.trustedProxies?.entries, ['10.0.0.0/8', '192.0.2.1', '2001:db8::/32', '::ffff:172.16.0.0/108']);
    assert.deepEqual({ ...config.quarantine }, { failures: 5, windowSeconds: 60, periodSeconds: 300, ipv6PrefixBits: 64 });
    const custom = await loadConfig(env({ ECAMO_QUARANTINE_FAILURES: '3', ECAMO_QUARANTINE_WINDOW: '10', ECAMO_QUARANTINE_PERIOD: '20', ECAMO_QUARANTINE_IPV6_PREFIX: '128' }));
    assert.deepEqual({ ...custom.quarantine }, { failures: 3, windowSeconds: 10, periodSeconds: 20, ipv6PrefixBits: 128 });
    assert.equal((await loadConfig(env({ ECAMO_QUARANTINE_FAILURES: '0' }))).quarantine, undefined);
  });
});
