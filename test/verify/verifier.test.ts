import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { importJWK, SignJWT, type JSONWebKeySet } from 'jose';
import { generateKey } from '../../src/config/generate-key.js';
import { signIdToken } from '../../src/tokens/id-token.js';
import { createIdTokenVerifier, IdTokenError, MemoryReplayStore, type IdTokenErrorCode, type IdTokenVerifierOptions } from '../../src/verify/index.js';
import { CANONICAL_HOST, CANONICAL_ORIGIN, SERVICE_ORIGIN, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { fetchThroughEcamo, idTokenFromEcamo, IMAGE, startImageSource, startJwksRelay, type JwksRelay } from '../helpers/wire.js';

let ecamo: Ecamo;
let source: Source;
let relay: JwksRelay;

before(async () => {
  ecamo = await startEcamo();
  source = await startImageSource();
  relay = await startJwksRelay(ecamo);
});

after(async () => {
  await Promise.all([ecamo.close(), source.close(), relay.close()]);
});

function verifier(options: Partial<IdTokenVerifierOptions> = {}) {
  return createIdTokenVerifier({ ecamoOrigin: CANONICAL_ORIGIN, audience: source.origin, jwksUrl: relay.url, ...options });
}

async function refused(promise: Promise<unknown>, code: IdTokenErrorCode): Promise<IdTokenError> {
  const error = await promise.then(
    () => assert.fail(`accepted, expected ${code}`),
    (failure: unknown) => failure,
  );
  assert.ok(error instanceof IdTokenError, `not an IdTokenError: ${String(error)}`);
  assert.equal(error.code, code, error.message);
  return error;
}

/** An ID token with ecamo's real signing key, claims as given. */
async function ecamoSigned(claims: { now?: number; audience?: string; issuer?: string; lifetime?: number } = {}): Promise<string> {
  return signIdToken(
    { canonicalOrigin: claims.issuer ?? CANONICAL_ORIGIN, sourceOrigin: claims.audience ?? source.origin, serviceOrigin: SERVICE_ORIGIN },
    ecamo.config.ecamoKeys.signing,
    claims.lifetime ?? 45,
    claims.now,
  );
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('ID tokens from a real ecamo', () => {
  test('accepted, with the service origin, jti and kid', async () => {
    const token = await idTokenFromEcamo(ecamo, source);
    const verified = await verifier().verify(`Bearer ${token}`);
    assert.equal(verified.serviceOrigin, SERVICE_ORIGIN);
    assert.equal(verified.kid, ecamo.config.ecamoKeys.signing.kid);
    assert.match(verified.jti, /^[0-9a-f-]{36}$/);
    assert.equal(verified.exp - verified.iat, ecamo.config.tokenLifetimeSeconds);
  });

  test('a bare token is accepted as well as an Authorization header', async () => {
    const token = await idTokenFromEcamo(ecamo, source);
    assert.equal((await verifier().verify(token)).serviceOrigin, SERVICE_ORIGIN);
    const other = await idTokenFromEcamo(ecamo, source);
    assert.equal((await verifier().verify(`bearer   ${other}`)).serviceOrigin, SERVICE_ORIGIN);
  });

  test('replayed: the same token twice is refused the second time', async () => {
    const check = verifier();
    const token = await idTokenFromEcamo(ecamo, source);
    await check.verify(`Bearer ${token}`);
    const error = await refused(check.verify(`Bearer ${token}`), 'replayed');
    assert.equal(error.status, 401);
    // Each fetch through ecamo carries a fresh jti.
    await check.verify(await idTokenFromEcamo(ecamo, source));
  });

  test('a source that redirects within its origin gets a fresh token on each hop, and replay protection accepts both', async () => {
    const following = await startEcamo({ ECAMO_MAX_REDIRECTS: '1' });
    // The audience is the source's own origin, known once it listens.
    let check: ReturnType<typeof createIdTokenVerifier> | undefined;
    const verdicts: string[] = [];
    const protectedSource = await startSource((req, res) => {
      check!.verify(req.headers.authorization ?? '').then(
        () => {
          verdicts.push(`${req.url} accepted`);
          if (req.url === '/old.png') res.writeHead(302, { location: '/new.png' }).end();
          else res.writeHead(200, { 'content-type': 'image/png', 'content-length': IMAGE.length }).end(IMAGE);
        },
        (error: unknown) => {
          verdicts.push(`${req.url} ${error instanceof IdTokenError ? error.code : String(error)}`);
          res.writeHead(401).end();
        },
      );
    });
    try {
      check = createIdTokenVerifier({ ecamoOrigin: CANONICAL_ORIGIN, audience: protectedSource.origin, keys: { keys: [following.ecamoKey.publicJwk] } });
      const answer = await fetchThroughEcamo(following, `${protectedSource.origin}/old.png`, { sendToken: true });
      assert.equal(answer.status, 200, answer.body);
      assert.deepEqual(verdicts, ['/old.png accepted', '/new.png accepted']);
      const [first, second] = protectedSource.requests.map((req) => req.headers.authorization);
      assert.notEqual(first, second);
    } finally {
      await Promise.all([following.close(), protectedSource.close()]);
    }
  });

  test('replay: false accepts a token twice; a custom store sees jti and exp plus leeway', async () => {
    const token = await idTokenFromEcamo(ecamo, source);
    const lenient = verifier({ replay: false });
    await lenient.verify(token);
    await lenient.verify(token);

    const calls: [string, number][] = [];
    const custom = verifier({ replay: { checkAndStore: (jti, exp) => Promise.resolve((calls.push([jti, exp]), calls.length === 1)) }, clockToleranceSeconds: 5 });
    const verified = await custom.verify(token);
    assert.deepEqual(calls, [[verified.jti, verified.exp + 5]]);
    await refused(custom.verify(token), 'replayed');
  });

  test('wrong audience: a token for another source is refused', async () => {
    const token = await idTokenFromEcamo(ecamo, source);
    await refused(verifier({ audience: 'http://127.0.0.1:1' }).verify(token), 'wrong-audience');
  });

  test('wrong issuer: https where ecamo issues with http (insecure mode) is refused', async () => {
    const token = await idTokenFromEcamo(ecamo, source);
    const error = await refused(verifier({ ecamoOrigin: `https://${CANONICAL_HOST}` }).verify(token), 'invalid-token');
    assert.match(error.message, /iss/);
  });

  test('expired: refused beyond the leeway, accepted within it', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused(verifier().verify(await ecamoSigned({ now: now - 120 })), 'expired');
    const recent = await ecamoSigned({ now: now - 50, lifetime: 45 });
    await verifier({ clockToleranceSeconds: 10 }).verify(recent);
    await refused(verifier({ clockToleranceSeconds: 0 }).verify(recent), 'expired');
  });
});

describe('forged tokens', () => {
  test('signed by another key under ecamo kid: bad signature', async () => {
    const impostor = await generateKey(ecamo.config.ecamoKeys.signing.kid);
    const key = await importJWK(impostor.privateJwk, 'ES256');
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ 'ecamo:svc': SERVICE_ORIGIN })
      .setProtectedHeader({ alg: 'ES256', kid: impostor.kid })
      .setIssuer(CANONICAL_ORIGIN)
      .setSubject('anonymous')
      .setAudience(source.origin)
      .setIssuedAt(now)
      .setExpirationTime(now + 45)
      .setJti('forged')
      .sign(key);
    const error = await refused(verifier().verify(token), 'invalid-token');
    assert.match(error.message, /signature/);
  });

  test('unknown kid, alg none, HS256, tampered claims, garbage', async () => {
    const good = await ecamoSigned();
    const [header, payload, signature] = good.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;

    await refused(verifier().verify(`${b64({ alg: 'ES256', kid: 'nobody' })}.${payload}.${signature}`), 'unknown-key');
    const none = await refused(verifier().verify(`${b64({ alg: 'none', kid: 'ecamo-1' })}.${payload}.`), 'invalid-token');
    assert.match(none.message, /alg/);
    await refused(verifier().verify(`${b64({ alg: 'HS256', kid: 'ecamo-1' })}.${payload}.${signature}`), 'invalid-token');
    await refused(verifier().verify(`${b64({ alg: 'ES256' })}.${payload}.${signature}`), 'invalid-token');
    const tampered = `${header}.${b64({ ...claims, 'ecamo:svc': 'https://evil.example' })}.${signature}`;
    assert.match((await refused(verifier().verify(tampered), 'invalid-token')).message, /signature/);
    for (const junk of ['not-a-token', 'a.b.c', `${header}.${payload}`, `Bearer ${header}.%%%.${signature}`, `Bearer ${good} extra`]) {
      await refused(verifier().verify(junk), 'invalid-token');
    }
  });

  test('missing: no header, empty, another scheme, Bearer alone', async () => {
    for (const input of [undefined, null, '', '   ', 'Basic dXNlcjpwYXNz', 'Bearer']) {
      await refused(verifier().verify(input), 'missing-token');
    }
  });
});

