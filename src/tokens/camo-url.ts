/**
 * camo-format URLs (atmos/camo, go-camo): `/{digest}/{encoded URL}` or
 * `/{digest}?url={URL}`, where digest = HMAC-SHA1(key, URL bytes). The digest
 * and the path-encoded URL are both hex, in either case (40 digest
 * characters), or both go-camo's unpadded base64url (27 digest characters);
 * the query form takes either digest encoding.
 */
import type { KeyObject } from 'node:crypto';
import { EcamoError } from '../errors.js';
import { decodeStrictBase64url } from './digest.js';
import { hmacOf } from './hmac.js';

/** Where a camo URL keeps its source URL: as a path segment, or in `url` query parameters (all of them, to refuse repeats). */
export type CamoEncodedUrl =
  | { readonly in: 'path'; readonly text: string }
  | { readonly in: 'query'; readonly values: readonly string[] };

const SHA1_BYTES = 20;
const HEX_DIGEST_LENGTH = SHA1_BYTES * 2;
const BASE64URL_DIGEST_LENGTH = Math.ceil((SHA1_BYTES * 4) / 3);
const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** hex (atmos/camo) or unpadded base64url (go-camo). */
export type CamoEncoding = 'hex' | 'base64';

function decode(text: string, encoding: CamoEncoding, what: string): Buffer {
  if (encoding === 'hex') {
    if (!HEX.test(text)) throw new EcamoError('bad-request', `camo ${what} is not hex of whole bytes`);
    return Buffer.from(text, 'hex');
  }
  const bytes = decodeStrictBase64url(text);
  if (bytes === undefined || bytes.length === 0) throw new EcamoError('bad-request', `camo ${what} is not canonical unpadded base64url`);
  return bytes;
}

/** A camo URL taken apart, before any key is used. */
export interface DecodedCamoUrl {
  /** hex (atmos/camo) or unpadded base64url (go-camo), as the digest's length says. */
  readonly encoding: CamoEncoding;
  readonly digest: Buffer;
  /** The bytes the HMAC covers. */
  readonly urlBytes: Buffer;
  /** The source URL they spell, still unparsed. */
  readonly url: string;
}

/** Decodes digest and URL; 400 `bad-request` for anything malformed. */
export function decodeCamoUrl(digestText: string, encodedUrl: CamoEncodedUrl): DecodedCamoUrl {
  const encoding: CamoEncoding | undefined =
    digestText.length === HEX_DIGEST_LENGTH ? 'hex' : digestText.length === BASE64URL_DIGEST_LENGTH ? 'base64' : undefined;
  if (encoding === undefined) throw new EcamoError('bad-request', `camo digest has ${digestText.length} characters, not 40 (hex) or 27 (base64url)`);
  const digest = decode(digestText, encoding, 'digest');

  let urlBytes: Buffer;
  if (encodedUrl.in === 'path') {
    urlBytes = decode(encodedUrl.text, encoding, 'URL');
  } else {
    const [only, ...others] = encodedUrl.values;
    if (only === undefined || others.length > 0) throw new EcamoError('bad-request', `camo URL has ${encodedUrl.values.length} url parameters`);
    urlBytes = Buffer.from(only, 'utf8');
  }
  let url: string;
  try {
    url = UTF8.decode(urlBytes);
  } catch {
    throw new EcamoError('bad-request', 'camo URL is not UTF-8');
  }
  return { encoding, digest, urlBytes, url };
}

/** The index of the key whose HMAC of the URL is the digest; undefined when none is. */
export function matchingCamoKey(keys: readonly KeyObject[], decoded: DecodedCamoUrl): number | undefined {
  // Every key is tried, so the time taken does not tell which one matched or how close a guess came.
  let matched: number | undefined;
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index];
    if (key !== undefined && hmacOf('sha1', key).matches(decoded.urlBytes, decoded.digest)) matched ??= index;
  }
  return matched;
}

/**
 * Checks a camo URL against every key (rotation) and returns the source URL
 * it signs, still unparsed. 400 `bad-request` for anything malformed, before
 * any key is used; 401 `invalid-token` when no key produced the digest.
 */
export function verifyCamoUrl(keys: readonly KeyObject[], digestText: string, encodedUrl: CamoEncodedUrl): string {
  const decoded = decodeCamoUrl(digestText, encodedUrl);
  if (matchingCamoKey(keys, decoded) === undefined) throw new EcamoError('invalid-token', 'camo digest does not match the URL under any ECAMO_CAMO_KEY');
  return decoded.url;
}

// camo's two forms: /{digest}/{encoded URL}, and /{digest}?url=... (one segment only with a url parameter, so that
// /favicon.ico and the like stay unknown paths rather than malformed camo URLs).
const CAMO_PATH = /^\/([^/]+)\/([^/]+)$/;
const CAMO_QUERY = /^\/([^/]+)$/;

/** The digest and encoded URL of a request path (and query, without `?`) in one of camo's forms; undefined for other paths. */
export function camoUrlParts(path: string, query: string | undefined): { readonly digest: string; readonly url: CamoEncodedUrl } | undefined {
  const [, pathDigest, pathUrl] = CAMO_PATH.exec(path) ?? [];
  if (pathDigest !== undefined && pathUrl !== undefined) return { digest: pathDigest, url: { in: 'path', text: pathUrl } };
  const queryDigest = CAMO_QUERY.exec(path)?.[1];
  if (queryDigest === undefined || query === undefined) return undefined;
  const values = new URLSearchParams(query).getAll('url');
  return values.length === 0 ? undefined : { digest: queryDigest, url: { in: 'query', values } };
}
