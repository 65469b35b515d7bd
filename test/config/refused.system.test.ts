import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { spawnChild } from '../helpers/children.js';
import { GIF, paddedPng, SVG } from '../helpers/images.js';
import { SERVICE, ecamoKey, env, keysOf, p384, secondKey, serviceKey } from './fixture.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

/** loadConfig must fail with a one-line ConfigError that names `variable`. */
async function assertRefused(overrides: Record<string, string | undefined>, variable: string): Promise<void> {
  await assert.rejects(
    loadConfig(env(overrides)),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `${JSON.stringify(overrides).slice(0, 200)}: ${String(error)}`);
      assert.equal(error.variable, variable);
      assert.ok(error.message.startsWith(`${variable}: `), error.message);
      assert.equal(error.message.includes('\n'), false);
      return true;
    },
    `${JSON.stringify(overrides).slice(0, 200)} should be refused naming ${variable}`,
  );
}


describe('loadConfig: a wrong value throws a ConfigError naming the variable', () => {
  it('missing required values', async () => {
    for (const name of ['ECAMO_CANONICAL_HOST', 'ECAMO_SERVICE_PUBLIC_KEYS', 'ECAMO_PRIVATE_KEYS']) {
      await assertRefused({ [name]: undefined }, name);
      await assertRefused({ [name]: '' }, name);
    }
  });

  it('ECAMO_SVG other than sandbox or refuse; ECAMO_SNIFF_UNLABELLED not a boolean', async () => {
    for (const text of ['allow', 'Sandbox', 'on']) await assertRefused({ ECAMO_SVG: text }, 'ECAMO_SVG');
    await assertRefused({ ECAMO_SNIFF_UNLABELLED: 'sometimes' }, 'ECAMO_SNIFF_UNLABELLED');
  });

  it('ECAMO_FALLBACK_IMAGE that cannot be read, or is not an image the rules allow', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecamo-fallback-'));
    try {
      const write = (name: string, bytes: Buffer | string): string => {
        writeFileSync(join(dir, name), bytes);
        return join(dir, name);
      };
      await assertRefused({ ECAMO_FALLBACK_IMAGE: join(dir, 'missing.png') }, 'ECAMO_FALLBACK_IMAGE');
      await assertRefused({ ECAMO_FALLBACK_IMAGE: dir }, 'ECAMO_FALLBACK_IMAGE');
      await assertRefused({ ECAMO_FALLBACK_IMAGE: write('page.png', '<!doctype html><p>not an image') }, 'ECAMO_FALLBACK_IMAGE');
      await assertRefused({ ECAMO_FALLBACK_IMAGE: write('empty.png', '') }, 'ECAMO_FALLBACK_IMAGE');
      await assertRefused({ ECAMO_FALLBACK_IMAGE: write('huge.png', paddedPng(1024 * 1024 + 1)) }, 'ECAMO_FALLBACK_IMAGE');
      // Images ecamo would refuse from a source: a type off the list, an SVG under ECAMO_SVG=refuse.
      await assertRefused({ ECAMO_FALLBACK_IMAGE: write('a.gif', GIF), ECAMO_CONTENT_TYPE_ALLOWED: 'image/png' }, 'ECAMO_FALLBACK_IMAGE');
      await assertRefused({ ECAMO_FALLBACK_IMAGE: write('a.svg', SVG), ECAMO_SVG: 'refuse' }, 'ECAMO_FALLBACK_IMAGE');
      const accepted = await loadConfig(env({ ECAMO_FALLBACK_IMAGE: write('b.svg', SVG) }));
      assert.deepEqual([accepted.fallbackImage?.type, accepted.fallbackImage?.body], ['image/svg+xml', SVG]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ECAMO_REDIS_URL that is not a redis:// URL with a numeric database', async () => {
    for (const text of ['127.0.0.1:6379', 'http://127.0.0.1:6379', 'redis://127.0.0.1:6379/x', 'redis://127.0.0.1:70000']) {
      await assertRefused({ ECAMO_REDIS_URL: text }, 'ECAMO_REDIS_URL');
    }
  });

  it('ECAMO_TRUSTED_PROXIES with an entry that is not an IP address or CIDR range', async () => {
    for (const text of ['10.0.0.1/33', 'proxy.example', '10.0.0', '127.1', '10.0.0.0/8/8', '::1/129', 'fe80::1%eth0', '10.0.0.1/-1', ' , ', '10.0.0.1,nope']) {
      await assertRefused({ ECAMO_TRUSTED_PROXIES: text }, 'ECAMO_TRUSTED_PROXIES');
    }
  });

  it('ECAMO_QUARANTINE_* that are not whole numbers in range', async () => {
    for (const [name, text] of [['FAILURES', '-1'], ['FAILURES', 'many'], ['WINDOW', '0'], ['WINDOW', '1.5'], ['PERIOD', '0'], ['PERIOD', '999999999'], ['IPV6_PREFIX', '31'], ['IPV6_PREFIX', '129'], ['IPV6_PREFIX', '/64']]) {
      await assertRefused({ [`ECAMO_QUARANTINE_${name}`]: text }, `ECAMO_QUARANTINE_${name}`);
    }
  });

  it('ECAMO_PROXY_TOKEN_ALG other than HS256 or ES256', async () => {
    for (const text of ['hs256', 'none', 'HS512', 'ES384', ' HS256']) {
      await assertRefused({ ECAMO_PROXY_TOKEN_ALG: text }, 'ECAMO_PROXY_TOKEN_ALG');
    }
  });

  it('ECAMO_CANONICAL_HOST that is not a host[:port]', async () => {
    for (const text of ['https://ecamo.example', 'ecamo.example/path', 'ecamo example', 'ecamo.example:port', 'user@ecamo.example']) {
      await assertRefused({ ECAMO_CANONICAL_HOST: text }, 'ECAMO_CANONICAL_HOST');
    }
  });

  it('bad JSON, or JSON that is not an object of JWKs', async () => {
    for (const name of ['ECAMO_SERVICE_PUBLIC_KEYS', 'ECAMO_PRIVATE_KEYS']) {
      for (const text of ['{', "{'a': 1}", '[]', '"text"', 'null', '42', '{"x": "not a jwk"}', '{"x": null}', '{"x": []}']) {
        await assertRefused({ [name]: text }, name);
      }
    }
    await assertRefused({ ECAMO_PRIVATE_KEYS: '{}' }, 'ECAMO_PRIVATE_KEYS');
  });

  it('ECAMO_SERVICE_PUBLIC_KEYS: key names must be "<service origin> <kid>"', async () => {
    for (const name of ['svc-1', SERVICE, `${SERVICE}/ svc-1`, 'wiki.example svc-1', `${SERVICE}  svc-1`, `${SERVICE} svc 1`, 'HTTPS://WIKI.example svc-1', ' svc-1']) {
      await assertRefused({ ECAMO_SERVICE_PUBLIC_KEYS: keysOf({ [name]: serviceKey.publicJwk }) }, 'ECAMO_SERVICE_PUBLIC_KEYS');
    }
  });

  it('only P-256 EC keys: P-384, RSA, OKP, symmetric and wrong alg/use are refused', async () => {
    const rsa = { kty: 'RSA', n: 'sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw', e: 'AQAB' };
    const oct = { kty: 'oct', k: 'c2VjcmV0' };
    const okp = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };
    const badPublic: unknown[] = [
      p384.publicJwk,
      rsa,
      oct,
      okp,
      { ...serviceKey.publicJwk, crv: 'secp256k1' },
      { ...serviceKey.publicJwk, kty: 'RSA' },
      { ...serviceKey.publicJwk, alg: 'ES384' },
      { ...serviceKey.publicJwk, alg: 'RS256' },
      { ...serviceKey.publicJwk, use: 'enc' },
    ];
    for (const jwk of badPublic) {
      await assertRefused({ ECAMO_SERVICE_PUBLIC_KEYS: keysOf({ [`${SERVICE} svc-1`]: jwk }) }, 'ECAMO_SERVICE_PUBLIC_KEYS');
    }
    for (const jwk of [p384.privateJwk, { ...rsa, d: 'AQAB' }, { ...oct }, { ...okp, d: okp.x }, { ...ecamoKey.privateJwk, alg: 'ES512' }]) {
      await assertRefused({ ECAMO_PRIVATE_KEYS: keysOf({ 'ecamo-1': jwk }) }, 'ECAMO_PRIVATE_KEYS');
    }
  });

  it('broken P-256 keys: missing or non-base64url coordinates, a point off the curve', async () => {
    const { x, y } = serviceKey.publicJwk as { x: string; y: string };
    const offCurve = { kty: 'EC', crv: 'P-256', x, y: y.slice(0, -2) + (y.endsWith('AA') ? 'AB' : 'AA') };
    for (const jwk of [{ kty: 'EC', crv: 'P-256', x }, { kty: 'EC', crv: 'P-256', x, y: 42 }, { kty: 'EC', crv: 'P-256', x: 'not base64!', y }, { kty: 'EC', crv: 'P-256', x, y: 'AAAA' }, offCurve]) {
      await assertRefused({ ECAMO_SERVICE_PUBLIC_KEYS: keysOf({ [`${SERVICE} svc-1`]: jwk }) }, 'ECAMO_SERVICE_PUBLIC_KEYS');
    }
  });

  it('ECAMO_PRIVATE_KEYS: a key without d (a public key) is refused; a bad d too', async () => {
    await assertRefused({ ECAMO_PRIVATE_KEYS: keysOf({ 'ecamo-1': ecamoKey.publicJwk }) }, 'ECAMO_PRIVATE_KEYS');
    await assertRefused({ ECAMO_PRIVATE_KEYS: keysOf({ 'ecamo-1': { ...ecamoKey.privateJwk, d: 'AAAA' } }) }, 'ECAMO_PRIVATE_KEYS');
    await assertRefused({ ECAMO_PRIVATE_KEYS: keysOf({ 'ecamo-1': { ...ecamoKey.privateJwk, d: 42 } }) }, 'ECAMO_PRIVATE_KEYS');
  });

  it('ECAMO_PRIVATE_KEYS: a JWK whose kid differs from its name is refused', async () => {
    await assertRefused({ ECAMO_PRIVATE_KEYS: keysOf({ 'ecamo-x': ecamoKey.privateJwk }) }, 'ECAMO_PRIVATE_KEYS');
  });

  it('ECAMO_SERVICE_PUBLIC_KEYS: a private key (with d) is refused, so a secret never sits where public keys go', async () => {
    await assertRefused({ ECAMO_SERVICE_PUBLIC_KEYS: keysOf({ [`${SERVICE} svc-1`]: serviceKey.privateJwk }) }, 'ECAMO_SERVICE_PUBLIC_KEYS');
  });

  it('ECAMO_SIGNING_KID: unknown, or missing when several keys could sign', async () => {
    await assertRefused({ ECAMO_SIGNING_KID: 'nope' }, 'ECAMO_SIGNING_KID');
    const two = keysOf({ 'ecamo-1': ecamoKey.privateJwk, 'ecamo-2': secondKey.privateJwk });
    await assertRefused({ ECAMO_PRIVATE_KEYS: two }, 'ECAMO_SIGNING_KID');
    await assertRefused({ ECAMO_PRIVATE_KEYS: two, ECAMO_SIGNING_KID: 'ecamo-3' }, 'ECAMO_SIGNING_KID');
  });

  it('bad regular expressions', async () => {
    for (const name of ['ECAMO_SERVICE_HOST_REGEXP', 'ECAMO_SOURCE_ALLOWED_REGEXP', 'ECAMO_SOURCE_BLOCKED_REGEXP', 'ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP']) {
      for (const text of ['(', '[a-', '*x', 'a{2,1}']) await assertRefused({ [name]: text }, name);
    }
  });

  it('regular expressions that need backtracking: RE2 syntax, as the Rust regex crate of the reference server', async () => {
    for (const text of ['(a)\\1', '^https://(?=img)', '(?!x)', '(?<=a)b', '(?<!a)b']) {
      await assertRefused({ ECAMO_SOURCE_ALLOWED_REGEXP: text }, 'ECAMO_SOURCE_ALLOWED_REGEXP');
    }
  });

  it('bad ECAMO_SOURCE_BLOCKED_CIDRS', async () => {
    for (const text of ['10.0.0.0/33', 'example.com', '127.1', '::1/129', '10.0.0.0/8,nope', ',', 'fe80::1%eth0']) {
      await assertRefused({ ECAMO_SOURCE_BLOCKED_CIDRS: text }, 'ECAMO_SOURCE_BLOCKED_CIDRS');
    }
  });

  it('bad ECAMO_BIND', async () => {
    for (const text of ['3000', 'localhost', '[::1]', '::1:3000', '127.0.0.1:70000', '127.0.0.1:', '127.0.0.1:http', '[::1:3000', 'a:b:3000']) {
      await assertRefused({ ECAMO_BIND: text }, 'ECAMO_BIND');
    }
  });

  it('bad numbers', async () => {
    const cases: [string, string[]][] = [
      ['ECAMO_MAX_REDIRECTS', ['abc', '-1', '1.5', '21', '0x2', ' 1']],
      ['ECAMO_MAX_LENGTH', ['0', '-1', '1e6', '5MB', '1.5']],
      ['ECAMO_TIMEOUT', ['0', 'ten', '-3', '0.5', '3601']],
      ['ECAMO_TOKEN_LIFETIME', ['0', '-45', 'forever', '86401']],
      ['ECAMO_SHUTDOWN_GRACE', ['x', '-1', '601']],
      ['ECAMO_CACHE_MAX_BYTES', ['-1', '64MB', '1.5', '1e6']],
      ['ECAMO_CACHE_MAX_ENTRY_BYTES', ['0', '-1', '1MiB']],
      ['ECAMO_CACHE_MIN_USES', ['0', '-1', '1.5', 'twice', '1001']],
    ];
    for (const [name, values] of cases) {
      for (const value of values) await assertRefused({ [name]: value }, name);
    }
  });

  it('bad ECAMO_LOG_LEVEL, ECAMO_WORKERS, ECAMO_INSECURE', async () => {
    for (const value of ['verbose', 'warning', 'none']) await assertRefused({ ECAMO_LOG_LEVEL: value }, 'ECAMO_LOG_LEVEL');
    for (const value of ['0', '-1', 'many', '257', '1.5', 'AUTO']) await assertRefused({ ECAMO_WORKERS: value }, 'ECAMO_WORKERS');
    for (const value of ['maybe', 'tru', '2']) await assertRefused({ ECAMO_INSECURE: value }, 'ECAMO_INSECURE');
  });

  it('bad ECAMO_PREFIX, ECAMO_AUTH_COOKIE, ECAMO_CONTENT_TYPE_ALLOWED, header values', async () => {
    for (const value of ['a/b', '/.ecamo', '.ecamo/', 'a b', 'a?b']) await assertRefused({ ECAMO_PREFIX: value }, 'ECAMO_PREFIX');
    for (const value of ['a b', 'a;b', 'a=b', 'tok\u00e9n']) await assertRefused({ ECAMO_AUTH_COOKIE: value }, 'ECAMO_AUTH_COOKIE');
    for (const value of ['png', 'image/png;q=1', ',', 'image/png, text html']) await assertRefused({ ECAMO_CONTENT_TYPE_ALLOWED: value }, 'ECAMO_CONTENT_TYPE_ALLOWED');
    await assertRefused({ ECAMO_DEFAULT_CACHE_CONTROL: 'public\r\nSet-Cookie: a=b' }, 'ECAMO_DEFAULT_CACHE_CONTROL');
    await assertRefused({ ECAMO_DEFUALT_CACHE_CONTROL: 'public\nx' }, 'ECAMO_DEFAULT_CACHE_CONTROL');
    await assertRefused({ ECAMO_DEFAULT_SURROGATE_CONTROL: 'max-age=1\n' }, 'ECAMO_DEFAULT_SURROGATE_CONTROL');
    await assertRefused({ ECAMO_USER_AGENT: 'ecamo\r\nX-Injected: 1' }, 'ECAMO_USER_AGENT');
  });
});

