/**
 * verifyEs256Jwt on its own: every refusal its doc comment lists, with the
 * exact code, for each of the three rule sets it is called with; and the
 * edges of its time rules on a mocked clock. The forgeries are the shared
 * table of test/helpers/forgeries.ts; test/tokens/jws-jose.test.ts holds the
 * same table against jose.jwtVerify.
 */
import assert from 'node:assert/strict';
import { afterEach, before, beforeEach, describe, mock, test } from 'node:test';
import { generateKeyPair } from 'jose';
import { EcamoError } from '../../src/errors.js';
import { CLOCK_TOLERANCE_SECONDS, verifyEs256Jwt, verifyJwt, type ClaimRules, type TimeClaim } from '../../src/tokens/jws.js';
import { FORGERIES, genuine, sign, withSpareBit, type TokenCode } from '../helpers/forgeries.js';
import { b64u, es256, jsonPart, jws } from '../helpers/hostile.js';
import { CANONICAL, SERVICE, jwsSubjects, type JwsSubject } from '../helpers/jws-subjects.js';

/** 2026-11-26T12:00:00Z: every time below is relative to this mocked clock. */
const NOW = 1_795_694_400;
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

async function assertRefusedWith(verifying: Promise<unknown>, code: TokenCode, label: string): Promise<void> {
  await assert.rejects(verifying, (error: unknown) => {
    assert.ok(error instanceof EcamoError, `${label}: ${String(error)}`);
    assert.equal(error.code, code, `${label}: ${error.message}`);
    return true;
  });
}

const HALF_ORDER = P256_ORDER / 2n;

/** The s of an ES256 token's signature. */
function sOf(token: string): bigint {
  return BigInt(`0x${Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url').subarray(32).toString('hex')}`);
}

