import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { ArgumentError } from '../../src/cli/arguments.js';
import { inspectCommand } from '../../src/cli/inspect.js';
import { signCookieCommand, signUrlCommand } from '../../src/cli/sign.js';
import { ConfigError } from '../../src/config/errors.js';
import { generateKey } from '../../src/config/generate-key.js';
import { createSigner } from '../../src/signer/index.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { signIdToken } from '../../src/tokens/id-token.js';
import { asOf, signedInThePast } from '../helpers/clock.js';
import { CANONICAL_HOST, CANONICAL_ORIGIN, SERVICE_ORIGIN, fetchAnswer, startEcamo, type Ecamo, type Source } from '../helpers/harness.js';
import { IMAGE, idTokenFromEcamo, runCli, startImageSource } from '../helpers/wire.js';

let ecamo: Ecamo;
let source: Source;
let dir: string;
let keyFile: string;
/** The environment ecamo was started with, for `inspect`. */
let serverEnv: Record<string, string>;

before(async () => {
  ecamo = await startEcamo();
  source = await startImageSource();
  dir = mkdtempSync(join(tmpdir(), 'ecamo-sign-'));
  // What `ecamo keygen --kid svc-1 --origin http://wiki.test` prints, for the key ecamo knows.
  keyFile = join(dir, 'wiki-key.json');
  writeFileSync(
    keyFile,
    JSON.stringify({
      kid: ecamo.serviceKey.kid,
      privateJwk: ecamo.serviceKey.privateJwk,
      publicJwk: ecamo.serviceKey.publicJwk,
      ECAMO_SERVICE_PUBLIC_KEYS: { [`${SERVICE_ORIGIN} ${ecamo.serviceKey.kid}`]: ecamo.serviceKey.publicJwk },
    }),
  );
  serverEnv = { ...ecamo.env };
});

after(async () => {
  await Promise.all([ecamo.close(), source.close()]);
  rmSync(dir, { recursive: true, force: true });
});

async function follow(path: string, cookie: string): Promise<{ redirect: number; image: Buffer; status: number }> {
  const redirect = await ecamo.get(path, { headers: { cookie } });
  assert.equal(redirect.status, 302, `${redirect.status} ${redirect.header('x-ecamo-error')}`);
  const location = new URL(redirect.header('location')!);
  assert.equal(location.origin, CANONICAL_ORIGIN);
  const image = await fetchAnswer(`${ecamo.url}${location.pathname}${location.search}`, { host: CANONICAL_HOST });
  return { redirect: redirect.status, image: image.bytes, status: image.status };
}

async function inspect(args: string[], env: Record<string, string> = serverEnv): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await inspectCommand(args, env, (text) => (out += text));
  return { code, out };
}

