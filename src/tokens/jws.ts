import { KeyObject, verify as verifySignature } from 'node:crypto';
import { TextDecoder } from 'node:util';
import type { CryptoKey } from 'jose';
import { EcamoError } from '../errors.js';
import { decodeStrictBase64url } from './digest.js';
import { hmacOf } from './hmac.js';

/**
 * Clock leeway for exp/nbf. Seconds, not minutes: a token's lifetime is
 * itself under a minute, and a large leeway would extend every one of them.
 */
export const CLOCK_TOLERANCE_SECONDS = 10;

/** The signer refuses a ttl beyond it as ecamo refuses the token: one number for both. */
export { MAX_SERVICE_TOKEN_LIFETIME_SECONDS } from '@ecamo/protocol';

/** The message of the refusal of a well-formed signature that the key does not verify (as opposed to a malformed one). */
export const SIGNATURE_DOES_NOT_VERIFY = 'signature verification failed';

/** Resolves the `kid` of a token header to a key, or undefined (`unknown-key`). */
export type KeyResolver = (kid: string) => CryptoKey | undefined;

/** Resolves the `kid` of an HS256 token header to its MAC key, or undefined (`unknown-key`). */
export type MacKeyResolver = (kid: string) => KeyObject | undefined;

export interface JwtPayload {
  readonly iss?: unknown;
  readonly aud?: unknown;
  readonly exp?: number;
  readonly nbf?: number;
  readonly iat?: number;
  readonly [claim: string]: unknown;
}

/** The registered claims checked as NumericDate (seconds since the epoch). */
export type TimeClaim = 'exp' | 'nbf' | 'iat';

export interface ClaimRules<Required extends TimeClaim = never> {
  readonly issuer?: string;
  /** `aud` must be this string, or an array holding it. */
  readonly audience?: string;
  readonly requiredClaims?: readonly Required[];
  /** An `exp` more than this many seconds ahead is refused. */
  readonly maxLifetimeSeconds: number;
}

export interface SignatureRules {
  /**
   * HS256 under these keys, besides ES256: for proxy tokens only, whose MAC
   * keys ecamo derives from its private keys (config/keys.ts). Without it,
   * HS256 is refused as any other alg, so no token kind can be MACed with
   * a key anybody knows (a published JWK, a service's public key).
   */
  readonly resolveMacKey?: MacKeyResolver;
}

/**
 * Verifies an ES256 compact JWS (or an HS256 one, where `signatureRules` give
 * MAC keys) and its registered claims, with the rules of jose's jwtVerify
 * restricted to those algorithms, but with the ES256 signature checked by
 * node:crypto on libuv's thread pool, and an HMAC by node:crypto at once. Refusals are EcamoErrors with the wire
 * codes below, not jose's error classes.
 *
 * Why not jose here: both check the signature on libuv's thread pool, but
 * WebCrypto spends more of the event loop's own time on a call before and
 * after (argument normalisation, key and promise bookkeeping). `npm run
 * bench:jws` (bench/jws-verify.ts) measures the main thread's CPU time per
 * verification, jose.jwtVerify ÷ verifyEs256Jwt, same key, token and rules:
 * 2.0-2.3 × on Node 20.20 (about 22 against 9.5 µs) and 1.3-1.8 × on Node
 * 26.12 (about 17 against 11 µs). Measured 2026-11-26 on 2 shared, loaded
 * cores: provisional; rerun it before relying on the margin, which is
 * smaller on Node 26. Every proxy request that misses the verified-token
 * cache verifies one token (docs/performance.md). jose still imports the
 * keys and signs everything ecamo issues; the SDK entry points use it
 * throughout.
 *
 * Refused, each with a stable code:
 * - anything but three strict, canonical base64url segments, a header and
 *   payload that are UTF-8 JSON objects, a well-formed `crit`, `b64`:
 *   `token-deserialization`;
 * - `alg` other than ES256 (`none`, HS384, ...), HS256 where the rules give
 *   no MAC keys, an unknown `crit` extension, an ES256 signature that is not
 *   64 raw bytes (DER), an HS256 one that is not 32 bytes, a signature that
 *   does not verify: `invalid-token`;
 * - no `kid`, or no key for it: `unknown-key`;
 * - wrong or missing claims, expired, not yet valid, time claims that are
 *   not finite numbers, `exp` beyond `maxLifetimeSeconds`: `jwt`.
 *
 * test/tokens/jws-jose.test.ts runs the hostile-token table through this and
 * jose.jwtVerify side by side: both refuse the same tokens with the same
 * class of error, except where ecamo refuses what jose accepts, on purpose
 * (docs/protocol.md §4.1): non-canonical base64url (padding, spare bits,
 * whitespace) and a byte order mark, which jose decodes leniently: a second
 * spelling of a token would be a second cache and CDN key; non-finite time
 * claims and an `exp` beyond the kind's lifetime, which jose takes as dates;
 * `crit: ["b64"]` with `b64: true`, a no-op to jose; a missing `kid`, for
 * which jose's local JWKS falls back to its only key.
 */