describe('ecamo serve with a wrong configuration', () => {
  /** Runs the CLI with only PATH and `variables` in its environment. */
  async function serve(variables: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawnChild(process.execPath, [CLI, 'serve'], { env: { PATH: process.env.PATH, ...variables }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, stdout, stderr };
  }

  it('prints one line naming the variable, no stack trace, and exits 2', async () => {
    const valid = env() as Record<string, string>;
    const cases: [Record<string, string>, string][] = [
      [{}, 'ECAMO_CANONICAL_HOST'],
      [{ ...valid, ECAMO_PRIVATE_KEYS: '{not json' }, 'ECAMO_PRIVATE_KEYS'],
      [{ ...valid, ECAMO_SERVICE_PUBLIC_KEYS: keysOf({ [`${SERVICE} svc-1`]: p384.publicJwk }) }, 'ECAMO_SERVICE_PUBLIC_KEYS'],
      [{ ...valid, ECAMO_SIGNING_KID: 'nope' }, 'ECAMO_SIGNING_KID'],
      [{ ...valid, ECAMO_SOURCE_BLOCKED_REGEXP: '(' }, 'ECAMO_SOURCE_BLOCKED_REGEXP'],
      [{ ...valid, ECAMO_BIND: 'nowhere' }, 'ECAMO_BIND'],
      [{ ...valid, ECAMO_WORKERS: 'lots' }, 'ECAMO_WORKERS'],
      [{ ...valid, ECAMO_TRUSTED_PROXIES: '10.0.0.0/8, proxy.example' }, 'ECAMO_TRUSTED_PROXIES'],
      [{ ...valid, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL'],
    ];
    const results = await Promise.all(cases.map(([variables]) => serve(variables)));
    results.forEach((result, i) => {
      const variable = cases[i]![1];
      assert.equal(result.code, 2, `${variable}: ${result.stderr}`);
      assert.equal(result.stdout, '', variable);
      const lines = result.stderr.split('\n');
      assert.equal(lines.length, 2, `exactly one line for ${variable}: ${JSON.stringify(result.stderr)}`);
      assert.equal(lines[1], '');
      assert.ok(lines[0]!.includes(variable), lines[0]);
      assert.doesNotMatch(result.stderr, /\bat .+:\d+:\d+|Error:|node:internal/, 'no stack trace');
    });
  });
});
