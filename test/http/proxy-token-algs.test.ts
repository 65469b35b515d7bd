/**
 * ECAMO_PROXY_TOKEN_ALG across a fleet: two real ecamo servers sharing
 * ECAMO_PRIVATE_KEYS, one minting HS256 (the default) and one minting ES256
 * (as the reference server does), each serving the images of proxy tokens the
 * other minted, from a real source (docs/protocol.md §4.4, README: Migrating).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { generateKey } from '../../src/config/generate-key.js';
import { CANONICAL_HOST, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { PNG } from '../helpers/hostile.js';

let source: Source;
let hs256: Ecamo;
let es256: Ecamo;

before(async () => {
  source = await startSource((_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
  const ecamoKey = await generateKey('fleet-1');
  const shared = { ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamoKey.kid]: ecamoKey.privateJwk }) };
  hs256 = await startEcamo(shared);
  // The same service key too, so that one page view can go to either instance.
  es256 = await startEcamo({ ...shared, ECAMO_SERVICE_PUBLIC_KEYS: hs256.env.ECAMO_SERVICE_PUBLIC_KEYS!, ECAMO_PROXY_TOKEN_ALG: 'ES256' });
});

after(async () => {
  await hs256.close();
  await es256.close();
  await source.close();
});

/** The proxy URL `minter`'s redirect endpoint sends a browser to. */
async function mintedProxyPath(minter: Ecamo, imageUrl: string): Promise<string> {
  const redirect = await minter.get(await hs256.signer.url(imageUrl), { headers: { cookie: hs256.cookie } });
  assert.equal(redirect.status, 302);
  const location = new URL(redirect.header('location')!);
  return `${location.pathname}${location.search}`;
}

describe('ECAMO_PROXY_TOKEN_ALG: instances minting HS256 and ES256 side by side', () => {
  it('each mints its own form, under the shared signing kid', async () => {
    for (const [minter, alg] of [[hs256, 'HS256'], [es256, 'ES256']] as const) {
      const path = await mintedProxyPath(minter, `${source.origin}/form.png`);
      assert.deepEqual(decodeProtectedHeader(new URL(path, 'http://x').searchParams.get('t')!), { alg, kid: 'fleet-1' });
    }
  });

  it("each serves the images of the other's proxy tokens, and its own", async () => {
    let n = 0;
    for (const minter of [hs256, es256]) {
      for (const server of [hs256, es256]) {
        const imageUrl = `${source.origin}/img.png?n=${n++}`;
        const answer = await server.get(await mintedProxyPath(minter, imageUrl), { host: CANONICAL_HOST });
        assert.equal(answer.status, 200, `minted by the ${minter === hs256 ? 'HS256' : 'ES256'} instance`);
        assert.deepEqual(answer.bytes, PNG);
        assert.equal(source.requests.at(-1)?.url, new URL(imageUrl).pathname + new URL(imageUrl).search);
      }
    }
  });
});