export async function verifyEs256Jwt<Required extends TimeClaim = never>(
  token: string,
  resolveKey: KeyResolver,
  rules: ClaimRules<Required>,
  signatureRules: SignatureRules = {},
): Promise<VerifiedPayload<Required>> {
  return verifyJwt(token, resolveKey, rules, signatureRules);
}

/**
 * What a verification gives: at once for an HS256 MAC, checked on the event
 * loop; later for an ES256 signature, checked on libuv's thread pool. A
 * refusal is thrown at once in the first case, a rejection in the second.
 * Verified at once, a proxy token costs no promise and no turn of the
 * microtask queue between it and its request (docs/performance.md).
 */
export type NowOrLater<T> = T | Promise<T>;

/** `next` of what `value` gives: at once when `value` is there now, in a promise when it comes later. */
export function andThen<T, U>(value: NowOrLater<T>, next: (given: T) => U): U | Promise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}

/** verifyEs256Jwt, with an HS256 token's verdict given at once (NowOrLater). */
export function verifyJwt<Required extends TimeClaim = never>(
  token: string,
  resolveKey: KeyResolver,
  rules: ClaimRules<Required>,
  signatureRules: SignatureRules = {},
): NowOrLater<VerifiedPayload<Required>> {
  const signed = verifyJwsSignature(token, resolveKey, signatureRules);
  return andThen(signed, (payload) => withClaimsChecked(payload, rules));
}

function withClaimsChecked<Required extends TimeClaim>(payload: JwtPayload, rules: ClaimRules<Required>): VerifiedPayload<Required> {
  checkClaims(payload, rules, Math.floor(Date.now() / 1000));
  // checkClaims refused a token whose required time claims are missing or not numbers.
  return payload as VerifiedPayload<Required>;
}

/** A payload whose signature and claims held, with the time claims its rules require. */
export type VerifiedPayload<Required extends TimeClaim = never> = JwtPayload & { readonly [Claim in Required]: number };

/**
 * Everything one kind of token is held to: whose keys sign it, its claim
 * and signature rules, and what is read from a payload that passed them
 * (throwing for claims of the wrong type). The server verifies with it
 * (`verifyToken`), and `ecamo inspect` explains a refusal from the same
 * parts, so the two cannot disagree.
 */
export interface TokenVerification<Claims, Required extends TimeClaim = never> {
  readonly resolveKey: KeyResolver;
  readonly claimRules: ClaimRules<Required>;
  readonly signatureRules: SignatureRules;
  read(payload: VerifiedPayload<Required>): Claims;
}

export function verifyToken<Claims, Required extends TimeClaim = never>(
  token: string,
  verification: TokenVerification<Claims, Required>,
): NowOrLater<Claims> {
  const verified = verifyJwt(token, verification.resolveKey, verification.claimRules, verification.signatureRules);
  return andThen(verified, (payload) => verification.read(payload));
}

/** Service keys are named `"<service origin> <kid>"` (ECAMO_SERVICE_PUBLIC_KEYS): a service signs only for its own origin. */
export function serviceKeyName(serviceOrigin: string, kid: string): string {
  return `${serviceOrigin} ${kid}`;
}

/**
 * The first half of verifyEs256Jwt: the compact serialisation, the header,
 * the key and the signature, refused with the codes listed there. Gives the
 * payload, whose claims are not checked yet (at once for an HS256 token:
 * NowOrLater).
 */
