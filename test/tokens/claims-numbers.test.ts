/**
 * Time claims must be dates a token can have: finite numbers, and an `exp`
 * within a sane lifetime. `1e400` parses as Infinity; before, such a token
 * was accepted and remembered forever.
 */
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, sign, type JsonWebKey as NodeJwk } from 'node:crypto';
import { describe, test } from 'node:test';
import { importJWK, type CryptoKey } from 'jose';
import { generateKey, type GeneratedKey } from '../../src/config/generate-key.js';
import { loadEcamoKeys, type EcamoKeys } from '../../src/config/keys.js';
import { EcamoError } from '../../src/errors.js';
import { verifyAuthCookie } from '../../src/tokens/auth-cookie.js';
import { createSigner } from '../../src/signer/index.js';
import { verifyProxyToken } from '../../src/tokens/proxy-token.js';
import { verifyUrlToken } from '../../src/tokens/url-token.js';
import { derivedMacKey } from '../helpers/forgeries.js';

const SERVICE = 'https://wiki.example';
const CANONICAL = 'https://ecamo.example';
const URL_CLAIM = '"ecamo:url":"https://images.example/a.png"';
const YEAR = 365 * 24 * 3600;
const now = (): number => Math.floor(Date.now() / 1000);

/** A compact JWS over the payload text exactly as given (so that `1e400` stays `1e400`): ES256 by `key`, or HS256 under the proxy-token key derived from it. */
function rawToken(key: GeneratedKey, payloadText: string, alg: 'ES256' | 'HS256'): string {
  const input = `${Buffer.from(JSON.stringify({ alg, kid: key.kid })).toString('base64url')}.${Buffer.from(payloadText).toString('base64url')}`;
  const signature = alg === 'HS256'
    ? createHmac('sha256', derivedMacKey(key)).update(input).digest()
    : sign('sha256', Buffer.from(input), { key: createPrivateKey({ key: key.privateJwk as NodeJwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

interface Kind {
  readonly name: string;
  /** Signs a payload text as a token of this kind. */
  token(payloadText: string): string;
  /** Claims every token of this kind carries, as JSON members without braces. */
  readonly base: string;
  verify(token: string): Promise<unknown>;
  /** The longest lifetime accepted, in seconds from now. */
  readonly longest: number;
}

async function kinds(): Promise<{ service: GeneratedKey; ecamo: GeneratedKey; all: Kind[] }> {
  const service = await generateKey('svc');
  const ecamo = await generateKey('e1');
  const serviceKeys = new Map([[`${SERVICE} svc`, (await importJWK(service.publicJwk, 'ES256')) as CryptoKey]]);
  const ecamoKeys: EcamoKeys = await loadEcamoKeys('ECAMO_PRIVATE_KEYS', JSON.stringify({ e1: ecamo.privateJwk }), 'ECAMO_SIGNING_KID', 'e1');
  return {
    service,
    ecamo,
    all: [
      { name: 'URL token', token: (text) => rawToken(service, text, 'ES256'), base: `"iss":"${SERVICE}",${URL_CLAIM}`, verify: (token) => verifyUrlToken(token, SERVICE, serviceKeys), longest: 10 * YEAR },
      { name: 'auth cookie', token: (text) => rawToken(service, text, 'ES256'), base: `"iss":"${SERVICE}","aud":"${CANONICAL}"`, verify: (token) => verifyAuthCookie(token, SERVICE, CANONICAL, serviceKeys), longest: 10 * YEAR },
      ...(['HS256', 'ES256'] as const).map((alg) => ({
        name: `proxy token (${alg})`,
        token: (text: string) => rawToken(ecamo, text, alg),
        base: `"iss":"ecamo:s","aud":"ecamo:p","ecamo:svc":"${SERVICE}",${URL_CLAIM},"ecamo:tok":false`,
        verify: (token: string) => verifyProxyToken(token, ecamoKeys),
        longest: 24 * 3600,
      })),
    ],
  };
}

async function refusedAsJwt(promise: Promise<unknown>, label: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof EcamoError && error.status === 401 && (error.code === 'jwt' || error.code === 'invalid-token'), label);
}

describe('time claims', () => {
  test('non-finite and absurd exp, nbf and iat are refused (401) for every token kind', async () => {
    const { all } = await kinds();
    const t = now();
    for (const kind of all) {
      const cases = [
        `"exp":1e400`,
        `"exp":-1e400`,
        `"exp":1e300`,
        `"exp":${t + kind.longest + 3600}`,
        `"exp":${t + 60},"nbf":-1e400`,
        `"exp":${t + 60},"iat":1e400`,
        `"exp":${t + 60},"iat":-1e400`,
        `"exp":${t + 60},"nbf":1e999`,
      ];
      for (const times of cases) await refusedAsJwt(kind.verify(kind.token(`{${kind.base},${times}}`)), `${kind.name} ${times}`);
    }
  });

  test('sane times are accepted, up to the longest lifetime of each kind', async () => {
    const { all } = await kinds();
    const t = now();
    for (const kind of all) {
      await kind.verify(kind.token(`{${kind.base},"iat":${t},"nbf":${t},"exp":${t + 60}}`));
      await kind.verify(kind.token(`{${kind.base},"iat":${t}.5,"exp":${t + kind.longest - 60}}`));
    }
  });

  test('the signer refuses a ttl ecamo would refuse, and signs the longest one ecamo accepts', async () => {
    const { service, all } = await kinds();
    const signer = await createSigner({ origin: SERVICE, kid: 'svc', privateJwk: service.privateJwk });
    await assert.rejects(signer.url('https://images.example/a.png', { ttlSeconds: 10 * YEAR + 1 }), TypeError);
    await assert.rejects(signer.authCookie({ canonicalOrigin: CANONICAL, ttlSeconds: 10 * YEAR + 1 }), TypeError);
    const longest = (await signer.url('https://images.example/a.png', { ttlSeconds: 10 * YEAR })).split('/').pop()!;
    await all[0]!.verify(longest);
  });
});
