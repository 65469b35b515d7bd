import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CANONICAL_HOST, CANONICAL_ORIGIN, SERVICE_HOST, SERVICE_ORIGIN, fetchAnswer, startEcamo, type Ecamo, type Source } from '../helpers/harness.js';
import { IMAGE, spawnListening, startImageSource, type Listening } from '../helpers/wire.js';

const EXAMPLES = ['express', 'fastify', 'node-http'] as const;

let ecamo: Ecamo;
let source: Source;

before(async () => {
  ecamo = await startEcamo();
  source = await startImageSource();
});

after(async () => {
  await Promise.all([ecamo.close(), source.close()]);
});

for (const name of EXAMPLES) {
  describe(`contrib/examples/${name}`, () => {
    let example: Listening;
    let base: string;

    before(async () => {
      example = await spawnListening(
        [new URL(`../../contrib/examples/${name}/server.js`, import.meta.url).pathname],
        {
          HOST: '127.0.0.1',
          PORT: '0',
          // The service origin ecamo knows the key of; requests below carry its Host.
          ECAMO_SIGNER_ORIGIN: SERVICE_ORIGIN,
          ECAMO_SIGNER_KID: ecamo.serviceKey.kid,
          ECAMO_SIGNER_PRIVATE_JWK: JSON.stringify(ecamo.serviceKey.privateJwk),
          ECAMO_CANONICAL_ORIGIN: CANONICAL_ORIGIN,
          ECAMO_URL: ecamo.url,
          ECAMO_INSECURE: 'true',
          EXAMPLE_IMAGE_URL: `${source.origin}/cat.png`,
        },
        /listening on (http:\/\/\S+)/,
      );
      base = example.match[1]!;
    });

    after(() => example.stop());

    test('page with a signed image and the auth cookie; /.ecamo/ reaches ecamo; the redirect ends at the image', async () => {
      const page = await fetchAnswer(`${base}/`, { host: SERVICE_HOST });
      assert.equal(page.status, 200);
      assert.match(page.header('content-type')!, /^text\/html/);
      const setCookie = page.header('set-cookie')!;
      assert.match(setCookie, /^ecamo_token=[\w-]+\.[\w-]+\.[\w-]+; Path=\/; Max-Age=300; HttpOnly; SameSite=Lax$/);
      const src = /<img src="([^"]+)"/.exec(page.body)?.[1];
      assert.match(src ?? '', /^\/\.ecamo\/v1\/r\/[\w.-]+$/);

      const cookie = setCookie.split(';')[0]!;
      const redirect = await fetchAnswer(`${base}${src}`, { host: SERVICE_HOST, headers: { cookie } });
      assert.equal(redirect.status, 302, redirect.header('x-ecamo-error'));
      assert.equal(redirect.header('x-ecamo-action'), 'redirect-to-canonical');
      const location = new URL(redirect.header('location')!);
      assert.equal(location.origin, CANONICAL_ORIGIN);

      const image = await fetchAnswer(`${ecamo.url}${location.pathname}${location.search}`, { host: CANONICAL_HOST });
      assert.equal(image.status, 200);
      assert.equal(image.header('content-type'), 'image/png');
      assert.deepEqual(image.bytes, IMAGE);
    });

    test('without the cookie, ecamo (through the example) sends the browser to the source', async () => {
      const page = await fetchAnswer(`${base}/`, { host: SERVICE_HOST });
      const src = /<img src="([^"]+)"/.exec(page.body)![1]!;
      const redirect = await fetchAnswer(`${base}${src}`, { host: SERVICE_HOST });
      assert.equal(redirect.status, 302);
      assert.equal(redirect.header('x-ecamo-action'), 'redirect-to-source');
      assert.equal(redirect.header('location'), `${source.origin}/cat.png`);
    });
  });
}
