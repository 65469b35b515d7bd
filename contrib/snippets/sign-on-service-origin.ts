import { createSigner } from '@ecamo/signer';

// The service's own key pair, e.g. from `npx ecamo keygen --kid wiki-1 --origin https://wiki.corp.example`.
// The private half stays here; ecamo holds the public half as "https://wiki.corp.example wiki-1".
const signer = await createSigner({
  origin: 'https://wiki.corp.example',
  kid: 'wiki-1',
  privateJwk: JSON.parse(process.env.ECAMO_SIGNER_PRIVATE_JWK!),
});

// For <img src="...">. Sign each image URL once and cache the result: without a ttl the
// token never expires, and a fresh signature on every render would defeat browser and CDN caches.
const src = await signer.url('https://images.example/cat.png');
// For a source that only serves ecamo: ecamo will present its signed ID token to it.
const internalSrc = await signer.url('https://screenshots.corp.example/42.png', { sendToken: true });

// With the pages of a signed-in user: a short-lived, first-party cookie that ecamo checks.
const cookie = await signer.authCookie({ canonicalOrigin: 'https://ecamo.corp.example', ttlSeconds: 300 });
// response.setHeader('set-cookie', cookie.setCookie) in your framework of choice.

console.log(src, internalSrc, cookie.setCookie);