export function verifyJwsSignature(token: string, resolveKey: KeyResolver, signatureRules: SignatureRules = {}): NowOrLater<JwtPayload> {
  const firstDot = token.indexOf('.');
  const secondDot = token.indexOf('.', firstDot + 1);
  if (firstDot === -1 || secondDot === -1 || token.indexOf('.', secondDot + 1) !== -1) {
    throw new EcamoError('token-deserialization', 'not a compact JWS');
  }
  const header = headerOf(token.slice(0, firstDot));
  if (typeof header.alg !== 'string') throw new EcamoError('token-deserialization', 'header has no alg');
  const resolveMacKey = header.alg === 'HS256' ? signatureRules.resolveMacKey : undefined;
  if (header.alg !== 'ES256' && resolveMacKey === undefined) throw new EcamoError('invalid-token', `alg ${header.alg} is not allowed`);
  if (typeof header.kid !== 'string') throw new EcamoError('unknown-key', 'token header has no kid');
  const key = resolveMacKey === undefined ? resolveKey(header.kid) : resolveMacKey(header.kid);
  if (key === undefined) throw new EcamoError('unknown-key', `no key for kid ${header.kid}`);

  const signature = decodeStrictBase64url(token.slice(secondDot + 1));
  if (signature === undefined) throw new EcamoError('token-deserialization', 'signature is not base64url');
  // ES256 signatures are r || s, 32 bytes each (RFC 7518 section 3.4); DER is refused here. HS256: one SHA-256 output.
  const signatureLength = resolveMacKey === undefined ? 64 : 32;
  if (signature.length !== signatureLength) throw new EcamoError('invalid-token', `signature is not ${signatureLength} raw bytes`);
  const payload = decodeJsonObject(token.slice(firstDot + 1, secondDot), 'payload') as JwtPayload;
  // The signature covers the exact bytes of header and payload as sent: any other spelling of them fails here.
  const signingInput = token.slice(0, secondDot);
  if (key instanceof KeyObject) {
    if (!macMatches(signingInput, key, signature)) throw new EcamoError('invalid-token', SIGNATURE_DOES_NOT_VERIFY);
    return payload;
  }
  return verifyOnThreadPool(signingInput, keyObjectOf(key), signature).then((valid) => {
    if (!valid) throw new EcamoError('invalid-token', SIGNATURE_DOES_NOT_VERIFY);
    return payload;
  });
}

/** Header segments recently decoded and checked, up to RECENT_HEADERS of them, each at most RECENT_HEADER_LENGTH long. */
const recentHeaders = new Map<string, Readonly<Record<string, unknown>>>();
const RECENT_HEADERS = 64;
const RECENT_HEADER_LENGTH = 256;

/**
 * The header of a token, decoded and its `crit` checked (refusing as
 * verifyEs256Jwt says). A signer sends the same header on every token of a
 * key (`{"alg":"HS256","kid":...}` on every proxy token), so the last few
 * are remembered by their exact segment: what is decoded from a string
 * depends on that string alone, and a segment spelled in any other way is
 * another key here, decoded and checked on its own. Headers that fail are
 * not kept; a stream of distinct headers only empties the table.
 */
function headerOf(segment: string): Readonly<Record<string, unknown>> {
  const recent = recentHeaders.get(segment);
  if (recent !== undefined) return recent;
  const header = decodeJsonObject(segment, 'header');
  checkCrit(header);
  if (segment.length <= RECENT_HEADER_LENGTH) {
    if (recentHeaders.size >= RECENT_HEADERS) recentHeaders.clear();
    recentHeaders.set(segment, Object.freeze(header));
  }
  return header;
}

/**
 * HMAC-SHA256 over the signing input, compared in constant time. About a
 * microsecond or two: done on the event loop, where a trip to the thread pool
 * would cost more than the MAC itself.
 */
function macMatches(signingInput: string, key: KeyObject, mac: Buffer): boolean {
  return hmacOf('sha256', key).matches(signingInput, mac);
}

const keyObjects = new WeakMap<CryptoKey, KeyObject>();

/** node:crypto wants KeyObjects; keys are imported (as CryptoKeys) once at start, converted once here. */
function keyObjectOf(key: CryptoKey): KeyObject {
  let keyObject = keyObjects.get(key);
  if (keyObject === undefined) {
    keyObject = KeyObject.from(key);
    if (keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new EcamoError('invalid-token', 'key is not a P-256 key');
    }
    keyObjects.set(key, keyObject);
  }
  return keyObject;
}

function verifyOnThreadPool(signingInput: string, key: KeyObject, signature: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    verifySignature('sha256', Buffer.from(signingInput, 'latin1'), { key, dsaEncoding: 'ieee-p1363' }, signature, (error, valid) => {
      resolve(error === null && valid);
    });
  });
}

