import { ENDPOINT_PATHS } from '@ecamo/protocol';
import { urlDigest } from '../tokens/digest.js';
import { assertSourceAllowed } from '../upstream/url-policy.js';
import { traced } from '../tracing/index.js';
import type { App } from './app.js';
import { readCookie } from './cookies.js';
import type { RequestRecord } from './request-record.js';
import { NO_CACHE, redirectToSource } from './respond.js';
import { requestScheme, serviceOrigin } from './service-origin.js';
import type { HttpRequest, HttpResponse } from './request-response.js';

/** `/{prefix}/v1/r/{URL_TOKEN}` on a service origin, in the order of docs/protocol.md §6. */
export async function handleRedirect(
  app: App,
  req: HttpRequest,
  res: HttpResponse,
  record: RequestRecord,
  urlToken: string,
): Promise<void> {
  const { config, tokens } = app;
  const service = serviceOrigin(req, config);
  record.service = service;

  const claims = await traced(record.trace, 'verify url token', () => tokens.verifyUrlToken(urlToken, service));
  record.source = claims.url;
  assertSourceAllowed(claims.url, config);

  if (req.headers['sec-fetch-dest'] === 'document') return redirectToSource(res, record, claims.url, 'src-fetch-dest');
  const cookie = readCookie(req.headers.cookie, config.authCookie);
  if (cookie === undefined) return redirectToSource(res, record, claims.url, 'auth-cookie-missing');

  const canonicalOrigin = `${requestScheme(req, config)}://${config.canonicalHost}`;
  await traced(record.trace, 'verify auth cookie', () => tokens.verifyAuthCookie(cookie, service, canonicalOrigin));
  // Only now, with the cookie checked, is the URL token worth remembering.
  tokens.rememberUrlToken(urlToken, service, claims);

  const proxyToken = await traced(record.trace, 'issue proxy token', () => tokens.issueProxyToken({ url: claims.url, serviceOrigin: service, sendToken: claims.sendToken }));
  record.action = 'redirect-to-canonical';
  res.writeHead(302, {
    location: `${canonicalOrigin}/${config.prefix}${ENDPOINT_PATHS.proxy}${urlDigest(claims.url)}?t=${proxyToken}`,
    'cache-control': NO_CACHE,
    'x-ecamo-action': 'redirect-to-canonical',
    'content-length': 0,
  });
  res.end();
}
