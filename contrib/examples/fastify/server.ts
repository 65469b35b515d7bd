/**
 * A service origin on Fastify 5: signs the image URL for <img src>, sets
 * ecamo's auth cookie with the page, and routes /.ecamo/* to ecamo.
 * Run it as described in ../README.md.
 */
import { fastify } from 'fastify';
import { createSigner } from '@ecamo/signer';
import { forwardToEcamo } from '../shared/forward-to-ecamo.js';
import { exampleSettings, page } from '../shared/settings.js';

const settings = exampleSettings();
const signer = await createSigner({ origin: settings.origin, kid: settings.kid, privateJwk: settings.privateJwk });
// A URL token without exp never changes meaning: sign once and reuse it, so browsers and CDNs can cache the image.
const imageSrc = await signer.url(settings.imageUrl);

const app = fastify();

app.get('/.ecamo/*', (request, reply) => {
  // ecamo answers with the raw response; Fastify must not send one too.
  reply.hijack();
  forwardToEcamo(settings.ecamoUrl, request.raw, reply.raw);
});

app.get('/', async (_request, reply) => {
  // A real application sets it for signed-in users only, renewed with their pages.
  const cookie = await signer.authCookie({ canonicalOrigin: settings.canonicalOrigin, ttlSeconds: 300, insecure: settings.insecure });
  return reply.header('cache-control', 'no-store').header('set-cookie', cookie.setCookie).type('text/html; charset=utf-8').send(page(imageSrc));
});

console.log(`listening on ${await app.listen({ host: settings.host, port: settings.port })}`);
