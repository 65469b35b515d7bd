/**
 * A service origin on Express 5: signs the image URL for <img src>, sets
 * ecamo's auth cookie with the page, and routes /.ecamo/* to ecamo.
 * Run it as described in ../README.md.
 */
import express from 'express';
import type { AddressInfo } from 'node:net';
import { createSigner } from '@ecamo/signer';
import { forwardToEcamo } from '../shared/forward-to-ecamo.js';
import { exampleSettings, page } from '../shared/settings.js';

const settings = exampleSettings();
const signer = await createSigner({ origin: settings.origin, kid: settings.kid, privateJwk: settings.privateJwk });
// A URL token without exp never changes meaning: sign once and reuse it, so browsers and CDNs can cache the image.
const imageSrc = await signer.url(settings.imageUrl);

const app = express();
// Before any other middleware, and not mounted (mounting would rewrite req.url).
app.use((req, res, next) => (req.path.startsWith('/.ecamo/') ? forwardToEcamo(settings.ecamoUrl, req, res) : next()));

app.get('/', async (_req, res) => {
  // A real application sets it for signed-in users only, renewed with their pages.
  const cookie = await signer.authCookie({ canonicalOrigin: settings.canonicalOrigin, ttlSeconds: 300, insecure: settings.insecure });
  res.set('cache-control', 'no-store').append('set-cookie', cookie.setCookie).type('html').send(page(imageSrc));
});

const server = app.listen(settings.port, settings.host, () => {
  console.log(`listening on http://${settings.host}:${(server.address() as AddressInfo).port}`);
});
