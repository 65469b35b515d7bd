import type http from 'node:http';
import { ID_TOKEN_CLAIMS, ID_TOKEN_SUBJECT } from '@ecamo/protocol';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';

export function badge(text: string, colour: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="360" height="80" viewBox="0 0 360 80">` +
    `<rect width="360" height="80" rx="10" fill="${colour}"/>` +
    `<text x="180" y="48" font-family="sans-serif" font-size="20" fill="#fff" text-anchor="middle">${text}</text></svg>`;
}

/**
 * The demo's image host: `/public.svg` for anyone, `/internal.svg` only for
 * requests bearing ecamo's anonymous ID token (as an internal screenshot
 * service would), verified against ecamo's published keys.
 */
export function demoSourceHandler(options: { ecamoOrigin: string; ownOrigin: string; jwks: JSONWebKeySet }): http.RequestListener {
  const keys = createLocalJWKSet(options.jwks);
  return (req, res) => {
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.url === '/public.svg') return send(200, 'image/svg+xml', badge('public image, proxied by ecamo', '#2b6cb0'));
    if (req.url === '/secret.svg') return send(200, 'image/svg+xml', badge('this must never be shown', '#c53030'));
    if (req.url !== '/internal.svg') return send(404, 'text/plain', 'not found');
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (token === undefined) return send(401, 'text/plain', 'ID token required');
    jwtVerify(token, keys, { issuer: options.ecamoOrigin, audience: options.ownOrigin, subject: ID_TOKEN_SUBJECT, algorithms: ['ES256'], clockTolerance: 10 })
      .then(({ payload }) => send(200, 'image/svg+xml', badge(`internal image for ${String(payload[ID_TOKEN_CLAIMS.serviceOrigin])}`, '#2f855a')))
      .catch(() => send(403, 'text/plain', 'bad ID token'));
  };
}
