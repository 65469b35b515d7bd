/**
 * Every byte of a token is authenticated: a proxy token ecamo did not mint,
 * or a URL token / cookie its service did not sign, is refused, whatever
 * part of it changed (docs/protocol.md, tokens). Proxy tokens are HS256 MACs,
 * deterministic, so each has exactly one valid string; ES256 tokens (URL
 * tokens, cookies, and proxy tokens as the reference server mints them) are
 * accepted with either s, as jose and WebCrypto sign them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { importJWK, jwtVerify, SignJWT, type CryptoKey } from 'jose';
import { generateKey } from '../../src/config/generate-key.js';
import { loadEcamoKeys, type EcamoKeys } from '../../src/config/keys.js';
import { loadConfig, PROXY_TOKEN_ALGS } from '../../src/config/load.js';
import { EcamoError } from '../../src/errors.js';
import { verifyAuthCookie } from '../../src/tokens/auth-cookie.js';
import { signProxyToken, verifyProxyToken } from '../../src/tokens/proxy-token.js';
import { Metrics } from '../../src/metrics.js';
import { TokenService } from '../../src/tokens/token-service.js';
import { verifyUrlToken } from '../../src/tokens/url-token.js';
import { claimsOf } from '../helpers/proxy-tokens.js';

const CLAIMS = { url: 'https://images.example/a.png', serviceOrigin: 'https://wiki.example', sendToken: true };
/** Order of the P-256 group. */
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

async function ecamoKeys(kid = 'k1'): Promise<{ keys: EcamoKeys; publicKey: CryptoKey }> {
  const generated = await generateKey(kid);
  const keys = await loadEcamoKeys('ECAMO_PRIVATE_KEYS', JSON.stringify({ [kid]: generated.privateJwk }), 'ECAMO_SIGNING_KID', kid);
  return { keys, publicKey: (await importJWK(generated.publicJwk, 'ES256')) as CryptoKey };
}

function segments(token: string): [string, string, string] {
  const [header, payload, signature] = token.split('.');
  return [header!, payload!, signature!];
}

function json(segment: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>;
}

