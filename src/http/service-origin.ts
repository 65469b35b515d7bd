import { EcamoError } from '../errors.js';
import { admits, type UrlMatcher } from '../upstream/url-policy.js';
import type { HttpRequest } from './request-response.js';

const HOST = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export interface OriginSettings {
  readonly insecure: boolean;
  readonly serviceHostRegexp: UrlMatcher | undefined;
}

/** `https`, or in insecure mode the scheme the request arrived on. */
export function requestScheme(req: HttpRequest, settings: OriginSettings): 'http' | 'https' {
  if (!settings.insecure) return 'https';
  return (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
}

/**
 * The service origin of a redirect request: `sec-x-ecamo-service-host` (set
 * by a reverse proxy that must rewrite Host) or else Host.
 */
export function serviceOrigin(req: HttpRequest, settings: OriginSettings): string {
  const forwarded = req.headers['sec-x-ecamo-service-host'];
  const host = typeof forwarded === 'string' ? forwarded : req.headers.host;
  if (host === undefined || !HOST.test(host)) throw new EcamoError('bad-request', 'request has no usable service host');
  if (settings.serviceHostRegexp !== undefined && !admits(settings.serviceHostRegexp, host)) {
    throw new EcamoError('unallowed-service-host', `service host ${host} is not allowed`);
  }
  return `${requestScheme(req, settings)}://${host}`;
}
