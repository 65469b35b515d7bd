import { EcamoError } from '../errors.js';
import { assertSourceAllowed, type SourcePolicy } from './url-policy.js';

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** Where a response redirects to, when it is a redirect ecamo follows. */
export function redirectLocation(statusCode: number, headers: Readonly<Record<string, string | string[] | undefined>>): string | undefined {
  const location = headers.location;
  return REDIRECT_STATUSES.has(statusCode) && typeof location === 'string' ? location : undefined;
}

/**
 * The next hop of a redirect: an http(s) URL without credentials (no fragment),
 * which the operator's source policy allows too (an open redirect on an
 * allowed host must not lead ecamo elsewhere).
 */
export function nextHop(from: URL, location: string, policy: SourcePolicy): URL {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new EcamoError('source-request', 'source redirected to an invalid URL');
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new EcamoError('unallowed-source', `source redirected to scheme ${next.protocol}`);
  }
  if (next.username !== '' || next.password !== '') throw new EcamoError('unallowed-source', 'source redirected to a URL with credentials');
  next.hash = '';
  assertSourceAllowed(next.href, policy);
  return next;
}
