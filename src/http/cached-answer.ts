import type { ServerResponse } from 'node:http';
import type { CacheStatus } from '../cache/cache.js';
import { ageSeconds, type AnswerFields, type CacheEntry, type PrepareAnswer } from '../cache/entry.js';
import type { StoredHeaders } from '../cache/policy.js';
import type { Config } from '../config/load.js';
import { essenceOf } from './media-type.js';
import type { RequestRecord } from './request-record.js';
import { SOURCE_CSP } from './respond.js';

/** Kept source headers passed to the client, as with a streamed 200. */
const PASSED: readonly string[] = ['etag', 'expires', 'last-modified', 'vary'];

/** The answer fields of an entry, built once when it is kept (see AnswerFields for the last four slots). */
export function prepareAnswer(config: Config): PrepareAnswer {
  return (url: string, headers: StoredHeaders, length: number): AnswerFields => {
    const fields: AnswerFields = [
      'x-ecamo-action', 'proxy-source',
      'x-ecamo-source', url,
      'x-frame-options', 'deny',
      'x-content-type-options', 'nosniff',
      'content-security-policy', SOURCE_CSP,
      'content-type', essenceOf(headers['content-type']) ?? 'application/octet-stream',
    ];
    const cacheControl = headers['cache-control'];
    if (cacheControl !== undefined) fields.push('cache-control', cacheControl);
    if (config.defaultSurrogateControl !== undefined) fields.push('surrogate-control', config.defaultSurrogateControl);
    for (const name of PASSED) {
      const value = headers[name];
      if (value !== undefined) fields.push(name, value);
    }
    fields.push('content-length', length, 'x-ecamo-cache', 'hit', 'age', 0);
    return fields;
  };
}

/**
 * Answers from a kept entry: no allocation beyond what node:http needs, the
 * fields were prepared with the entry and only their status and age change.
 */
export function answerFromEntry(res: ServerResponse, record: RequestRecord, entry: CacheEntry, status: CacheStatus, now: number): void {
  record.action = 'proxy-source';
  record.cache = status;
  const fields = entry.fields;
  const last = fields.length - 1;
  fields[last - 2] = status;
  fields[last] = ageSeconds(entry, now);
  res.writeHead(200, fields);
  if (res.req.method === 'HEAD') {
    res.end();
    return;
  }
  record.bytes = entry.body.length;
  res.end(entry.body);
}
