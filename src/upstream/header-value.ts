import type { IncomingHttpHeaders } from 'node:http';

/** Node refuses header values outside these; a source's odd header must not crash us. */
const VALID_HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** A source header value to copy, or undefined when absent, repeated or not a valid header value. */
export function validHeaderValue(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' && VALID_HEADER_VALUE.test(value) ? value : undefined;
}