/**
 * Bytes that are not UTF-8 are refused, not replaced by U+FFFD (as jose's
 * strict decoder does); a byte order mark is kept, so JSON.parse refuses it
 * (jose's decoder would drop it: one token string, one meaning).
 */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeJsonObject(segment: string, part: 'header' | 'payload'): Record<string, unknown> {
  const bytes = decodeStrictBase64url(segment);
  if (bytes === undefined || bytes.length === 0) throw new EcamoError('token-deserialization', `${part} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    throw new EcamoError('token-deserialization', `${part} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EcamoError('token-deserialization', `${part} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * RFC 7515 section 4.1.11: a recipient must refuse a token whose `crit` lists
 * an extension it does not understand, and ecamo understands none. `b64`
 * (unencoded payload, RFC 7797) is not allowed in JWTs at all, not even as
 * `b64: true`, which jose lets through as a no-op. The checks run in jose's
 * order, so that both name the same class of error.
 */
function checkCrit(header: Readonly<Record<string, unknown>>): void {
  const crit = header.crit;
  if (crit === undefined) return;
  if (!Array.isArray(crit) || crit.length === 0 || crit.some((name) => typeof name !== 'string' || name === '')) {
    throw new EcamoError('token-deserialization', 'crit must be a list of header parameter names');
  }
  for (const name of crit as string[]) {
    if (name !== 'b64') throw new EcamoError('invalid-token', `unsupported critical extension ${name}`);
    if (header.b64 === undefined) throw new EcamoError('token-deserialization', 'crit lists b64, which is absent');
  }
  throw new EcamoError('token-deserialization', 'JWTs must not use an unencoded payload');
}

/**
 * One broken claim rule. The verifier refuses a token for the first (with
 * `jwt` and the failure's `message`); `ecamo inspect` lists them all.
 */
export type ClaimFailure =
  | { readonly claim: TimeClaim; readonly problem: 'missing' | 'not-a-finite-number' }
  | { readonly claim: 'iss' | 'aud'; readonly problem: 'unexpected'; readonly expected: string }
  | { readonly claim: 'nbf'; readonly problem: 'not-yet-valid'; readonly nbf: number }
  | { readonly claim: 'exp'; readonly problem: 'expired'; readonly exp: number }
  | { readonly claim: 'exp'; readonly problem: 'too-far-ahead'; readonly exp: number; readonly maxLifetimeSeconds: number };

/** Every rule of `rules` the claims break at `now` (seconds since the epoch), in the order the verifier checks them. */
export function claimFailures(payload: JwtPayload, rules: ClaimRules<TimeClaim>, now: number): ClaimFailure[] {
  const failures: ClaimFailure[] = [];
  for (const claim of rules.requiredClaims ?? []) {
    if (!Object.hasOwn(payload, claim)) failures.push({ claim, problem: 'missing' });
  }
  if (rules.issuer !== undefined && payload.iss !== rules.issuer) failures.push({ claim: 'iss', problem: 'unexpected', expected: rules.issuer });
  if (rules.audience !== undefined) {
    const aud = payload.aud;
    if (!(aud === rules.audience || (Array.isArray(aud) && aud.includes(rules.audience)))) {
      failures.push({ claim: 'aud', problem: 'unexpected', expected: rules.audience });
    }
  }
  // JSON.parse reads 1e400 as Infinity: a date no token has, and one that would make a cache keep it forever.
  for (const claim of ['iat', 'nbf', 'exp'] as const) {
    if (payload[claim] !== undefined && !Number.isFinite(payload[claim])) failures.push({ claim, problem: 'not-a-finite-number' });
  }
  const { nbf, exp } = payload;
  if (nbf !== undefined && Number.isFinite(nbf) && nbf > now + CLOCK_TOLERANCE_SECONDS) failures.push({ claim: 'nbf', problem: 'not-yet-valid', nbf });
  if (exp !== undefined && Number.isFinite(exp)) {
    if (exp <= now - CLOCK_TOLERANCE_SECONDS) failures.push({ claim: 'exp', problem: 'expired', exp });
    if (exp > now + rules.maxLifetimeSeconds + CLOCK_TOLERANCE_SECONDS) {
      failures.push({ claim: 'exp', problem: 'too-far-ahead', exp, maxLifetimeSeconds: rules.maxLifetimeSeconds });
    }
  }
  return failures;
}

/** What the verifier says of a failure (the message of its `jwt` refusal). */
export function claimFailureMessage(failure: ClaimFailure): string {
  switch (failure.problem) {
    case 'missing':
      return `missing required claim ${failure.claim}`;
    case 'not-a-finite-number':
      return `${failure.claim} is not a finite number`;
    case 'unexpected':
      return `unexpected ${failure.claim}`;
    case 'not-yet-valid':
      return 'not valid yet (nbf)';
    case 'expired':
      return 'expired (exp)';
    case 'too-far-ahead':
      return 'exp is further ahead than any lifetime of this token';
  }
}

function checkClaims(payload: JwtPayload, rules: ClaimRules<TimeClaim>, now: number): void {
  const [first] = claimFailures(payload, rules, now);
  if (first !== undefined) throw new EcamoError('jwt', claimFailureMessage(first));
}