/** The other valid spelling of an ECDSA signature: s replaced by n - s. */
function twin(token: string): string {
  const [input, signature] = [token.slice(0, token.lastIndexOf('.')), Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url')];
  const s = BigInt(`0x${signature.subarray(32).toString('hex')}`);
  const other = Buffer.from((P256_ORDER - s).toString(16).padStart(64, '0'), 'hex');
  return `${input}.${b64u(Buffer.concat([signature.subarray(0, 32), other]))}`;
}

describe('verifyEs256Jwt', () => {
  let subjects: readonly JwsSubject[];
  let cookie: JwsSubject;
  let proxy: JwsSubject;

  before(async () => {
    subjects = await jwsSubjects();
    [, cookie, proxy] = subjects as [JwsSubject, JwsSubject, JwsSubject, JwsSubject];
  });
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: NOW * 1000 }));
  afterEach(() => mock.timers.reset());

  test('control: a genuine token of each kind is accepted and its claims come back as sent', async () => {
    for (const subject of subjects) assert.deepEqual(await subject.verify(genuine(subject)), subject.claims(), subject.name);
  });

  for (const forgery of FORGERIES) {
    test(forgery.name, async () => {
      for (const subject of subjects) {
        if (forgery.applies !== undefined && !forgery.applies(subject)) continue;
        await assertRefusedWith(subject.verify(forgery.token(subject)), forgery.code, `${subject.name}: ${forgery.name}`);
      }
    });
  }

  test(`exp: accepted up to ${CLOCK_TOLERANCE_SECONDS} s after it, refused from then on`, async () => {
    for (const subject of subjects) {
      const token = genuine(subject, {}, { exp: NOW + 60 });
      mock.timers.setTime((NOW + 60 + CLOCK_TOLERANCE_SECONDS - 1) * 1000);
      assert.equal((await subject.verify(token)).exp, NOW + 60, subject.name);
      mock.timers.setTime((NOW + 60 + CLOCK_TOLERANCE_SECONDS) * 1000);
      await assertRefusedWith(subject.verify(token), 'jwt', `${subject.name}: expired`);
    }
  });

  test(`nbf: refused until ${CLOCK_TOLERANCE_SECONDS} s before it, accepted from then on`, async () => {
    for (const subject of subjects) {
      const token = genuine(subject, {}, { nbf: NOW + 60 });
      mock.timers.setTime((NOW + 60 - CLOCK_TOLERANCE_SECONDS - 1) * 1000);
      await assertRefusedWith(subject.verify(token), 'jwt', `${subject.name}: not yet valid`);
      mock.timers.setTime((NOW + 60 - CLOCK_TOLERANCE_SECONDS) * 1000);
      assert.equal((await subject.verify(token)).nbf, NOW + 60, subject.name);
    }
  });

  test('exp: refused when further ahead than maxLifetimeSeconds (plus the leeway), whatever the kind', async () => {
    for (const subject of subjects) {
      const longest = NOW + subject.rules.maxLifetimeSeconds + CLOCK_TOLERANCE_SECONDS;
      assert.equal((await subject.verify(genuine(subject, {}, { exp: longest }))).exp, longest, subject.name);
      await assertRefusedWith(subject.verify(genuine(subject, {}, { exp: longest + 1 })), 'jwt', `${subject.name}: exp too far ahead`);
    }
  });

  test('time claims: negative and fractional values are dates like any other', async () => {
    for (const subject of subjects) {
      assert.equal((await subject.verify(genuine(subject, {}, { nbf: -1 }))).nbf, -1, subject.name);
      assert.equal((await subject.verify(genuine(subject, {}, { iat: NOW + 3600 }))).iat, NOW + 3600, `${subject.name}: iat is not checked against the clock`);
      assert.equal((await subject.verify(genuine(subject, {}, { exp: NOW - CLOCK_TOLERANCE_SECONDS + 0.5 }))).exp, NOW - CLOCK_TOLERANCE_SECONDS + 0.5, subject.name);
      await assertRefusedWith(subject.verify(genuine(subject, {}, { exp: NOW - CLOCK_TOLERANCE_SECONDS })), 'jwt', `${subject.name}: exp on the edge`);
    }
  });

  test('either s: every ES256 token and its twin (r, n - s) are accepted, proxy tokens included (jose and the reference server do not normalise s)', async () => {
    for (const subject of subjects.filter((candidate) => candidate.alg === 'ES256')) {
      const token = genuine(subject);
      const other = twin(token);
      assert.ok(other !== token && (sOf(token) > HALF_ORDER) !== (sOf(other) > HALF_ORDER), 'one of the two has a high s');
      assert.deepEqual(await subject.verify(token), subject.claims(), subject.name);
      assert.deepEqual(await subject.verify(other), subject.claims(), `${subject.name}: twin`);
    }
  });

  test('HS256: accepted only where the rules give MAC keys, under the key of the kid', async () => {
    const token = genuine(proxy);
    assert.deepEqual(await proxy.verify(token), proxy.claims());
    // The same token under the rules of a kind without MAC keys, even with the kid resolving to a key.
    await assertRefusedWith(verifyEs256Jwt(token, () => proxy.publicKey, proxy.rules), 'invalid-token', 'no MAC keys');
    // Another kid: the MAC key is looked up by kid like any key.
    await assertRefusedWith(verifyEs256Jwt(token, () => proxy.publicKey, proxy.rules, { resolveMacKey: () => undefined }), 'unknown-key', 'no MAC key for the kid');
    // Every bit of the MAC counts.
    const mac = Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url');
    for (let bit = 0; bit < mac.length * 8; bit += 7) {
      const flipped = Buffer.from(mac);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      await assertRefusedWith(proxy.verify(`${token.slice(0, token.lastIndexOf('.'))}.${b64u(flipped)}`), 'invalid-token', `bit ${bit}`);
    }
  });

  test('aud: the audience itself, or an array that holds it', async () => {
    for (const subject of [cookie, proxy]) {
      const audience = subject.rules.audience!;
      assert.deepEqual((await subject.verify(genuine(subject, {}, { aud: ['https://other.example', audience] }))).aud, ['https://other.example', audience]);
      await assertRefusedWith(subject.verify(genuine(subject, {}, { aud: [] })), 'jwt', `${subject.name}: empty aud array`);
      await assertRefusedWith(subject.verify(genuine(subject, {}, { aud: [[audience]] })), 'jwt', `${subject.name}: aud nested one level deeper`);
    }
    // Without an audience rule, aud is not looked at.
    const [urlSubject] = subjects as [JwsSubject];
    assert.equal((await urlSubject.verify(genuine(urlSubject, {}, { aud: 'anything' }))).aud, 'anything');
  });

  test('requiredClaims: each required time claim missing is refused, present is enough', async () => {
    const rules: ClaimRules<TimeClaim> = { issuer: SERVICE, audience: CANONICAL, requiredClaims: ['exp', 'nbf', 'iat'], maxLifetimeSeconds: 600 };
    const claims = { iss: SERVICE, aud: CANONICAL, iat: NOW, nbf: NOW, exp: NOW + 60 };
    const verify = (token: string): Promise<unknown> => verifyEs256Jwt(token, () => cookie.publicKey, rules);
    const sign = (payload: Record<string, unknown>): string => jws({ alg: 'ES256', kid: cookie.kid }, payload, (i) => es256(cookie.key.privateJwk, i));
    assert.deepEqual(await verify(sign(claims)), claims);
    for (const claim of ['exp', 'nbf', 'iat'] as const) {
      const { [claim]: _dropped, ...rest } = claims;
      await assertRefusedWith(verify(sign(rest)), 'jwt', `without ${claim}`);
    }
  });

  test('the resolver is asked for the kid as written, and a key that is not P-256 is refused', async () => {
    const asked: string[] = [];
    const token = genuine(cookie);
    await verifyEs256Jwt(
      token,
      (kid) => {
        asked.push(kid);
        return cookie.publicKey;
      },
      cookie.rules,
    );
    assert.deepEqual(asked, [cookie.kid]);
    const { publicKey: p384 } = await generateKeyPair('ES384');
    await assertRefusedWith(verifyEs256Jwt(token, () => p384, cookie.rules), 'invalid-token', 'P-384 key');
  });

  test('verifyJwt: an HS256 verdict comes at once (claims, or a throw), an ES256 one as a promise', async () => {
    const [hs256, es256Proxy] = subjects.filter((subject) => subject.name.startsWith('proxy token')) as [JwsSubject, JwsSubject];
    const verifyNow = (token: string): unknown => verifyJwt(token, () => es256Proxy.publicKey, proxy.rules, proxy.signatureRules);
    const claims = verifyNow(genuine(hs256));
    assert.ok(!(claims instanceof Promise));
    assert.deepEqual(claims, hs256.claims());
    const forged = genuine(hs256, {}, { exp: NOW - 3600 });
    assert.throws(() => verifyNow(`${forged.slice(0, -2)}AA`), (error: unknown) => error instanceof EcamoError && error.code === 'invalid-token');
    assert.throws(() => verifyNow(forged.replace(/\.[^.]*\./, `.${jsonPart({ ...hs256.claims(), exp: NOW - 3600, x: 1 })}.`)), EcamoError);
    assert.throws(() => verifyNow(genuine(hs256, {}, { exp: NOW - 3600 })), (error: unknown) => error instanceof EcamoError && error.code === 'jwt');
    const later = verifyNow(genuine(es256Proxy));
    assert.ok(later instanceof Promise);
    assert.deepEqual(await later, es256Proxy.claims());
    await assertRefusedWith(verifyNow(genuine(es256Proxy, {}, { exp: NOW - 3600 })) as Promise<unknown>, 'jwt', 'ES256, expired');
  });

  test('a header decoded before is no shortcut for any other spelling of it, and one refused is refused every time', async () => {
    const token = genuine(proxy);
    const [header = '', payload = ''] = token.split('.');
    assert.deepEqual(await proxy.verify(token), proxy.claims());
    assert.deepEqual(await proxy.verify(token), proxy.claims(), 'the same header again');
    const signedOver = (headerSegment: string): string => `${headerSegment}.${payload}.${b64u(sign(proxy, `${headerSegment}.${payload}`))}`;
    // The remembered header respelled: each of these bytes is refused as it was before any header was remembered.
    const respellings: readonly [string, TokenCode][] = [
      [`${header}=`, 'token-deserialization'],
      [header.length % 4 === 0 ? `${header}AA` : withSpareBit(header), 'token-deserialization'],
      [` ${header}`, 'token-deserialization'],
      [b64u(JSON.stringify({ alg: 'HS256', kid: proxy.kid }, null, 1)), 'invalid-token'],
    ];
    for (const [respelled, code] of respellings) {
      for (const round of [1, 2]) await assertRefusedWith(proxy.verify(`${respelled}.${payload}.${token.split('.')[2]}`), code, `${respelled}, round ${round}`);
    }
    // Signed over the respelled header (a MAC key's holder), the canonical spellings verify; the rest are still refused.
    await assertRefusedWith(proxy.verify(signedOver(`${header}=`)), 'token-deserialization', 'padded, signed');
    const critical = jsonPart({ alg: 'HS256', kid: proxy.kid, crit: ['x'] });
    for (const round of [1, 2]) await assertRefusedWith(proxy.verify(signedOver(critical)), 'invalid-token', `crit, round ${round}`);
    // More distinct headers than are remembered: each is judged on its own, and the genuine one still verifies after them.
    for (let i = 0; i < 100; i++) {
      const other = jsonPart({ alg: 'HS256', kid: `${proxy.kid}-${i}` });
      await assertRefusedWith(proxy.verify(signedOver(other)), 'unknown-key', `kid ${i}`);
    }
    assert.deepEqual(await proxy.verify(token), proxy.claims(), 'after the others');
  });

  test('the signature covers the exact header bytes: the same header spelled with other whitespace fails', async () => {
    const [, payload = '', signature = ''] = genuine(cookie).split('.');
    const respelled = b64u(JSON.stringify({ alg: 'ES256', kid: cookie.kid }, null, 1));
    assert.notEqual(respelled, jsonPart({ alg: 'ES256', kid: cookie.kid }));
    await assertRefusedWith(cookie.verify(`${respelled}.${payload}.${signature}`), 'invalid-token', 'respelled header');
  });
});
