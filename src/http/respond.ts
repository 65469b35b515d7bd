import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { EcamoError } from '../errors.js';
import type { RequestRecord } from './request-record.js';

/** Every redirect ecamo answers is personal and short-lived. */
export const NO_CACHE = 'no-cache, no-store, max-age=0, must-revalidate';

/** Served with every proxied byte: a source's SVG or HTML must not run as a page of ours. */
export const SOURCE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/** Node refuses header values outside these; a source's odd header must not crash us. */
const VALID_HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** A source header value to copy, or undefined when absent, repeated or not a valid header value. */
export function validHeaderValue(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' && VALID_HEADER_VALUE.test(value) ? value : undefined;
}

export function sendText(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

export function sendError(res: ServerResponse, record: RequestRecord, error: EcamoError, extraHeaders: Record<string, string> = {}): void {
  record.error = error.code;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendText(res, error.status, `Error: ${error.code}`, { 'x-ecamo-error': error.code, 'cache-control': 'no-store', ...extraHeaders });
}

export type SourceRedirectReason = 'src-fetch-dest' | 'auth-cookie-missing';

/** Sends the browser to the image itself, so that a person can see where it lives. */
export function redirectToSource(res: ServerResponse, record: RequestRecord, url: string, reason: SourceRedirectReason): void {
  record.action = 'redirect-to-source';
  record.source = url;
  res.writeHead(302, {
    location: url,
    'cache-control': NO_CACHE,
    'x-ecamo-action': 'redirect-to-source',
    'x-ecamo-reason': reason,
    'x-ecamo-source': url,
    'content-length': 0,
  });
  res.end();
}
