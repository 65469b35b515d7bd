import type http from 'node:http';
import type { Signer } from '../signer/index.js';

// node:http through CommonJS, not an ES import: see the node:http rule in eslint.config.js.
const nodeHttp = process.getBuiltinModule('node:http');

export interface DemoImages {
  readonly publicUrl: string;
  readonly internalUrl: string;
  readonly refusedUrl: string;
}

function page(images: { public: string; internal: string; refused: string }, refusedUrl: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ecamo demo wiki</title>
<style>body{font-family:sans-serif;max-width:46rem;margin:2rem auto;line-height:1.5}figure{margin:1.5rem 0}figcaption{color:#555;font-size:.9rem}img{display:block;min-height:1px}code{background:#eee;padding:0 .2em}</style>
</head><body>
<h1>ecamo demo wiki</h1>
<p>This page is a <em>service origin</em>. It signs each image URL into a URL token and has just set a
first-party auth cookie. The browser asks this origin for <code>/.ecamo/v1/r/…</code>, which is routed to ecamo;
ecamo checks both tokens and redirects to its canonical origin, then fetches the image and streams it back.</p>
<figure><img id="public" alt="public image" src="${images.public}">
<figcaption>1. A public image, fetched through the full redirect and proxy flow.</figcaption></figure>
<figure><img id="internal" alt="internal image" src="${images.internal}">
<figcaption>2. An internal image: its host only serves requests that carry ecamo's signed ID token (<code>ecamo:send-token</code>).</figcaption></figure>
<figure><img id="refused" alt="refused: private address" src="${images.refused}">
<figcaption>3. Refused by policy: <code>${refusedUrl}</code> is a private address that the operator did not allow, so ecamo never connects to it (403 <code>unallowed-source</code>).</figcaption></figure>
</body></html>`;
}

/** Passes a request on to `to` with its Host intact, as a reverse proxy in front of ecamo does. */
export function forward(req: http.IncomingMessage, res: http.ServerResponse, to: { host: string; port: number }): void {
  const onward = nodeHttp.request({ host: to.host, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  onward.on('error', () => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end('ecamo unreachable');
  });
  req.pipe(onward);
}

/**
 * A wiki-like service origin: renders a page of signed image URLs, sets the
 * auth cookie, and routes `/.ecamo/*` to ecamo with its Host intact, as a
 * real deployment's reverse proxy would.
 */
export function demoServiceHandler(options: {
  signer: Signer;
  canonicalOrigin: string;
  ecamo: { host: string; port: number };
  images: DemoImages;
}): http.RequestListener {
  return (req, res) => {
    if (req.url?.startsWith('/.ecamo/') === true) return forward(req, res, options.ecamo);
    if (req.url !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const { signer, images } = options;
    Promise.all([
      signer.url(images.publicUrl),
      signer.url(images.internalUrl, { sendToken: true }),
      signer.url(images.refusedUrl),
      signer.authCookie({ canonicalOrigin: options.canonicalOrigin, ttlSeconds: 600, insecure: true }),
    ]).then(
      ([publicPath, internalPath, refusedPath, cookie]) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'set-cookie': cookie.setCookie, 'cache-control': 'no-store' });
        res.end(page({ public: publicPath, internal: internalPath, refused: refusedPath }, images.refusedUrl));
      },
      () => res.writeHead(500).end(),
    );
  };
}
