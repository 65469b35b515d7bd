/**
 * A service origin on plain node:http: signs the image URL for <img src>,
 * sets ecamo's auth cookie with the page, and routes /.ecamo/* to ecamo.
 * Run it as described in ../README.md.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSigner } from '@ecamo/signer';
import { forwardToEcamo } from '../shared/forward-to-ecamo.js';
import { exampleSettings, page } from '../shared/settings.js';

const settings = exampleSettings();
const signer = await createSigner({ origin: settings.origin, kid: settings.kid, privateJwk: settings.privateJwk });
// A URL token without exp never changes meaning: sign once and reuse it, so browsers and CDNs can cache the image.
const imageSrc = await signer.url(settings.imageUrl);

const server = http.createServer((req, res) => {
  if (req.url?.startsWith('/.ecamo/') === true) return forwardToEcamo(settings.ecamoUrl, req, res);
  if (req.url !== '/') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  // A real application sets it for signed-in users only, renewed with their pages.
  signer.authCookie({ canonicalOrigin: settings.canonicalOrigin, ttlSeconds: 300, insecure: settings.insecure }).then(
    (cookie) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'set-cookie': cookie.setCookie });
      res.end(page(imageSrc));
    },
    () => res.writeHead(500).end(),
  );
});

server.listen(settings.port, settings.host, () => {
  console.log(`listening on http://${settings.host}:${(server.address() as AddressInfo).port}`);
});
