/**
 * The hostile-token table: forged and malformed tokens, each with the code
 * the verifier (src/tokens/jws.ts) must refuse it with. One table, used
 * twice: against a real ecamo for every token kind
 * (test/http/hostile-tokens.test.ts), and against verifyEs256Jwt and
 * jose.jwtVerify side by side (test/tokens/jws*.test.ts).
 */
import { createHmac, createPublicKey, generateKeyPairSync, type JsonWebKey as NodeJwk } from 'node:crypto';
import type { JWK } from 'jose';
import type { GeneratedKey } from '../../src/config/generate-key.js';
import { deriveKey, PROXY_TOKEN_MAC_KEY_DERIVATION } from '../../src/config/keys.js';
import { b64u, es256, jsonPart, jws, now } from './hostile.js';

/** The codes of src/tokens/jws.ts, the verifier every token goes through. */
export type TokenCode = 'token-deserialization' | 'invalid-token' | 'unknown-key' | 'jwt';

/** What a forgery needs of a token kind: its key and what a genuine token of that kind claims. */
export interface ForgeryTarget {
  readonly kid: string;
  readonly key: GeneratedKey;
  /** Claims of a genuine token, with times from the (possibly mocked) clock. */
  claims(): Record<string, unknown>;
  readonly requiresExp: boolean;
  readonly checksAudience: boolean;
  /** How a genuine token of this kind is signed: ES256 with `key`, or HS256 with the proxy-token MAC key derived from it. */
  readonly alg: 'ES256' | 'HS256';
  /** HS256 under the key derived from `key` is genuine for this kind too (proxy tokens); every other kind refuses HS256. */
  readonly acceptsMac: boolean;
}

export interface Forgery {
  readonly name: string;
  /** Only for kinds where the forgery makes sense. */
  readonly applies?: (target: ForgeryTarget) => boolean;
  readonly code: TokenCode;
  /** False for tokens no URL path, query or cookie carries as they are (whitespace, `/`): tested below HTTP only. */
  readonly overHttp?: false;
  token(target: ForgeryTarget): string;
}

const YEAR_SECONDS = 365 * 24 * 3600;

/** The order n of P-256: r = s = n reduces to the zero signature some verifiers once accepted. */
const P256_ORDER = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');

/** A key nobody configured: made once, synchronously, so that the table can be built at import. */
export const FOREIGN_KEY: GeneratedKey = (() => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const tags = { kid: 'foreign', use: 'sig', alg: 'ES256' };
  return { kid: 'foreign', privateJwk: { ...(privateKey.export({ format: 'jwk' }) as JWK), ...tags }, publicJwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), ...tags } };
})();

/** The proxy-token MAC key ecamo derives from `key`'s private scalar (config/keys.ts), as bytes. */
export function derivedMacKey(key: GeneratedKey): Buffer {
  return deriveKey(Buffer.from(String(key.privateJwk.d), 'base64url'), PROXY_TOKEN_MAC_KEY_DERIVATION).export();
}

/** The genuine signature of `input` for the target's kind, by its alg. */
export function sign(target: ForgeryTarget, input: string): Buffer {
  return target.alg === 'ES256' ? es256(target.key.privateJwk, input) : hmac(derivedMacKey(target.key), input);
}

/** A genuine token of the target's kind, with header members and claims added or replaced. */
export function genuine(target: ForgeryTarget, header: Record<string, unknown> = {}, claims: Record<string, unknown> = {}): string {
  return jws({ alg: target.alg, kid: target.kid, ...header }, { ...target.claims(), ...claims }, (input) => sign(target, input));
}

function withoutClaim(target: ForgeryTarget, claim: string): string {
  const claims = Object.fromEntries(Object.entries(target.claims()).filter(([name]) => name !== claim));
  return jws({ alg: target.alg, kid: target.kid }, claims, (input) => sign(target, input));
}

/**
 * Genuinely signed, with JSON members appended to the claims as text, so
 * that what JSON.stringify cannot write (`1e400`) stays as written. A member
 * named twice counts once, with its last value (JSON.parse).
 */
