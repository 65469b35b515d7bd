/**
 * src/tokens/jws.ts against jose.jwtVerify, side by side: the whole
 * hostile-token table (test/helpers/forgeries.ts) and genuine tokens, each
 * given to both with equivalent rules. Both must accept the same tokens with
 * the same claims, and refuse the same tokens with errors of the same class
 * (JOSE_TO_ECAMO); where ecamo deliberately refuses what jose accepts, the
 * case is listed in DIFFERENCES with why, and jose's answer is checked too,
 * so that a change in jose shows up here. docs/protocol.md §4.1 and the
 * comment of jws.ts name the same differences.
 */
import assert from 'node:assert/strict';
import { afterEach, before, beforeEach, describe, mock, test } from 'node:test';
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { EcamoError } from '../../src/errors.js';
import { CLOCK_TOLERANCE_SECONDS } from '../../src/tokens/jws.js';
import { FORGERIES, genuine, sign, type ForgeryTarget, type TokenCode } from '../helpers/forgeries.js';
import { b64u, jws, now } from '../helpers/hostile.js';
import { jwsSubjects, type JwsSubject } from '../helpers/jws-subjects.js';

/** 2026-11-26T12:00:00Z, mocked: both verifiers read the same clock. */
const NOW_MS = 1_795_694_400_000;
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** Each error `code` jose refuses a token with, and the ecamo code of the same class. */
const JOSE_TO_ECAMO: Readonly<Record<string, TokenCode>> = {
  ERR_JWS_INVALID: 'token-deserialization',
  ERR_JWT_INVALID: 'token-deserialization',
  ERR_JOSE_ALG_NOT_ALLOWED: 'invalid-token',
  ERR_JOSE_NOT_SUPPORTED: 'invalid-token',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'invalid-token',
  ERR_JWKS_NO_MATCHING_KEY: 'unknown-key',
  ERR_JWT_EXPIRED: 'jwt',
  ERR_JWT_CLAIM_VALIDATION_FAILED: 'jwt',
};

const NON_CANONICAL = 'one token, one spelling: caches and CDNs key on the exact string, and jose decodes base64url leniently';
const NOT_A_DATE = 'a time claim must be a date: jose takes any JSON number, and an infinite exp would never expire from a cache';

/** Cases where ecamo refuses (with the table's code) a token jose accepts; `subjects` limits one to some kinds. */
const DIFFERENCES: readonly { readonly case: string; readonly subjects?: readonly string[]; readonly why: string }[] = [
  { case: 'missing kid', why: "jose's local JWKS falls back to its only key of the right type; ecamo wants the kid to name the key" },
  { case: 'exp 1e400 (infinite once parsed)', why: NOT_A_DATE },
  { case: 'nbf -1e400 (minus infinity once parsed)', why: NOT_A_DATE },
  { case: 'iat 1e400 (infinite once parsed)', why: NOT_A_DATE },
  { case: 'exp 1e300', why: 'jose has no upper bound on exp; ecamo refuses one beyond any lifetime of the kind (maxLifetimeSeconds)' },
  { case: 'exp eleven years ahead', why: 'as exp 1e300: beyond the longest lifetime of every kind' },
  { case: 'b64:true declared critical, genuinely signed', why: 'jose lets b64:true through as a no-op; ecamo understands no extension, and it is a second spelling' },
  { case: 'padded header segment, genuinely signed', why: NON_CANONICAL },
  { case: 'header segment with a spare bit set, genuinely signed', why: NON_CANONICAL },
  { case: 'genuine signature spelled with a spare bit set', why: NON_CANONICAL },
  { case: 'a space inside the payload segment, genuinely signed', why: NON_CANONICAL },
  { case: 'a line break inside the header segment, genuinely signed', why: NON_CANONICAL },
  { case: 'a leading space, genuinely signed', why: NON_CANONICAL },
  { case: 'a trailing line break', why: NON_CANONICAL },
  { case: 'header after a UTF-8 byte order mark, genuinely signed', why: "jose's UTF-8 decoder drops a byte order mark; a second spelling of the same header" },
];

/** The other valid spelling of an ECDSA signature: s replaced by n - s. */
function highSTwin(token: string): string {
  const lastDot = token.lastIndexOf('.');
  const signature = Buffer.from(token.slice(lastDot + 1), 'base64url');
  const s = BigInt(`0x${signature.subarray(32).toString('hex')}`);
  const high = Buffer.from((P256_ORDER - s).toString(16).padStart(64, '0'), 'hex');
  return `${token.slice(0, lastDot)}.${b64u(Buffer.concat([signature.subarray(0, 32), high]))}`;
}