function encode(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

function sOf(token: string): bigint {
  return BigInt(`0x${Buffer.from(segments(token)[2], 'base64url').subarray(32).toString('hex')}`);
}

/** The same token with s replaced by n - s: a signature that verifies just as well. */
function flipS(token: string): string {
  const [header, payload, signature] = segments(token);
  const bytes = Buffer.from(signature, 'base64url');
  const s = BigInt(`0x${bytes.subarray(32).toString('hex')}`);
  const flipped = Buffer.concat([bytes.subarray(0, 32), Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex')]);
  return `${header}.${payload}.${flipped.toString('base64url')}`;
}

/** The same base64url text with a spare bit set that a canonical encoder leaves clear (same bytes when decoded leniently). */
function withSpareBit(segment: string): string | undefined {
  if (segment.length % 4 === 0) return undefined;
  return `${segment.slice(0, -1)}${BASE64URL.charAt(BASE64URL.indexOf(segment.at(-1)!) ^ 1)}`;
}

async function refused(promise: Promise<unknown>, codes: readonly string[] = ['invalid-token', 'token-deserialization']): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof EcamoError && codes.includes(error.code));
}

/** Variants of a genuine token that its signer never produced. */
function variants(token: string): Record<string, string> {
  const [header, payload, signature] = segments(token);
  const claims = json(payload);
  const headerFields = json(header);
  const reordered = Object.fromEntries(Object.entries(claims).reverse());
  const { iat: _removed, ...withoutIat } = claims;
  const out: Record<string, string> = {
    'random signature': `${header}.${payload}.${Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff)).toString('base64url')}`,
    'zero signature': `${header}.${payload}.${Buffer.alloc(64).toString('base64url')}`,
    'added 20 KB claim': `${header}.${encode({ ...claims, pad: 'x'.repeat(20_000) })}.${signature}`,
    'added claim': `${header}.${encode({ ...claims, x: 1 })}.${signature}`,
    'removed claim': `${header}.${encode(withoutIat)}.${signature}`,
    'reordered claims': `${header}.${encode(reordered)}.${signature}`,
    'same claims, other whitespace': `${header}.${encode(JSON.stringify(claims, null, 1))}.${signature}`,
    'changed header (typ added)': `${encode({ ...headerFields, typ: 'JWT' })}.${payload}.${signature}`,
    'reordered header': `${encode(Object.fromEntries(Object.entries(headerFields).reverse()))}.${payload}.${signature}`,
    'padded signature': `${header}.${payload}.${signature}==`,
    'padded payload': `${header}.${payload}=.${signature}`,
    'whitespace in payload': `${header}.${payload.slice(0, 8)} ${payload.slice(8)}.${signature}`,
    'newline after token': `${token}\n`,
    'standard base64 alphabet': token.replaceAll('-', '+').replaceAll('_', '/'),
  };
  const parts = [header, payload, signature];
  parts.forEach((part, index) => {
    const spare = withSpareBit(part);
    if (spare !== undefined) out[`spare bit in segment ${index}`] = parts.map((p, i) => (i === index ? spare : p)).join('.');
  });
  // Only variants that differ from the genuine string count.
  return Object.fromEntries(Object.entries(out).filter(([, value]) => value !== token));
}

describe('proxy tokens: byte for byte', () => {
  test('ecamo mints HS256 tokens that a plain HS256 verifier accepts under the derived key, with nothing but the protocol claims', async () => {
    const { keys } = await ecamoKeys();
    const token = await signProxyToken(CLAIMS, keys.signing, 45);
    const { payload, protectedHeader } = await jwtVerify(token, keys.signing.proxyTokenMacKey.export(), { issuer: 'ecamo:s', audience: 'ecamo:p', algorithms: ['HS256'] });
    assert.deepEqual(protectedHeader, { alg: 'HS256', kid: 'k1' });
    assert.deepEqual(Object.keys(payload).sort(), ['aud', 'ecamo:svc', 'ecamo:tok', 'ecamo:url', 'exp', 'iat', 'iss', 'nbf']);
    assert.deepEqual(claimsOf(await verifyProxyToken(token, keys)), { ...CLAIMS, exp: payload.exp });
  });

  test('with ES256, ecamo mints what a plain ES256 verifier (the reference server) accepts', async () => {
    const { keys, publicKey } = await ecamoKeys();
    const token = await signProxyToken(CLAIMS, keys.signing, 45, 'ES256');
    const { payload, protectedHeader } = await jwtVerify(token, publicKey, { issuer: 'ecamo:s', audience: 'ecamo:p', algorithms: ['ES256'] });
    assert.deepEqual(protectedHeader, { alg: 'ES256', kid: 'k1' });
    assert.deepEqual(claimsOf(await verifyProxyToken(token, keys)), { ...CLAIMS, exp: payload.exp });
  });

  test('one valid string per HS256 token: the same claims at the same second mint the same string', async () => {
    const { keys } = await ecamoKeys();
    const now = Math.floor(Date.now() / 1000);
    assert.equal(await signProxyToken(CLAIMS, keys.signing, 45, 'HS256', now), await signProxyToken(CLAIMS, keys.signing, 45, 'HS256', now));
  });

  test('every variant of a genuine token is refused, HS256 and ES256', async () => {
    const { keys } = await ecamoKeys();
    for (const alg of PROXY_TOKEN_ALGS) {
      const token = await signProxyToken(CLAIMS, keys.signing, 45, alg);
      const all = variants(token);
      assert.ok(Object.keys(all).length >= 14, Object.keys(all).join(', '));
      for (const [name, variant] of Object.entries(all)) {
        await assert.rejects(verifyProxyToken(variant, keys), (error: unknown) => error instanceof EcamoError && (error.status === 401 || error.code === 'token-deserialization'), `${alg}: ${name}`);
      }
    }
  });

  test('ES256 proxy tokens signed by jose, as the reference server signs them, are accepted with a high s as with a low one', async () => {
    const generated = await generateKey('k1');
    const keys = await loadEcamoKeys('ECAMO_PRIVATE_KEYS', JSON.stringify({ k1: generated.privateJwk }), 'ECAMO_SIGNING_KID', 'k1');
    const privateKey = (await importJWK(generated.privateJwk, 'ES256')) as CryptoKey;
    const seen = { high: 0, low: 0 };
    // jose does not normalise s: half its signatures have a high one. 64 tokens without both is chance with probability 2^-63.
    for (let i = 0; i < 64 && (seen.high === 0 || seen.low === 0); i++) {
      const token = await new SignJWT({ 'ecamo:svc': CLAIMS.serviceOrigin, 'ecamo:url': `${CLAIMS.url}?${i}`, 'ecamo:tok': false })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('ecamo:s')
        .setAudience('ecamo:p')
        .setIssuedAt()
        .setNotBefore('0s')
        .setExpirationTime('45s')
        .sign(privateKey);
      seen[sOf(token) > N / 2n ? 'high' : 'low']++;
      assert.equal((await verifyProxyToken(token, keys)).url, `${CLAIMS.url}?${i}`);
      assert.equal((await verifyProxyToken(flipS(token), keys)).url, `${CLAIMS.url}?${i}`, 'and its twin');
    }
    assert.ok(seen.high > 0 && seen.low > 0, JSON.stringify(seen));
  });

  test('a refused variant stays refused after the genuine token is cached, and the other way round', async () => {
    const generated = await generateKey('k1');
    const service = await generateKey('svc');
    const config = await loadConfig({
      ECAMO_CANONICAL_HOST: 'ecamo.test',
      ECAMO_PRIVATE_KEYS: JSON.stringify({ k1: generated.privateJwk }),
      ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`https://wiki.example ${service.kid}`]: service.publicJwk }),
    });
    const tokens = new TokenService(config, new Metrics());
    const token = await tokens.issueProxyToken(CLAIMS);
    const all = variants(token);
    // An HS256 verdict comes at once: a refusal is thrown, taken here as a rejection.
    const verify = async (variant: string): Promise<unknown> => tokens.verifyProxyToken(variant);
    for (const variant of Object.values(all)) await refused(verify(variant), ['invalid-token', 'token-deserialization', 'jwt']);
    assert.equal((await tokens.verifyProxyToken(token)).url, CLAIMS.url);
    for (const variant of Object.values(all)) await refused(verify(variant), ['invalid-token', 'token-deserialization', 'jwt']);
  });
});

