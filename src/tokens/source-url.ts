import { EcamoError } from '../errors.js';

/**
 * Parses a token's `ecamo:url` (or another source URL, named `what` in log
 * messages) as an absolute http(s) URL and returns its WHATWG serialisation,
 * which is what the digest, policies and fetch all use.
 */
export function parseSourceUrl(value: unknown, what = 'ecamo:url'): URL {
  if (value === undefined) throw new EcamoError('missing-claim', `${what} is missing`);
  if (typeof value !== 'string') throw new EcamoError('token-deserialization', `${what} is not a string`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new EcamoError('url', `${what} is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new EcamoError('url', `${what} has scheme ${url.protocol}`);
  }
  // Credentials in a source URL would be sent to the source and shown to browsers.
  if (url.username !== '' || url.password !== '') throw new EcamoError('url', `${what} carries credentials`);
  return url;
}
