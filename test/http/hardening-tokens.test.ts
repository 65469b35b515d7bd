/**
 * A real ecamo: a proxy token it minted is served; every variant of that
 * token string (signature, claims, header, encoding) is a 401 and never
 * reaches the source.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CANONICAL_HOST, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { PNG } from '../helpers/images.js';

let ecamo: Ecamo;
let source: Source;

before(async () => {
  source = await startSource((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
  ecamo = await startEcamo();
});

after(async () => {
  await ecamo.close();
  await source.close();
});

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('proxy tokens over HTTP', () => {
  it('only the exact token ecamo minted is served', async () => {
    const sourceUrl = `${source.origin}/img.png`;
    const minted = await ecamo.get(await ecamo.signer.url(sourceUrl), { headers: { cookie: ecamo.cookie } });
    assert.equal(minted.status, 302);
    const location = new URL(minted.header('location')!);
    const token = location.searchParams.get('t')!;
    const path = (t: string): string => `${location.pathname}?t=${encodeURIComponent(t)}`;

    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const mac = Buffer.from(signature, 'base64url');
    const lastBitFlipped = Buffer.from(mac);
    lastBitFlipped[mac.length - 1]! ^= 1;
    const variants = {
      'random MAC': `${header}.${payload}.${Buffer.alloc(32, 7).toString('base64url')}`,
      'MAC with its last bit flipped': `${header}.${payload}.${lastBitFlipped.toString('base64url')}`,
      'the MAC under an ES256 header': `${encode({ alg: 'ES256', kid: ecamo.ecamoKey.kid })}.${payload}.${signature}`,
      'added 20 KB claim': `${header}.${encode({ ...claims, pad: 'x'.repeat(20_000) })}.${signature}`,
      'reordered claims': `${header}.${encode(Object.fromEntries(Object.entries(claims).reverse()))}.${signature}`,
      'changed header': `${encode({ alg: 'HS256', kid: ecamo.ecamoKey.kid, typ: 'JWT' })}.${payload}.${signature}`,
      'padded signature': `${token}=`,
    };
    for (const [name, variant] of Object.entries(variants)) {
      const answer = await ecamo.get(path(variant), { host: CANONICAL_HOST });
      assert.equal(answer.status, 401, name);
      assert.equal(answer.header('x-ecamo-error'), 'invalid-token', name);
      assert.equal(answer.header('cache-control'), 'no-store', name);
    }
    assert.equal(source.requests.length, 0);
    const genuine = await ecamo.get(path(token), { host: CANONICAL_HOST });
    assert.equal(genuine.status, 200);
    assert.deepEqual(genuine.bytes, PNG);
    assert.equal(source.requests.length, 1);
  });
});