describe('URL tokens and cookies (signed by services)', () => {
  test('every variant of a genuine URL token is refused; its high-s twin is accepted (jose does not normalise s)', async () => {
    const service = await generateKey('svc');
    const privateKey = (await importJWK(service.privateJwk, 'ES256')) as CryptoKey;
    const serviceKeys = new Map([[`https://wiki.example svc`, (await importJWK(service.publicJwk, 'ES256')) as CryptoKey]]);
    const token = await new SignJWT({ iss: 'https://wiki.example', 'ecamo:url': CLAIMS.url }).setProtectedHeader({ alg: 'ES256', kid: 'svc' }).sign(privateKey);
    for (const [name, variant] of Object.entries(variants(token))) {
      await assert.rejects(verifyUrlToken(variant, 'https://wiki.example', serviceKeys), EcamoError, name);
    }
    assert.equal((await verifyUrlToken(flipS(token), 'https://wiki.example', serviceKeys)).url, CLAIMS.url);
    assert.equal((await verifyUrlToken(token, 'https://wiki.example', serviceKeys)).url, CLAIMS.url);
  });

  test('every variant of a genuine auth cookie is refused; its high-s twin is accepted', async () => {
    const service = await generateKey('svc');
    const privateKey = (await importJWK(service.privateJwk, 'ES256')) as CryptoKey;
    const serviceKeys = new Map([[`https://wiki.example svc`, (await importJWK(service.publicJwk, 'ES256')) as CryptoKey]]);
    const cookie = await new SignJWT({ iss: 'https://wiki.example', aud: 'https://ecamo.example' })
      .setProtectedHeader({ alg: 'ES256', kid: 'svc' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const verify = (token: string): Promise<number> => verifyAuthCookie(token, 'https://wiki.example', 'https://ecamo.example', serviceKeys);
    for (const [name, variant] of Object.entries(variants(cookie))) await assert.rejects(verify(variant), EcamoError, name);
    const exp = await verify(cookie);
    assert.equal(await verify(flipS(cookie)), exp);
  });
});