/** Tokens jose accepts; ecamo must too, unless DIFFERENCES says otherwise. */
const GENUINE: readonly { readonly name: string; readonly applies?: (target: ForgeryTarget) => boolean; token(target: ForgeryTarget): string }[] = [
  { name: 'genuine', token: (k) => genuine(k) },
  { name: 'the twin (r, n - s) of a genuine ES256 token', applies: (k) => k.alg === 'ES256', token: (k) => highSTwin(genuine(k)) },
  { name: 'expired, within the leeway', token: (k) => genuine(k, {}, { exp: now() - CLOCK_TOLERANCE_SECONDS + 1 }) },
  { name: 'not valid yet, within the leeway', token: (k) => genuine(k, {}, { nbf: now() + CLOCK_TOLERANCE_SECONDS }) },
  { name: 'aud as an array that holds the audience', applies: (k) => k.checksAudience, token: (k) => genuine(k, {}, { aud: ['https://other.example', k.claims().aud] }) },
  { name: 'iat in the future', token: (k) => genuine(k, {}, { iat: now() + 3600 }) },
  { name: 'nbf before the epoch', token: (k) => genuine(k, {}, { nbf: -1 }) },
  { name: 'a fractional exp', token: (k) => genuine(k, {}, { exp: now() + 30.5 }) },
  { name: 'an extra header member that is not critical', token: (k) => genuine(k, { typ: 'JWT', 'x-extra': [1, 2] }) },
  {
    name: 'iss named twice, the last one right',
    token: (k) => jws({ alg: k.alg, kid: k.kid }, { segment: b64u(`{"iss":"https://evil.example",${JSON.stringify(k.claims()).slice(1)}`) }, (i) => sign(k, i)),
  },
];

type Outcome = { readonly accepted: true; readonly payload: unknown } | { readonly accepted: false; readonly code: string };

async function outcomeOf(verifying: Promise<unknown>, codeOf: (error: unknown) => string): Promise<Outcome> {
  try {
    return { accepted: true, payload: await verifying };
  } catch (error) {
    return { accepted: false, code: codeOf(error) };
  }
}

const ecamoCode = (error: unknown): string => (error instanceof EcamoError ? error.code : `not an EcamoError: ${String(error)}`);
const joseCode = (error: unknown): string => {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : `no jose code: ${String(error)}`;
};

/**
 * jwtVerify with the rules the subject gives verifyEs256Jwt, over a JWKS of
 * its one key, and its MAC key where the kind takes HS256.
 */
function joseVerify(subject: JwsSubject, token: string): Promise<unknown> {
  const { issuer, audience, requiredClaims } = subject.rules;
  const jwks = createLocalJWKSet({ keys: [subject.key.publicJwk] });
  const macKey = subject.macKey;
  const key: JWTVerifyGetKey = (header, jws) => {
    if (header.alg !== 'HS256' || macKey === undefined) return jwks(header, jws);
    // jose's key sets hold no secret keys: the same lookup by kid, with their fallback to the only key when there is none.
    if (header.kid !== undefined && header.kid !== subject.kid) throw new joseErrors.JWKSNoMatchingKey();
    return macKey;
  };
  const options: JWTVerifyOptions = {
    algorithms: subject.macKey === undefined ? ['ES256'] : ['ES256', 'HS256'],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    ...(issuer === undefined ? {} : { issuer }),
    ...(audience === undefined ? {} : { audience }),
    ...(requiredClaims === undefined ? {} : { requiredClaims: [...requiredClaims] }),
  };
  return jwtVerify(token, key, options).then(({ payload }) => payload);
}

describe('verifyEs256Jwt and jose.jwtVerify agree', () => {
  let subjects: readonly JwsSubject[];
  before(async () => {
    subjects = await jwsSubjects();
  });
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: NOW_MS }));
  afterEach(() => mock.timers.reset());

  const cases = [
    ...FORGERIES.map((forgery) => ({ ...forgery, expected: forgery.code })),
    ...GENUINE.map((variant) => ({ ...variant, expected: 'accepted' as const })),
  ];

  test('every listed difference names a case, and case names are unique', () => {
    assert.deepEqual(DIFFERENCES.filter((difference) => !cases.some((row) => row.name === difference.case)), []);
    assert.equal(new Set(cases.map((row) => row.name)).size, cases.length, 'case names are unique');
  });

  for (const row of cases) {
    test(row.name, async () => {
      for (const subject of subjects) {
        if (row.applies !== undefined && !row.applies(subject)) continue;
        const label = `${subject.name}: ${row.name}`;
        const token = row.token(subject);
        const ours = await outcomeOf(subject.verify(token), ecamoCode);
        const theirs = await outcomeOf(joseVerify(subject, token), joseCode);
        const difference = DIFFERENCES.find((entry) => entry.case === row.name && (entry.subjects === undefined || entry.subjects.includes(subject.name)));
        if (difference !== undefined) {
          // A deliberate difference: jose accepts, ecamo refuses with the code the table names (or invalid-token for a genuine variant).
          assert.equal(theirs.accepted, true, `${label}: listed as a difference, but jose refuses it (${theirs.accepted ? '' : theirs.code})`);
          assert.deepEqual(ours, { accepted: false, code: row.expected === 'accepted' ? 'invalid-token' : row.expected }, `${label}: ${difference.why}`);
          continue;
        }
        if (theirs.accepted) {
          assert.deepEqual(ours, theirs, `${label}: jose accepts it`);
        } else {
          assert.ok(Object.hasOwn(JOSE_TO_ECAMO, theirs.code), `${label}: jose's ${theirs.code} has no mapping`);
          assert.deepEqual(ours, { accepted: false, code: JOSE_TO_ECAMO[theirs.code] }, `${label}: jose refuses it with ${theirs.code}`);
        }
        // And the table's expectation holds, whichever verifier it is read against.
        assert.deepEqual(ours.accepted ? 'accepted' : ours.code, row.expected, label);
      }
    });
  }
});