function withRawClaims(target: ForgeryTarget, members: string): string {
  const text = `${JSON.stringify(target.claims()).slice(0, -1)},${members}}`;
  return jws({ alg: target.alg, kid: target.kid }, { segment: b64u(text) }, (input) => sign(target, input));
}

/** Genuinely signed over a header segment made of these bytes. */
function withRawHeader(target: ForgeryTarget, bytes: Buffer): string {
  return jws({ segment: b64u(bytes) }, target.claims(), (input) => sign(target, input));
}

const BASE64URL_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * The same bytes spelled with a spare bit set in the last character: what
 * lenient decoders read as the canonical text. Only an encoding whose length
 * is not a multiple of 4 has spare bits.
 */
export function withSpareBit(segment: string): string {
  if (segment.length % 4 === 0) throw new Error('this segment has no spare bits');
  const last = BASE64URL_DIGITS.indexOf(segment.slice(-1));
  return `${segment.slice(0, -1)}${BASE64URL_DIGITS[last | 1]!}`;
}

/** Genuinely signed over the token with one of its first two segments spelled another way. */
function respell(target: ForgeryTarget, index: 0 | 1, spell: (segment: string) => string): string {
  const segments = genuine(target).split('.');
  const input = `${index === 0 ? spell(segments[0]!) : segments[0]!}.${index === 1 ? spell(segments[1]!) : segments[1]!}`;
  return `${input}.${b64u(sign(target, input))}`;
}

/** A genuine token whose signature has a '-' or '_' in it, so that the standard alphabet spells it differently. */
function withUrlDigits(target: ForgeryTarget): string {
  let token = genuine(target);
  for (let attempt = 0; !/[-_][^.]*$/.test(token); attempt++) token = genuine(target, {}, { attempt });
  return token;
}

/**
 * The header segment of `header` with a `pad` member that makes its length
 * not a multiple of 4: an encoding with spare bits, and one that standard
 * base64 would pad.
 */
function unalignedHeader(header: Record<string, unknown>): string {
  let pad = '';
  while (jsonPart({ ...header, pad }).length % 4 === 0) pad += 'x';
  return jsonPart({ ...header, pad });
}

function padded(segment: string): string {
  return segment.padEnd(segment.length + 4 - (segment.length % 4), '=');
}

function hmac(secret: string | Buffer, input: string, hash = 'sha256'): Buffer {
  return createHmac(hash, secret).update(input).digest();
}

function spki(jwk: JWK, format: 'pem' | 'der'): string | Buffer {
  const key = createPublicKey({ key: jwk as NodeJwk, format: 'jwk' });
  return format === 'pem' ? key.export({ type: 'spki', format: 'pem' }) : key.export({ type: 'spki', format: 'der' });
}

