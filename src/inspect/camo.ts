/**
 * `ecamo inspect` for camo-format URLs: the source URL a camo URL spells,
 * which key's HMAC it carries, and every reason the configured ecamo would
 * refuse it, each checked by the server's own code (tokens/camo-url.ts,
 * tokens/source-url.ts, upstream/url-policy.ts) in the server's order.
 */
import type { KeyObject } from 'node:crypto';
import type { Config } from '../config/load.js';
import { camoUrlParts, decodeCamoUrl, matchingCamoKey, type CamoEncodedUrl, type DecodedCamoUrl } from '../tokens/camo-url.js';
import { parseSourceUrl } from '../tokens/source-url.js';
import { assertSourceAllowed } from '../upstream/url-policy.js';

/** A camo URL as pasted: a path (`/{digest}/{hex}`, `/{digest}?url=...`) or a whole URL. */
export interface CamoInput {
  readonly digest: string;
  readonly url: CamoEncodedUrl;
  /** The host of a pasted whole URL. */
  readonly host?: string;
}

/** The camo parts of a path or whole http(s) URL; undefined when it is not in a camo form. */
export function parseCamoInput(raw: string): CamoInput | undefined {
  const text = raw.trim();
  let path: string;
  let query: string | undefined;
  let host: string | undefined;
  if (/^https?:\/\//i.test(text) && URL.canParse(text)) {
    // Digests and encoded URLs are [0-9A-Za-z_-]: the WHATWG parser leaves them as the router would see them.
    const url = new URL(text);
    [path, query, host] = [url.pathname, url.search === '' ? undefined : url.search.slice(1), url.host];
  } else if (text.startsWith('/')) {
    const [beforeHash = ''] = text.split('#');
    const queryStart = beforeHash.indexOf('?');
    [path, query] = queryStart === -1 ? [beforeHash, undefined] : [beforeHash.slice(0, queryStart), beforeHash.slice(queryStart + 1)];
  } else {
    return undefined;
  }
  const parts = camoUrlParts(path, query);
  if (parts === undefined) return undefined;
  return host === undefined ? parts : { ...parts, host };
}

/** The keys a camo URL is checked with, and where they came from (`ECAMO_CAMO_KEY`, `--camo-key`). */
export interface CamoKeys {
  readonly keys: readonly KeyObject[];
  readonly from: string;
}

const ENCODINGS: Readonly<Record<DecodedCamoUrl['encoding'], string>> = {
  hex: 'hex digest and URL (atmos/camo)',
  base64: 'base64url digest and URL (go-camo)',
};

export interface CamoReport {
  /** What was decoded, for people: the form, the source URL, the HMAC. */
  readonly lines: readonly string[];
  /** Every reason ecamo refuses it; empty: accepted, when there was a configuration to check the source policy with. */
  readonly reasons: readonly string[];
}

/** Decodes and checks a camo URL; `config` undefined: only the HMAC can be judged. */
export function inspectCamoUrl(input: CamoInput, keys: CamoKeys, config: Config | undefined): CamoReport {
  const lines: string[] = [];
  const reasons: string[] = [];
  // The server's order (http/dispatch.ts, http/camo.ts): camo URLs on at all, the canonical host, the HMAC, the source URL.
  if (keys.keys.length === 0) reasons.push(`camo URLs are off: ${keys.from} is unset (404 not-found)`);
  if (config !== undefined && input.host !== undefined && input.host !== config.canonicalHost) {
    reasons.push(`camo URLs are answered on ECAMO_CANONICAL_HOST ${config.canonicalHost} only, this one is for ${input.host} (404 not-found)`);
  }
  let decoded: DecodedCamoUrl;
  try {
    decoded = decodeCamoUrl(input.digest, input.url);
  } catch (error) {
    lines.push(`kind: camo URL, malformed`);
    reasons.push(`bad-request: ${(error as Error).message}`);
    return { lines, reasons };
  }
  lines.push(`kind: camo URL: ${ENCODINGS[decoded.encoding]}, the URL ${input.url.in === 'path' ? 'in the path' : 'in ?url='}`);
  lines.push(`url: ${decoded.url}`);
  if (keys.keys.length > 0) {
    const matched = matchingCamoKey(keys.keys, decoded);
    const count = keys.keys.length === 1 ? 'the key' : `any of the ${keys.keys.length} keys`;
    lines.push(`hmac: ${matched === undefined ? `does not verify with ${count} of ${keys.from}` : `verifies with key ${matched + 1} of ${keys.from}`}`);
    if (matched === undefined) reasons.push(`invalid-token: the digest is not the HMAC-SHA1 of the URL under ${count} of ${keys.from}`);
  }
  try {
    const url = parseSourceUrl(decoded.url, 'camo URL').href;
    if (config !== undefined) assertSourceAllowed(url, config);
  } catch (error) {
    reasons.push((error as Error).message);
  }
  return { lines, reasons };
}
