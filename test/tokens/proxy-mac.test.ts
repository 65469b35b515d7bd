import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeJwt, importJWK, jwtVerify, SignJWT } from 'jose';
import { generateKey } from '../../src/cli/keygen.js';
import { loadEcamoKeys, type EcamoKeys } from '../../src/config/keys.js';
import { EcamoError } from '../../src/errors.js';
import { MAC_CLAIM, proxyTokenMac } from '../../src/tokens/proxy-mac.js';
import { signProxyToken, verifyProxyToken } from '../../src/tokens/proxy-token.js';

const CLAIMS = { url: 'https://images.example/a.png', serviceOrigin: 'https://wiki.example', sendToken: true };

async function keySet(...kids: string[]): Promise<{ keys: EcamoKeys; json: string; publicJwk: (kid: string) => Promise<CryptoKey> }> {
  const generated = await Promise.all(kids.map((kid) => generateKey(kid)));
  const json = JSON.stringify(Object.fromEntries(generated.map((key) => [key.kid, key.privateJwk])));
  const keys = await loadEcamoKeys('ECAMO_PRIVATE_KEYS', json, 'ECAMO_SIGNING_KID', kids[0]);
  return { keys, json, publicJwk: async (kid) => (await importJWK(generated.find((key) => key.kid === kid)!.publicJwk, 'ES256')) as CryptoKey };
}

async function refused(token: string, keys: EcamoKeys): Promise<void> {
  await assert.rejects(verifyProxyToken(token, keys), (error: unknown) => error instanceof EcamoError && error.code === 'invalid-token');
}

/** Re-signs `claims` with the real private key, so that only the MAC can be wrong. */
async function signedWith(keys: EcamoKeys, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: keys.signing.kid }).sign(keys.signing.privateKey);
}

describe('proxy-token MAC', () => {
  test('ecamo stamps its proxy tokens with ecamo:mac and still signs them ES256 (other Ecamo servers verify the signature)', async () => {
    const { keys, publicJwk } = await keySet('k1');
    const token = await signProxyToken(CLAIMS, keys.signing, 45);
    const { payload, protectedHeader } = await jwtVerify(token, await publicJwk('k1'), { issuer: 'ecamo:s', audience: 'ecamo:p', algorithms: ['ES256'] });
    assert.equal(protectedHeader.kid, 'k1');
    assert.equal(typeof payload[MAC_CLAIM], 'string');
    assert.deepEqual(await verifyProxyToken(token, keys), { ...CLAIMS, exp: payload.exp });
  });

  test('a token minted without a MAC (as the reference server does) is verified by its signature', async () => {
    const { keys } = await keySet('k1');
    const plain = await signProxyToken(CLAIMS, { kid: 'k1', privateKey: keys.signing.privateKey }, 45);
    assert.equal(decodeJwt(plain)[MAC_CLAIM], undefined);
    assert.equal((await verifyProxyToken(plain, keys)).url, CLAIMS.url);
    // Without a MAC, the signature is all there is: a zero signature is refused.
    await refused(`${plain.slice(0, plain.lastIndexOf('.'))}.${Buffer.alloc(64).toString('base64url')}`, keys);
  });

  test('with a valid MAC the token is proven by it: only holders of the private key can compute it', async () => {
    const { keys } = await keySet('k1');
    const token = await signProxyToken(CLAIMS, keys.signing, 45);
    const zeroSignature = `${token.slice(0, token.lastIndexOf('.'))}.${Buffer.alloc(64).toString('base64url')}`;
    assert.equal((await verifyProxyToken(zeroSignature, keys)).url, CLAIMS.url);
  });

  test('every claim the proxy relies on is covered: changing one breaks the MAC', async () => {
    const { keys } = await keySet('k1');
    const genuine = decodeJwt(await signProxyToken(CLAIMS, keys.signing, 45));
    const changes: Record<string, unknown>[] = [
      { 'ecamo:url': 'http://169.254.169.254/latest/meta-data/' },
      { 'ecamo:svc': 'https://evil.example' },
      { 'ecamo:tok': false },
      { exp: Number(genuine.exp) + 3600 },
      { nbf: Number(genuine.nbf) - 3600 },
      { iat: Number(genuine.iat) + 1 },
    ];
    for (const change of changes) {
      // Signed with the real key, so the signature is valid: only the MAC stands in the way.
      await refused(await signedWith(keys, { ...genuine, ...change }), keys);
    }
    await refused(await signedWith(keys, { ...genuine, [MAC_CLAIM]: 'A'.repeat(43) }), keys);
    await refused(await signedWith(keys, { ...genuine, [MAC_CLAIM]: 42 }), keys);
  });

  test('a MAC made with a key derived from another private key, or for another kid, is refused', async () => {
    const { keys } = await keySet('k1');
    const other = await keySet('k1');
    const payload = { ...decodeJwt(await signProxyToken(CLAIMS, keys.signing, 45)) };
    await refused(await signedWith(keys, { ...payload, [MAC_CLAIM]: proxyTokenMac(other.keys.macKeys.get('k1')!, 'k1', payload) }), keys);
    await refused(await signedWith(keys, { ...payload, [MAC_CLAIM]: proxyTokenMac(keys.macKeys.get('k1')!, 'k2', payload) }), keys);
  });

  test('MAC keys are per kid and the same in every process that loads the same ECAMO_PRIVATE_KEYS', async () => {
    const { keys, json } = await keySet('k1', 'k2');
    assert.notDeepEqual(keys.macKeys.get('k1'), keys.macKeys.get('k2'));
    const sameKeysElsewhere = await loadEcamoKeys('ECAMO_PRIVATE_KEYS', json, 'ECAMO_SIGNING_KID', 'k2');
    const token = await signProxyToken(CLAIMS, sameKeysElsewhere.signing, 45);
    assert.equal((await verifyProxyToken(token, keys)).serviceOrigin, CLAIMS.serviceOrigin);
  });
});
