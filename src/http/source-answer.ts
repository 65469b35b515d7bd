import type { Config } from '../config/load.js';
import { SOURCE_CSP } from './respond.js';

/** Source headers passed to the client with a 200, besides Content-Type and Content-Length (handled apart). */
const PASSED_ON_SUCCESS: readonly string[] = [
  'etag', // lets browsers and CDNs revalidate
  'expires', // the source's own freshness
  'last-modified', // revalidation
  'vary', // what the source's representation depends on (e.g. Accept for webp/avif)
];

/** Source headers passed with a source error (no etag: the body is ours, not the source's). */
export const PASSED_ON_ERROR: readonly string[] = ['expires', 'last-modified', 'vary'];

/**
 * ecamo's own headers on every answer that relays a source, 200 or source
 * error, as a flat `[name, value, ...]` list: a 200's head starts with it, and
 * a literal costs a fraction of building it from an object (`Object.entries`
 * and `flat` were 2% of a proxied image's CPU).
 */
function relayFields(url: string): (string | number)[] {
  return [
    'x-ecamo-action', 'proxy-source',
    'x-ecamo-source', url,
    'x-frame-options', 'deny',
    'x-content-type-options', 'nosniff',
    'content-security-policy', SOURCE_CSP,
  ];
}

/** The same headers as an object, for a source error's answer. */
export function relayHeaders(url: string): Record<string, string> {
  const fields = relayFields(url);
  const headers: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) headers[String(fields[i])] = String(fields[i + 1]);
  return headers;
}

/** The parts of a source's 200 that its answer is made of, wherever they come from (the source, a kept entry). */
export interface SuccessHead {
  readonly url: string;
  readonly contentType: string;
  readonly cacheControl: string | undefined;
  /** A source header by its lower-case name, undefined when absent or unusable. */
  readonly sourceHeader: (name: string) => string | undefined;
  readonly length: number | undefined;
}

/**
 * The head of a relayed 200 as a flat `[name, value, ...]` list for
 * `writeHead`: one shape for a 200 streamed from the source and one answered
 * from the cache, so that the two never drift apart.
 */
export function successFields(config: Config, head: SuccessHead): (string | number)[] {
  const fields = relayFields(head.url);
  fields.push('content-type', head.contentType);
  if (head.cacheControl !== undefined) fields.push('cache-control', head.cacheControl);
  if (config.defaultSurrogateControl !== undefined) fields.push('surrogate-control', config.defaultSurrogateControl);
  for (const name of PASSED_ON_SUCCESS) {
    const value = head.sourceHeader(name);
    if (value !== undefined) fields.push(name, value);
  }
  if (head.length !== undefined) fields.push('content-length', head.length);
  return fields;
}
