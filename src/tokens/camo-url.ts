/**
 * camo-format URLs (atmos/camo, go-camo): `/{digest}/{encoded URL}` or
 * `/{digest}?url={URL}`, where digest = HMAC-SHA1(key, URL bytes). The digest
 * and the path-encoded URL are both hex, in either case (40 digest
 * characters), or both go-camo's unpadded base64url (27 digest characters);
 * the query form takes either digest encoding.
 */
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { EcamoError } from '../errors.js';
import { decodeStrictBase64url } from './digest.js';

/** Where a camo URL keeps its source URL: as a path segment, or in `url` query parameters (all of them, to refuse repeats). */
export type CamoEncodedUrl =
  | { readonly in: 'path'; readonly text: string }
  | { readonly in: 'query'; readonly values: readonly string[] };

const SHA1_BYTES = 20;
const HEX_DIGEST_LENGTH = SHA1_BYTES * 2;
const BASE64URL_DIGEST_LENGTH = Math.ceil((SHA1_BYTES * 4) / 3);
const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

type Encoding = 'hex' | 'base64';

function decode(text: string, encoding: Encoding, what: string): Buffer {
  if (encoding === 'hex') {
    if (!HEX.test(text)) throw new EcamoError('bad-request', `camo ${what} is not hex of whole bytes`);
    return Buffer.from(text, 'hex');
  }
  const bytes = decodeStrictBase64url(text);
  if (bytes === undefined || bytes.length === 0) throw new EcamoError('bad-request', `camo ${what} is not canonical unpadded base64url`);
  return bytes;
}

/**
 * Checks a camo URL against every key (rotation) and returns the source URL
 * it signs, still unparsed. 400 `bad-request` for anything malformed, before
 * any key is used; 401 `invalid-token` when no key produced the digest.
 */
export function verifyCamoUrl(keys: readonly KeyObject[], digestText: string, encodedUrl: CamoEncodedUrl): string {
  const encoding: Encoding | undefined =
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

  // Every key is tried, so the time taken does not tell which one matched or how close a guess came.
  let matched = false;
  for (const key of keys) {
    const expected = createHmac('sha1', key).update(urlBytes).digest();
    if (timingSafeEqual(expected, digest)) matched = true;
  }
  if (!matched) throw new EcamoError('invalid-token', 'camo digest does not match the URL under any ECAMO_CAMO_KEY');
  return url;
}