describe('sign-url and sign-cookie', () => {
  test('from a keygen key file: accepted by a real ecamo, which serves the image', async () => {
    const url = await runCli(['sign-url', '--key-file', keyFile, `${source.origin}/cat.png`]);
    assert.equal(url.code, 0, url.stderr);
    assert.match(url.stdout, /^\/\.ecamo\/v1\/r\/[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const cookie = await runCli(['sign-cookie', '--key-file', keyFile, '--canonical-origin', CANONICAL_ORIGIN, '--insecure', '--format', 'cookie']);
    assert.equal(cookie.code, 0, cookie.stderr);
    assert.match(cookie.stdout, /^ecamo_token=[\w-]+\.[\w-]+\.[\w-]+\n$/);

    const { status, image } = await follow(url.stdout.trim(), cookie.stdout.trim());
    assert.equal(status, 200);
    assert.deepEqual(image, IMAGE);
  });

  test('from ECAMO_SIGNER_* with --send-token, --prefix and --ttl', async () => {
    const env = {
      ECAMO_SIGNER_ORIGIN: SERVICE_ORIGIN,
      ECAMO_SIGNER_KID: ecamo.serviceKey.kid,
      ECAMO_SIGNER_PRIVATE_JWK: JSON.stringify(ecamo.serviceKey.privateJwk),
    };
    const url = await runCli(['sign-url', '--send-token', '--prefix', 'img', '--ttl', '120', `${source.origin}/internal.png`], env);
    assert.equal(url.code, 0, url.stderr);
    assert.match(url.stdout, /^\/img\/v1\/r\//);
    const claims = decodeJwt(url.stdout.trim().split('/').at(-1)!);
    assert.equal(claims['ecamo:send-token'], true);
    assert.equal(typeof claims.exp, 'number');
    const cookie = await runCli(['sign-cookie', '--canonical-origin', CANONICAL_ORIGIN, '--insecure', '--format', 'cookie', '--ttl', '60'], env);
    assert.equal(cookie.code, 0, cookie.stderr);

    const before = source.requests.length;
    const { status } = await follow(url.stdout.trim(), cookie.stdout.trim());
    assert.equal(status, 200);
    assert.match(source.requests[before]!.headers.authorization ?? '', /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  });

  test('sign-cookie prints a __Host- Set-Cookie value by default, or the bare token', async () => {
    const setCookie = await runCli(['sign-cookie', '--key-file', keyFile, '--canonical-origin', 'https://ecamo.example', '--ttl', '90', '--subject', 'u1']);
    assert.equal(setCookie.code, 0, setCookie.stderr);
    assert.match(setCookie.stdout, /^__Host-ecamo_token=[\w.-]+; Path=\/; Max-Age=90; HttpOnly; SameSite=Lax; Secure\n$/);
    const token = await runCli(['sign-cookie', '--key-file', keyFile, '--canonical-origin', 'https://ecamo.example', '--format', 'token']);
    const claims = decodeJwt(token.stdout.trim());
    assert.equal(claims.aud, 'https://ecamo.example');
    assert.equal(claims.iss, SERVICE_ORIGIN);
    assert.equal(claims.exp! - claims.iat!, 300);
  });

  test('mistakes are refused with the flag or variable to fix; the CLI exits 2', async () => {
    const publicOnly = join(dir, 'public.json');
    writeFileSync(publicOnly, JSON.stringify(ecamo.serviceKey.publicJwk));
    const bareJwk = join(dir, 'bare.json');
    writeFileSync(bareJwk, JSON.stringify(ecamo.serviceKey.privateJwk));
    const ignore = (): void => {};
    const cases: [() => Promise<void>, typeof ArgumentError | typeof ConfigError, RegExp][] = [
      [() => signUrlCommand(['https://img.example/x'], {}, ignore), ConfigError, /ECAMO_SIGNER_PRIVATE_JWK: is required/],
      [() => signUrlCommand(['--key-file', keyFile], {}, ignore), ArgumentError, /exactly one source URL/],
      [() => signUrlCommand(['--key-file', keyFile, '--ttl', '0', 'https://img.example/x'], {}, ignore), ArgumentError, /--ttl must be a positive/],
      [() => signUrlCommand(['--key-file', keyFile, 'ftp://img.example/x'], {}, ignore), ArgumentError, /http or https/],
      [() => signUrlCommand(['--key-file', join(dir, 'missing.json'), 'https://img.example/x'], {}, ignore), ConfigError, /--key-file: cannot read .*ENOENT/],
      [() => signUrlCommand(['--key-file', publicOnly, '--origin', SERVICE_ORIGIN, 'https://img.example/x'], {}, ignore), ConfigError, /private EC P-256/],
      [() => signUrlCommand(['--key-file', bareJwk, 'https://img.example/x'], {}, ignore), ConfigError, /ECAMO_SIGNER_ORIGIN: is required/],
      [() => signUrlCommand(['--key-file', keyFile, '--origin', 'http://wiki.test/', 'https://img.example/x'], {}, ignore), ConfigError, /--origin: origin must be a bare origin/],
      [() => signUrlCommand(['x'], { ECAMO_SIGNER_PRIVATE_JWK: '{' }, ignore), ConfigError, /ECAMO_SIGNER_PRIVATE_JWK: is not valid JSON/],
      [() => signCookieCommand(['--key-file', keyFile], {}, ignore), ArgumentError, /--canonical-origin/],
      [() => signCookieCommand(['--key-file', keyFile, '--canonical-origin', 'https://e.example', '--format', 'xml'], {}, ignore), ArgumentError, /--format must be one of/],
    ];
    for (const [running, type, message] of cases) {
      await assert.rejects(running(), (error: Error) => error instanceof type && message.test(error.message));
    }
    for (const args of [['sign-url', 'https://img.example/x'], ['sign-url', '--key-file', keyFile], ['sign-url', '--nope']]) {
      const result = await runCli(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /^ecamo: /);
      assert.equal(result.stdout, '');
    }
  });
});

describe('inspect', () => {
  test('accepted (exit 0): URL token, auth cookie, proxy token, ID token, each recognised by its claims', async () => {
    const path = await ecamo.signer.url(`${source.origin}/cat.png`);
    const url = await runCli(['inspect', path], serverEnv);
    assert.equal(url.code, 0, url.stdout + url.stderr);
    assert.match(url.stdout, /^kind: URL token/);
    assert.match(url.stdout, /"ecamo:url": "http:\/\/127\.0\.0\.1:\d+\/cat\.png"/);
    assert.match(url.stdout, /verdict: accepted/);

    // The harness minted its cookie when it started, possibly minutes ago on a loaded machine: inspect it as of then.
    const { iat } = decodeJwt(ecamo.cookie.slice(ecamo.cookie.indexOf('=') + 1));
    const cookie = await asOf(iat! * 1000, () => inspect([ecamo.cookie]));
    assert.equal(cookie.code, 0, cookie.out);
    assert.match(cookie.out, /^kind: authorisation cookie/);
    assert.match(cookie.out, /exp: \S+Z \(in 10 min\)/);

    const redirect = await ecamo.get(path, { headers: { cookie: ecamo.cookie } });
    const proxy = await inspect([redirect.header('location')!]);
    assert.equal(proxy.code, 0, proxy.out);
    assert.match(proxy.out, /^kind: proxy token/);

    const idToken = await idTokenFromEcamo(ecamo, source);
    const id = await inspect([`Bearer ${idToken}`, '--audience', source.origin]);
    assert.equal(id.code, 0, id.out);
    assert.match(id.out, /^kind: ID token/);

    const fromStdin = await runCli(['inspect', '-'], serverEnv, `${path}\n`);
    assert.equal(fromStdin.code, 0, fromStdin.stdout);
  });

  test('rejected (exit 1), with every reason in plain words', async () => {
    const expired = await signedInThePast(240, () => ecamo.signer.authCookie({ canonicalOrigin: CANONICAL_ORIGIN, ttlSeconds: 60, insecure: true }));
    const wrongKid = await createSigner({ origin: SERVICE_ORIGIN, kid: 'svc-9', privateJwk: ecamo.serviceKey.privateJwk });
    const impostor = await generateKey(ecamo.serviceKey.kid);
    const foreign = await createSigner({ origin: SERVICE_ORIGIN, kid: impostor.kid, privateJwk: impostor.privateJwk });
    const good = await ecamo.signer.url(`${source.origin}/cat.png`);
    const [, payload, signature] = good.split('/').at(-1)!.split('.');
    const hs256 = `${Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'svc-1' })).toString('base64url')}.${payload}.${signature}`;
    const strangerId = await signIdToken({ canonicalOrigin: 'http://other.test', sourceOrigin: source.origin, serviceOrigin: SERVICE_ORIGIN }, ecamo.config.ecamoKeys.signing, 45);
    const location = new URL((await ecamo.get(good, { headers: { cookie: ecamo.cookie } })).header('location')!);
    const wrongDigest = location.href.replace(/\/v1\/p\/[^?]+/, `/v1/p/${urlDigest('http://elsewhere.example/')}`);
    const otherAudience = await idTokenFromEcamo(ecamo, source);

    const cases: [string[], RegExp][] = [
      [[`ecamo_token=${expired.token}`], /expired 3 min ago, more than the 10 s of clock leeway \(exp \S+Z \(3 min ago\)\)/],
      [[await wrongKid.url('https://img.example/x')], /unknown kid "http:\/\/wiki\.test svc-9": ECAMO_SERVICE_PUBLIC_KEYS has "http:\/\/wiki\.test svc-1"/],
      [[await foreign.url('https://img.example/x')], /bad signature: not signed by the key "http:\/\/wiki\.test svc-1"/],
      [[hs256], /invalid-token: alg HS256 is not allowed/],
      [[strangerId], /wrong iss: "http:\/\/other\.test", ecamo issues ID tokens as http:\/\/ecamo\.test or https:\/\/ecamo\.test/],
      [[wrongDigest], /the URL's digest: digest does not match the token URL/],
      [[`Bearer ${otherAudience}`, '--audience', 'https://img.example'], /wrong aud: the token is for http:\/\/127\.0\.0\.1:\d+, not https:\/\/img\.example/],
      [[`__Host-ecamo_token=${(ecamo.cookie.split('=')[1])}`], /the cookie is named __Host-ecamo_token, ecamo reads ecamo_token/],
      [[good, '--service-origin', 'http://blog.test'], /wrong iss: the token says "http:\/\/wiki\.test", ecamo would see the service origin http:\/\/blog\.test/],
    ];
    for (const [args, reason] of cases) {
      const { code, out } = await inspect(args);
      assert.equal(code, 1, `${args[0]!.slice(0, 30)}: ${out}`);
      assert.match(out, /verdict: rejected\n/);
      assert.match(out, reason);
    }

    const secure = await inspect([good], { ...serverEnv, ECAMO_INSECURE: 'false' });
    assert.equal(secure.code, 1);
    assert.match(secure.out, /ecamo would see the service origin https:\/\/wiki\.test \(without ECAMO_INSECURE every service origin is https\)/);
    const policy = await inspect([good], { ...serverEnv, ECAMO_SOURCE_BLOCKED_REGEXP: '^http://127\\.' });
    assert.match(policy.out, /ecamo:url: source matches ECAMO_SOURCE_BLOCKED_REGEXP/);
  });

  test('undecidable (exit 1): no configuration, a broken one, not a token, not an ecamo token', async () => {
    const path = await ecamo.signer.url(`${source.origin}/cat.png`);
    const bare = await runCli(['inspect', path]);
    assert.equal(bare.code, 1);
    assert.match(bare.stdout, /^kind: URL token/);
    assert.match(bare.stdout, /verdict: undecidable: no ecamo configuration in the environment/);

    const broken = await inspect([path], { ...serverEnv, ECAMO_SERVICE_PUBLIC_KEYS: '{' });
    assert.equal(broken.code, 1);
    assert.match(broken.out, /undecidable: the ECAMO_\* configuration is wrong: ECAMO_SERVICE_PUBLIC_KEYS: is not valid JSON/);

    const junk = await inspect(['not-a-token']);
    assert.equal(junk.code, 1);
    assert.match(junk.out, /^not a JWT/);

    const foreignJwt = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('{"sub":"someone"}').toString('base64url')}.c2ln`;
    const other = await inspect([foreignJwt]);
    assert.equal(other.code, 1);
    assert.match(other.out, /verdict: undecidable: not an ecamo token/);

    const usage = await runCli(['inspect']);
    assert.equal(usage.code, 2);
  });
});
