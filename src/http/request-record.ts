import type { CacheStatus } from '../cache/cache.js';
import type { EcamoErrorCode } from '../errors.js';
import type { RequestTrace } from '../tracing/index.js';

/** What one request did, filled in as it goes and logged once as the access line. */
export interface RequestRecord {
  /** The client's address: the peer's, or the one a trusted proxy forwarded (http/client-address.ts). */
  client: string;
  /** What quarantine checks and counts the request under (quarantine/quarantine.ts keyOf); undefined: it does not. */
  quarantineKey: string | undefined;
  route: 'index' | 'health' | 'jwks' | 'redirect' | 'proxy' | 'camo' | 'none';
  action: 'redirect-to-source' | 'redirect-to-canonical' | 'proxy-source' | undefined;
  error: EcamoErrorCode | undefined;
  service: string | undefined;
  source: string | undefined;
  sourceStatus: number | undefined;
  /** How the cache took part in a proxied answer. */
  cache: CacheStatus | undefined;
  bytes: number;
  /** The request's server span, when tracing is on. */
  trace: RequestTrace | undefined;
}

export function newRequestRecord(client: string, quarantineKey?: string): RequestRecord {
  return {
    client,
    quarantineKey,
    route: 'none',
    action: undefined,
    error: undefined,
    service: undefined,
    source: undefined,
    sourceStatus: undefined,
    cache: undefined,
    bytes: 0,
    trace: undefined,
  };
}

/**
 * Longest source URL written to a log line. Source URLs can be as long as a
 * request head allows (tens of KB, chosen by whoever signs or forges tokens);
 * written whole, every refused request made a log line that size, and lines
 * queue in memory while stdout is busy. The start of a URL says which it is.
 */
const LOGGED_URL_CHARS = 1000;

/** The URL as logged: whole, or its start and how much was left out. */
export function urlForLog(url: string | undefined): string | undefined {
  if (url === undefined || url.length <= LOGGED_URL_CHARS) return url;
  return `${url.slice(0, LOGGED_URL_CHARS)}...(${url.length - LOGGED_URL_CHARS} more characters)`;
}
