import { verifyCamoUrl, type CamoEncodedUrl } from '../tokens/camo-url.js';
import { parseSourceUrl } from '../tokens/source-url.js';
import type { App } from './app.js';
import { admitSource, assertCanonicalHost, serveSource, sourceRequestOf } from './proxy.js';
import type { RequestRecord } from './request-record.js';
import type { Answering, HttpRequest, HttpResponse } from './request-response.js';

/**
 * The service of every camo request: camo URLs name no service origin. Not an
 * origin itself, so it can never be confused with one (in logs, cache keys).
 */
export const CAMO_SERVICE = 'camo';

/**
 * A camo-format URL on the canonical origin: authenticated by its HMAC, then
 * served by the same pipeline as the proxy endpoint. camo URLs never ask for
 * ecamo's ID token: anyone holding one can replay it, so it vouches for nobody.
 */
export function handleCamo(
  app: App,
  req: HttpRequest,
  res: HttpResponse,
  record: RequestRecord,
  digest: string,
  encodedUrl: CamoEncodedUrl,
): Answering {
  assertCanonicalHost(req, app.config);
  let url: string;
  try {
    url = verifyCamoUrl(app.config.camoKeys, digest, encodedUrl);
  } catch (error) {
    app.metrics.tokenVerified('camo', 'invalid');
    throw error;
  }
  app.metrics.tokenVerified('camo', 'valid');
  const source = sourceRequestOf(parseSourceUrl(url, 'camo URL'), CAMO_SERVICE, false);
  admitSource(app, record, source);
  return serveSource(app, req, res, record, source);
}