describe('JWKS fetching and rotation', () => {
  test('one fetch serves many tokens; an unknown kid refreshes at most once per interval', async () => {
    const check = verifier({ jwksRefreshIntervalSeconds: 30 });
    const before = relay.hits;
    await check.verify(await ecamoSigned());
    await check.verify(await ecamoSigned());
    assert.equal(relay.hits - before, 1);
    const unknown = `${b64({ alg: 'ES256', kid: 'new-kid' })}.${(await ecamoSigned()).split('.').slice(1).join('.')}`;
    await refused(check.verify(unknown), 'unknown-key');
    await refused(check.verify(unknown), 'unknown-key');
    assert.equal(relay.hits - before, 1, 'the first fetch is too recent to ask again');

    const eager = verifier({ jwksRefreshIntervalSeconds: 0 });
    const eagerBefore = relay.hits;
    await eager.verify(await ecamoSigned());
    await refused(eager.verify(unknown), 'unknown-key');
    assert.equal(relay.hits - eagerBefore, 2, 'an unknown kid asks again once the interval allows');
  });

  test('rotation: a new ecamo key is picked up without restarting the verifier, the removed one refused', async () => {
    const first = await startEcamo();
    const rotated = await generateKey('ecamo-2');
    const second = await startEcamo({ ECAMO_PRIVATE_KEYS: JSON.stringify({ [rotated.kid]: rotated.privateJwk }) });
    const rotatingRelay = await startJwksRelay(first);
    try {
      const check = createIdTokenVerifier({
        ecamoOrigin: CANONICAL_ORIGIN,
        audience: source.origin,
        jwksUrl: rotatingRelay.url,
        jwksRefreshIntervalSeconds: 0,
      });
      const oldToken = await idTokenFromEcamo(first, source);
      assert.equal((await check.verify(await idTokenFromEcamo(first, source))).kid, 'ecamo-1');

      rotatingRelay.target(second);
      const verified = await check.verify(await idTokenFromEcamo(second, source));
      assert.equal(verified.kid, 'ecamo-2');
      await refused(check.verify(oldToken), 'unknown-key');
    } finally {
      await Promise.all([first.close(), second.close(), rotatingRelay.close()]);
    }
  });

  test('jwks-unavailable (503) when the keys cannot be fetched; a custom fetch is used', async () => {
    const down = await startEcamo();
    const downRelay = await startJwksRelay(down);
    await down.close();
    try {
      const error = await refused(verifier({ jwksUrl: downRelay.url }).verify(await ecamoSigned()), 'jwks-unavailable');
      assert.equal(error.status, 503);
    } finally {
      await downRelay.close();
    }

    const asked: string[] = [];
    const viaCustomFetch = verifier({
      jwksUrl: 'http://jwks.invalid/keys.json',
      fetch: async (url, init) => {
        asked.push(url);
        return fetch(relay.url, init);
      },
    });
    await viaCustomFetch.verify(await ecamoSigned());
    assert.deepEqual(asked, ['http://jwks.invalid/keys.json']);
  });

  test('a set fetched once stays usable when a later refresh fails', async () => {
    let up = true;
    const check = verifier({
      jwksRefreshIntervalSeconds: 0,
      fetch: async (_url, init) => (up ? fetch(relay.url, init) : new Response('down', { status: 503 })),
    });
    await check.verify(await ecamoSigned());
    up = false;
    await check.verify(await ecamoSigned());
    await refused(check.verify(`${b64({ alg: 'ES256', kid: 'other' })}.x.y`), 'unknown-key');
  });

  test('static keys: no fetch at all', async () => {
    const response = await ecamo.get('/.well-known/jwks.json', { host: CANONICAL_HOST });
    const check = verifier({ jwksUrl: undefined, keys: JSON.parse(response.body) as JSONWebKeySet, fetch: () => assert.fail('fetched') });
    await check.verify(await ecamoSigned());
  });

  test("ecamo's JWKS is cacheable and public only", async () => {
    const response = await ecamo.get('/.well-known/jwks.json', { host: CANONICAL_HOST });
    assert.equal(response.status, 200);
    assert.equal(response.header('cache-control'), 'public, max-age=300');
    const { keys } = JSON.parse(response.body) as { keys: Record<string, unknown>[] };
    assert.equal(keys.length, 1);
    assert.deepEqual(Object.keys(keys[0]!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  });

});

describe('options and the replay store', () => {
  test('options are checked when the verifier is made', () => {
    const base = { ecamoOrigin: CANONICAL_ORIGIN, audience: 'https://img.example' };
    assert.throws(() => createIdTokenVerifier({ ...base, ecamoOrigin: 'https://ecamo.example/' }), TypeError);
    assert.throws(() => createIdTokenVerifier({ ...base, audience: 'img.example' }), TypeError);
    assert.throws(() => createIdTokenVerifier({ ...base, audience: 'https://img.example/path' }), /such as https:\/\/img\.example/);
    assert.throws(() => createIdTokenVerifier({ ...base, clockToleranceSeconds: 61 }), /0 to 60/);
    assert.throws(() => createIdTokenVerifier({ ...base, jwksUrl: 'ftp://x/jwks' }), TypeError);
    assert.throws(() => createIdTokenVerifier({ ...base, keys: { keys: [] }, jwksUrl: 'https://x/' }), /not both/);
    assert.throws(() => createIdTokenVerifier({ ...base, keys: { keys: [{ kty: 'RSA', kid: 'r' }] } }), /P-256/);
    assert.throws(() => createIdTokenVerifier({ ...base, jwksMaxAgeSeconds: 10, jwksRefreshIntervalSeconds: 30 }), TypeError);
  });

  test('MemoryReplayStore forgets expired jtis and stays bounded', () => {
    const store = new MemoryReplayStore(2);
    assert.equal(store.checkAndStore('a', 100, 50), true);
    assert.equal(store.checkAndStore('a', 100, 60), false);
    assert.equal(store.checkAndStore('a', 200, 100), true, 'expired entries are forgotten');
    assert.equal(store.checkAndStore('b', 200, 101), true);
    assert.equal(store.checkAndStore('c', 200, 102), true);
    assert.equal(store.size, 2);
    assert.equal(store.checkAndStore('c', 200, 103), false);
    assert.throws(() => new MemoryReplayStore(0), TypeError);
  });
});