export const FORGERIES: readonly Forgery[] = [
  // Algorithm confusion.
  { name: 'alg none, empty signature', code: 'invalid-token', token: (k) => jws({ alg: 'none', kid: k.kid }, k.claims(), () => '') },
  { name: 'alg none without kid', code: 'invalid-token', token: (k) => jws({ alg: 'none' }, k.claims(), () => '') },
  { name: 'alg NONE, signature of the real key', code: 'invalid-token', token: (k) => jws({ alg: 'NONE', kid: k.kid }, k.claims(), (i) => sign(k, i)) },
  { name: 'HS256 keyed with the public JWK (JSON)', code: 'invalid-token', token: (k) => jws({ alg: 'HS256', kid: k.kid }, k.claims(), (i) => hmac(JSON.stringify(k.key.publicJwk), i)) },
  {
    name: 'HS256 keyed with the bare public JWK members',
    code: 'invalid-token',
    token: (k) => jws({ alg: 'HS256', kid: k.kid }, k.claims(), (i) => hmac(JSON.stringify({ crv: 'P-256', kty: 'EC', x: k.key.publicJwk.x, y: k.key.publicJwk.y }), i)),
  },
  { name: 'HS256 keyed with the public key as PEM SPKI', code: 'invalid-token', token: (k) => jws({ alg: 'HS256', kid: k.kid }, k.claims(), (i) => hmac(spki(k.key.publicJwk, 'pem'), i)) },
  { name: 'HS256 keyed with the public key as DER SPKI', code: 'invalid-token', token: (k) => jws({ alg: 'HS256', kid: k.kid }, k.claims(), (i) => hmac(spki(k.key.publicJwk, 'der'), i)) },
  { name: 'ES256 header over an HMAC signature', code: 'invalid-token', token: (k) => jws({ alg: 'ES256', kid: k.kid }, k.claims(), (i) => hmac(spki(k.key.publicJwk, 'pem'), i)) },
  { name: 'alg in lower case', code: 'invalid-token', token: (k) => jws({ alg: k.alg.toLowerCase(), kid: k.kid }, k.claims(), (i) => sign(k, i)) },
  // HMACs: HS256 only for proxy tokens, only under the key derived from ecamo's private key (docs/protocol.md §4.4).
  {
    name: 'HS256 under the proxy-token key derivation of a service key',
    applies: (k) => !k.acceptsMac,
    code: 'invalid-token',
    token: (k) => jws({ alg: 'HS256', kid: k.kid }, k.claims(), (i) => hmac(derivedMacKey(k.key), i)),
  },
  { name: 'HS256 keyed with the private scalar d itself', code: 'invalid-token', token: (k) => jws({ alg: 'HS256', kid: k.kid }, k.claims(), (i) => hmac(Buffer.from(String(k.key.privateJwk.d), 'base64url'), i)) },
  { name: 'HS256 keyed with an empty secret', code: 'invalid-token', token: (k) => jws({ alg: 'HS256', kid: k.kid }, k.claims(), (i) => hmac(Buffer.alloc(0), i)) },
  { name: 'HS384 under the derived MAC key', code: 'invalid-token', token: (k) => jws({ alg: 'HS384', kid: k.kid }, k.claims(), (i) => hmac(derivedMacKey(k.key), i, 'sha384')) },
  { name: 'HS512 under the derived MAC key', code: 'invalid-token', token: (k) => jws({ alg: 'HS512', kid: k.kid }, k.claims(), (i) => hmac(derivedMacKey(k.key), i, 'sha512')) },
  { name: 'HS256 header over the ES256 signature of the real key', code: 'invalid-token', token: (k) => jws({ alg: 'HS256', kid: k.kid }, k.claims(), (i) => es256(k.key.privateJwk, i)) },
  { name: 'ES256 header over the MAC under the derived key', code: 'invalid-token', token: (k) => jws({ alg: 'ES256', kid: k.kid }, k.claims(), (i) => hmac(derivedMacKey(k.key), i)) },
  { name: 'all-zero 32-byte HS256 signature', code: 'invalid-token', token: (k) => jws({ alg: 'HS256', kid: k.kid }, k.claims(), () => Buffer.alloc(32)) },
  { name: 'alg ES384', code: 'invalid-token', token: (k) => jws({ alg: 'ES384', kid: k.kid }, k.claims(), (i) => sign(k, i)) },
  { name: 'alg RS256', code: 'invalid-token', token: (k) => jws({ alg: 'RS256', kid: k.kid }, k.claims(), (i) => sign(k, i)) },
  { name: 'alg EdDSA', code: 'invalid-token', token: (k) => jws({ alg: 'EdDSA', kid: k.kid }, k.claims(), (i) => sign(k, i)) },
  { name: 'alg missing', code: 'token-deserialization', token: (k) => jws({ kid: k.kid }, k.claims(), (i) => sign(k, i)) },
  // Broken signatures.
  { name: 'DER-encoded ECDSA signature by the real key', code: 'invalid-token', token: (k) => jws({ alg: 'ES256', kid: k.kid }, k.claims(), (i) => es256(k.key.privateJwk, i, 'der')) },
  { name: 'all-zero 64-byte signature', code: 'invalid-token', token: (k) => jws({ alg: 'ES256', kid: k.kid }, k.claims(), () => Buffer.alloc(64)) },
  { name: 'r = s = n (the curve order)', code: 'invalid-token', token: (k) => jws({ alg: 'ES256', kid: k.kid }, k.claims(), () => Buffer.concat([P256_ORDER, P256_ORDER])) },
  { name: 'empty signature', code: 'invalid-token', token: (k) => jws({ alg: k.alg, kid: k.kid }, k.claims(), () => '') },
  { name: 'truncated signature', code: 'invalid-token', token: (k) => jws({ alg: k.alg, kid: k.kid }, k.claims(), (i) => sign(k, i).subarray(0, -1)) },
  { name: 'signature with a byte appended', code: 'invalid-token', token: (k) => jws({ alg: k.alg, kid: k.kid }, k.claims(), (i) => Buffer.concat([sign(k, i), Buffer.of(0)])) },
  {
    name: 'genuine signature of other claims',
    code: 'invalid-token',
    token: (k) => {
      const [header, , signature] = genuine(k).split('.');
      return `${header}.${jsonPart({ ...k.claims(), 'ecamo:url': 'http://127.0.0.1:1/other.png' })}.${signature}`;
    },
  },
  // Keys.
  { name: 'signed by a foreign key under a known kid', code: 'invalid-token', token: (k) => jws({ alg: k.alg, kid: k.kid }, k.claims(), (i) => sign({ ...k, key: FOREIGN_KEY }, i)) },
  {
    name: 'signed by a foreign key it embeds (jwk, jku, x5u headers)',
    code: 'invalid-token',
    token: (k) =>
      jws(
        { alg: k.alg, kid: k.kid, jwk: FOREIGN_KEY.publicJwk, jku: 'http://127.0.0.1:1/jwks.json', x5u: 'http://127.0.0.1:1/cert.pem' },
        k.claims(),
        (i) => sign({ ...k, key: FOREIGN_KEY }, i),
      ),
  },
  { name: 'unknown kid', code: 'unknown-key', token: (k) => jws({ alg: k.alg, kid: 'nope' }, k.claims(), (i) => sign(k, i)) },
  { name: 'kid with a trailing space', code: 'unknown-key', token: (k) => jws({ alg: k.alg, kid: `${k.kid} ` }, k.claims(), (i) => sign(k, i)) },
  { name: 'kid that is not a string', code: 'unknown-key', token: (k) => jws({ alg: k.alg, kid: [k.kid] }, k.claims(), (i) => sign(k, i)) },
  { name: 'missing kid', code: 'unknown-key', token: (k) => jws({ alg: k.alg }, k.claims(), (i) => sign(k, i)) },
  // Claims.
  { name: 'wrong iss', code: 'jwt', token: (k) => genuine(k, {}, { iss: 'http://evil.test' }) },
  { name: 'iss with a trailing slash', code: 'jwt', token: (k) => genuine(k, {}, { iss: `${String(k.claims().iss)}/` }) },
  { name: 'missing iss', code: 'jwt', token: (k) => withoutClaim(k, 'iss') },
  { name: 'wrong aud', applies: (k) => k.checksAudience, code: 'jwt', token: (k) => genuine(k, {}, { aud: 'http://evil.test' }) },
  { name: 'aud array without this audience', applies: (k) => k.checksAudience, code: 'jwt', token: (k) => genuine(k, {}, { aud: ['http://evil.test', `${String(k.claims().aud)}/`] }) },
  { name: 'aud that is neither string nor array', applies: (k) => k.checksAudience, code: 'jwt', token: (k) => genuine(k, {}, { aud: { 0: k.claims().aud } }) },
  { name: 'missing aud', applies: (k) => k.checksAudience, code: 'jwt', token: (k) => withoutClaim(k, 'aud') },
  { name: 'expired beyond the 10 s leeway', code: 'jwt', token: (k) => genuine(k, {}, { iat: now() - 120, exp: now() - 30 }) },
  { name: 'negative exp', code: 'jwt', token: (k) => genuine(k, {}, { exp: -1 }) },
  { name: 'nbf in the future', code: 'jwt', token: (k) => genuine(k, {}, { nbf: now() + 60 }) },
  { name: 'exp that is not a number', code: 'jwt', token: (k) => genuine(k, {}, { exp: String(now() + 600) }) },
  { name: 'nbf that is not a number', code: 'jwt', token: (k) => genuine(k, {}, { nbf: String(now()) }) },
  { name: 'iat that is not a number', code: 'jwt', token: (k) => genuine(k, {}, { iat: String(now()) }) },
  { name: 'exp null', code: 'jwt', token: (k) => genuine(k, {}, { exp: null }) },
  { name: 'missing exp where required', applies: (k) => k.requiresExp, code: 'jwt', token: (k) => withoutClaim(k, 'exp') },
  // Time claims that are no dates (docs/protocol.md §4.1).
  { name: 'exp 1e400 (infinite once parsed)', code: 'jwt', token: (k) => withRawClaims(k, '"exp":1e400') },
  { name: 'nbf -1e400 (minus infinity once parsed)', code: 'jwt', token: (k) => withRawClaims(k, '"nbf":-1e400') },
  { name: 'iat 1e400 (infinite once parsed)', code: 'jwt', token: (k) => withRawClaims(k, '"iat":1e400') },
  { name: 'exp 1e300', code: 'jwt', token: (k) => withRawClaims(k, '"exp":1e300') },
  { name: 'exp eleven years ahead', code: 'jwt', token: (k) => genuine(k, {}, { exp: now() + 11 * YEAR_SECONDS }) },
  // Header extensions.
  { name: 'unknown crit header, genuinely signed', code: 'invalid-token', token: (k) => genuine(k, { crit: ['x-ecamo-skip'], 'x-ecamo-skip': true }) },
  // jose names an extension it does not know before it looks for it: so do we.
  { name: 'crit naming an absent header parameter', code: 'invalid-token', token: (k) => genuine(k, { crit: ['x-ecamo-skip'] }) },
  { name: 'crit that is not an array', code: 'token-deserialization', token: (k) => genuine(k, { crit: 'exp' }) },
  { name: 'crit that is an empty array', code: 'token-deserialization', token: (k) => genuine(k, { crit: [] }) },
  { name: 'crit with an empty name', code: 'token-deserialization', token: (k) => genuine(k, { crit: [''], '': true }) },
  {
    // The signing input is the literal payload segment: a valid signature over an unencoded payload.
    name: 'b64:false, genuinely signed',
    code: 'token-deserialization',
    token: (k) => jws({ alg: k.alg, kid: k.kid, b64: false, crit: ['b64'] }, k.claims(), (i) => sign(k, i)),
  },
  { name: 'b64:true declared critical, genuinely signed', code: 'token-deserialization', token: (k) => genuine(k, { b64: true, crit: ['b64'] }) },
  { name: 'b64 critical but absent', code: 'token-deserialization', token: (k) => genuine(k, { crit: ['b64'] }) },
  // Garbage.
  { name: 'one segment', code: 'token-deserialization', token: () => 'abc' },
  { name: 'two segments', code: 'token-deserialization', token: (k) => genuine(k).split('.').slice(0, 2).join('.') },
  { name: 'four segments', code: 'token-deserialization', token: (k) => `${genuine(k)}.abc` },
  { name: 'only dots', code: 'token-deserialization', token: () => '...' },
  { name: 'invalid base64url in the header', code: 'token-deserialization', token: (k) => `*!*${genuine(k).slice(3)}` },
  // Signed as it is, so that decoding (not the signature) is what fails.
  { name: 'invalid base64url in the payload', code: 'token-deserialization', token: (k) => jws({ alg: k.alg, kid: k.kid }, { segment: `~~${jsonPart(k.claims())}` }, (i) => sign(k, i)) },
  { name: 'invalid base64url in the signature', code: 'token-deserialization', token: (k) => genuine(k).replace(/\.[^.]*$/, '.*~*~') },
  // Canonical base64url only: the same bytes spelled another way are another token string (docs/protocol.md §4.1).
  { name: 'padded header segment, genuinely signed', code: 'token-deserialization', token: (k) => jws({ segment: padded(unalignedHeader({ alg: k.alg, kid: k.kid })) }, k.claims(), (i) => sign(k, i)) },
  { name: 'header segment with a spare bit set, genuinely signed', code: 'token-deserialization', token: (k) => jws({ segment: withSpareBit(unalignedHeader({ alg: k.alg, kid: k.kid })) }, k.claims(), (i) => sign(k, i)) },
  { name: 'genuine signature spelled with a spare bit set', code: 'token-deserialization', token: (k) => genuine(k).replace(/[^.]+$/, (signature) => withSpareBit(signature)) },
  { name: 'a space inside the payload segment, genuinely signed', overHttp: false, code: 'token-deserialization', token: (k) => respell(k, 1, (segment) => `${segment.slice(0, 8)} ${segment.slice(8)}`) },
  { name: 'a line break inside the header segment, genuinely signed', overHttp: false, code: 'token-deserialization', token: (k) => respell(k, 0, (segment) => `${segment.slice(0, 8)}\n${segment.slice(8)}`) },
  { name: 'a leading space, genuinely signed', overHttp: false, code: 'token-deserialization', token: (k) => respell(k, 0, (segment) => ` ${segment}`) },
  { name: 'a trailing line break', overHttp: false, code: 'token-deserialization', token: (k) => `${genuine(k)}\n` },
  { name: 'the standard base64 alphabet in the signature', overHttp: false, code: 'token-deserialization', token: (k) => withUrlDigits(k).replace(/[^.]+$/, (signature) => signature.replaceAll('-', '+').replaceAll('_', '/')) },
  { name: 'header that is not JSON', code: 'token-deserialization', token: (k) => jws({ segment: b64u(`{"alg":"${k.alg}",`) }, k.claims(), (i) => sign(k, i)) },
  { name: 'header that is a JSON array', code: 'token-deserialization', token: (k) => jws(['ES256', k.kid], k.claims(), (i) => sign(k, i)) },
  { name: 'header that is JSON null', code: 'token-deserialization', token: (k) => jws(null, k.claims(), (i) => sign(k, i)) },
  { name: 'header that is a JSON string', code: 'token-deserialization', token: (k) => jws('ES256', k.claims(), (i) => sign(k, i)) },
  {
    name: 'header with a byte that is not UTF-8, genuinely signed',
    code: 'token-deserialization',
    token: (k) => withRawHeader(k, Buffer.concat([Buffer.from(`{"alg":"${k.alg}","kid":${JSON.stringify(k.kid)},"x":"`), Buffer.of(0xff), Buffer.from('"}')])),
  },
  { name: 'header after a UTF-8 byte order mark, genuinely signed', code: 'token-deserialization', token: (k) => withRawHeader(k, Buffer.from(`\ufeff${JSON.stringify({ alg: k.alg, kid: k.kid })}`)) },
  { name: 'payload that is not JSON, genuinely signed', code: 'token-deserialization', token: (k) => jws({ alg: k.alg, kid: k.kid }, { segment: b64u('not json') }, (i) => sign(k, i)) },
  {
    name: 'payload with a byte that is not UTF-8, genuinely signed',
    code: 'token-deserialization',
    token: (k) => jws({ alg: k.alg, kid: k.kid }, { segment: b64u(Buffer.concat([Buffer.from(JSON.stringify(k.claims()).slice(0, -1)), Buffer.from(',"x":"'), Buffer.of(0xc3), Buffer.from('"}')])) }, (i) => sign(k, i)),
  },
  { name: 'payload that is a JSON array, genuinely signed', code: 'token-deserialization', token: (k) => jws({ alg: k.alg, kid: k.kid }, [k.claims()], (i) => sign(k, i)) },
  { name: 'payload that is JSON null, genuinely signed', code: 'token-deserialization', token: (k) => jws({ alg: k.alg, kid: k.kid }, null, (i) => sign(k, i)) },
  { name: 'payload that is a JSON number, genuinely signed', code: 'token-deserialization', token: (k) => jws({ alg: k.alg, kid: k.kid }, 42, (i) => sign(k, i)) },
  { name: 'huge garbage (24 KiB, one segment)', code: 'token-deserialization', token: () => 'A'.repeat(24 * 1024) },
  { name: 'huge token (24 KiB payload, zero signature)', code: 'invalid-token', token: (k) => jws({ alg: k.alg, kid: k.kid }, { ...k.claims(), pad: 'x'.repeat(18 * 1024) }, () => Buffer.alloc(64)) },
];
