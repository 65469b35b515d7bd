/**
 * docs/protocol.md §8: fetching the source, against a real ecamo and real
 * sources on 127.0.0.1. Every status, header and error code the protocol names
 * is asserted; one `describe` per section.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JWK } from 'jose';
import { SOURCE_ACCEPT } from '../../src/cache/accept-class.js';
import { CANONICAL_HOST, CANONICAL_ORIGIN, SERVICE_ORIGIN, fetchCutOff, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { paddedPng } from '../helpers/images.js';
import { PNG, src, uniqueNumber, requestsFor, redirect, followCanonical, proxy, assertEcamoError, startProtocolWorld, stopProtocolWorld } from '../helpers/protocol-world.js';

/** From package.json itself, as a release would carry it. */
const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let source: Source;
let ecamo: Ecamo;

before(async () => {
  ({ source, ecamo } = await startProtocolWorld());
});

after(stopProtocolWorld);

describe('docs/protocol.md §8: Fetching the source', () => {
  it("GET with Accept-Encoding: identity, Via: 1.1 ecamo and the fixed Accept of the client's class; nothing else from the client", async () => {
    const sourceUrl = src('/img.png');
    const answer = await proxy(ecamo, sourceUrl, {
      headers: {
        accept: 'image/avif,image/webp,*/*',
        'accept-encoding': 'gzip, br',
        'accept-language': 'de',
        cookie: 'ecamo_token=client-cookie',
        authorization: 'Bearer client-secret',
        'user-agent': 'client-agent',
        referer: 'http://wiki.test/page',
        'x-forwarded-for': '10.0.0.1',
        'x-custom': 'client',
      },
    });
    assert.equal(answer.status, 200);
    const [seen] = requestsFor(sourceUrl);
    assert.ok(seen !== undefined);
    assert.equal(seen.method, 'GET');
    assert.equal(seen.headers['accept-encoding'], 'identity');
    assert.equal(seen.headers.via, '1.1 ecamo');
    assert.equal(seen.headers.accept, SOURCE_ACCEPT.avif);
    assert.equal(seen.headers['user-agent'], `ecamo/${PACKAGE_VERSION}`, "ecamo's own, not the client's");
    for (const name of Object.keys(seen.headers)) {
      assert.ok(['host', 'connection', 'accept', 'accept-encoding', 'via', 'user-agent'].includes(name), `source received ${name}`);
    }
    assert.equal(seen.headers.host, `127.0.0.1:${source.port}`);
  });

  it('HEAD from the client is a GET to the source', async () => {
    const sourceUrl = src('/img.png');
    const answer = await proxy(ecamo, sourceUrl, { method: 'HEAD' });
    assert.equal(answer.status, 200);
    assert.equal(answer.header('content-type'), 'image/png');
    assert.equal(answer.header('content-length'), String(Buffer.byteLength(PNG)));
    assert.equal(answer.body, '');
    assert.equal(requestsFor(sourceUrl)[0]!.method, 'GET');
  });

  it('without ecamo:send-token, no Authorization reaches the source', async () => {
    const sourceUrl = src('/img.png');
    const first = await redirect(ecamo, sourceUrl, { sendToken: false });
    await followCanonical(ecamo, first.header('location')!, { headers: { authorization: 'Bearer client' } });
    assert.equal(requestsFor(sourceUrl)[0]!.headers.authorization, undefined);
  });

  it('with ecamo:send-token: Authorization: Bearer <anonymous ID token> signed by ecamo (verified with the JWKS)', async () => {
    const sourceUrl = src('/img.png');
    const first = await redirect(ecamo, sourceUrl, { sendToken: true });
    const before = Math.floor(Date.now() / 1000);
    const answer = await followCanonical(ecamo, first.header('location')!, { headers: { authorization: 'Bearer client' } });
    const after = Math.ceil(Date.now() / 1000);
    assert.equal(answer.status, 200);

    const authorization = requestsFor(sourceUrl)[0]!.headers.authorization!;
    assert.match(authorization, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    const jwks = JSON.parse((await ecamo.get('/.well-known/jwks.json', { host: CANONICAL_HOST })).body) as { keys: JWK[] };
    const { payload, protectedHeader } = await jwtVerify(authorization.slice('Bearer '.length), createLocalJWKSet({ keys: jwks.keys }), {
      issuer: CANONICAL_ORIGIN,
      audience: source.origin,
      subject: 'anonymous',
      algorithms: ['ES256'],
    });
    assert.equal(protectedHeader.kid, ecamo.ecamoKey.kid);
    assert.equal(payload.iss, CANONICAL_ORIGIN);
    assert.equal(payload.sub, 'anonymous');
    assert.equal(payload.aud, source.origin);
    assert.ok(payload.iat! >= before && payload.iat! <= after);
    assert.equal(payload.exp, payload.iat! + 45);
    assert.equal(payload['ecamo:svc'], SERVICE_ORIGIN);
    // It says nothing about the user.
    for (const claim of Object.keys(payload)) assert.ok(['iss', 'sub', 'aud', 'iat', 'exp', 'jti', 'ecamo:svc'].includes(claim), claim);
  });

  it('ECAMO_MAX_REDIRECTS defaults to 0: a source redirect is a 400 source-response', async () => {
    const sourceUrl = src('/hop/1');
    const answer = await proxy(ecamo, sourceUrl);
    assert.equal(answer.status, 400);
    assert.equal(answer.header('x-ecamo-error'), 'source-response');
    assert.equal(requestsFor(sourceUrl).length, 1);
  });

  it('ECAMO_MAX_REDIRECTS=N follows N hops, not N+1', async () => {
    const following = await startEcamo({ ECAMO_MAX_REDIRECTS: '2' });
    try {
      const two = await proxy(following, src('/hop/2'));
      assert.equal(two.status, 200);
      assert.deepEqual(two.bytes, PNG);
      const three = await proxy(following, src('/hop/3'));
      assert.equal(three.status, 400);
      assert.equal(three.header('x-ecamo-error'), 'source-response');
      assert.equal(three.header('x-ecamo-error-origin'), 'source');
    } finally {
      await following.close();
    }
  });

  it('User-Agent: ecamo/<version> on every redirect hop; ECAMO_USER_AGENT replaces it (our addition)', async () => {
    const other = await startSource((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
    try {
      for (const [env, expected] of [[{}, `ecamo/${PACKAGE_VERSION}`], [{ ECAMO_USER_AGENT: 'ExampleWiki-images/2.0 (+https://wiki.example/bot)' }, 'ExampleWiki-images/2.0 (+https://wiki.example/bot)']] as const) {
        const following = await startEcamo({ ECAMO_MAX_REDIRECTS: '2', ...env });
        try {
          // Two hops on the source, a third on another origin.
          const sourceUrl = src('/hop/1');
          const otherPath = `/img.png?n=${uniqueNumber()}`;
          assert.equal((await proxy(following, sourceUrl)).status, 200);
          assert.equal((await proxy(following, src(`/to?u=${encodeURIComponent(other.origin + otherPath)}`))).status, 200);
          const seen = [...requestsFor(sourceUrl), ...requestsFor(sourceUrl.replace('/hop/1', '/hop/0'))];
          seen.push(...other.requests.filter((request) => request.url === otherPath));
          assert.equal(seen.length, 3);
          for (const request of seen) assert.equal(request.headers['user-agent'], expected, request.url);
        } finally {
          await following.close();
        }
      }
    } finally {
      await other.close();
    }
  });

  it('each redirect hop is checked for private addresses and against the allow/block regexps (our addition)', async () => {
    const other = await startSource((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
    const following = await startEcamo({
      ECAMO_MAX_REDIRECTS: '1',
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:(${source.port}|${other.port})/`,
      ECAMO_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${source.port}/`,
      ECAMO_SOURCE_BLOCKED_REGEXP: '/blocked',
    });
    try {
      // Private, and not allowed to be: refused at connect time.
      const refused = await proxy(following, src(`/to?u=${encodeURIComponent(`http://localhost:${other.port}/img.png`)}`));
      assertEcamoError(refused, 403, 'unallowed-source');
      assert.equal(other.requests.length, 0);
      // Outside SOURCE_ALLOWED and inside SOURCE_BLOCKED: a hop is refused like a first URL, and receives nothing.
      const hop = await proxy(following, src(`/to?u=${encodeURIComponent(`${other.origin}/blocked.png`)}`));
      assertEcamoError(hop, 403, 'unallowed-source');
      assert.equal(other.requests.length, 0);
    } finally {
      await following.close();
      await other.close();
    }
  });

  it('a private source address is refused (403 unallowed-source) unless PRIVATE_SOURCE_ALLOWED_REGEXP matches', async () => {
    const guarded = await startEcamo({ ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '' });
    try {
      for (const sourceUrl of [src('/img.png'), `http://localhost:${source.port}/img.png?n=${uniqueNumber()}`]) {
        assertEcamoError(await proxy(guarded, sourceUrl), 403, 'unallowed-source');
        assert.equal(requestsFor(sourceUrl).length, 0);
      }
    } finally {
      await guarded.close();
    }
  });

  it('ECAMO_TIMEOUT bounds the fetch: 504 source-request', async () => {
    const impatient = await startEcamo({ ECAMO_TIMEOUT: '1' });
    try {
      assertEcamoError(await proxy(impatient, src('/hang')), 504, 'source-request');
    } finally {
      await impatient.close();
    }
  });

  it('ECAMO_TIMEOUT covers every hop: a redirect to a source that never answers is 504', { timeout: 15_000 }, async () => {
    const impatient = await startEcamo({ ECAMO_TIMEOUT: '1', ECAMO_MAX_REDIRECTS: '1' });
    try {
      assertEcamoError(await proxy(impatient, src(`/to?u=${encodeURIComponent(src('/hang'))}`)), 504, 'source-request');
    } finally {
      await impatient.close();
    }
  });

  it('ECAMO_TIMEOUT covers the body: a source that stalls mid-body is cut off after the bytes it sent', { timeout: 15_000 }, async () => {
    const impatient = await startEcamo({ ECAMO_TIMEOUT: '1' });
    const stalling = await startSource((_req, res) => {
      // Past the window ecamo reads before it answers, and never the rest.
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 10_000 });
      res.write(paddedPng(5000));
    });
    try {
      const cut = await fetchCutOff(`${impatient.url}${await impatient.proxyPath(`${stalling.origin}/stall.png`)}`, CANONICAL_HOST);
      assert.equal(cut.status, 200);
      assert.equal(cut.headers['content-length'], '10000', 'the declared length was passed on');
      assert.deepEqual(cut.bytes, paddedPng(5000), 'the bytes the source sent, and no more');
      assert.equal(cut.complete, false, 'cut, not a clean end');
    } finally {
      await Promise.all([impatient.close(), stalling.close()]);
    }
  });

  it('a connect failure (closed port on 127.0.0.1) is 502 source-request', async () => {
    const closed = await startSource(() => {});
    const closedPort = closed.port;
    await closed.close();
    assertEcamoError(await proxy(ecamo, `http://127.0.0.1:${closedPort}/img.png`), 502, 'source-request');
  });
});
