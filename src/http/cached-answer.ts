import type { CacheStatus } from '../cache/cache.js';
import { ageSeconds, type AnswerFields, type CacheEntry, type PrepareAnswer } from '../cache/entry.js';
import type { StoredHeaders } from '../cache/policy.js';
import type { Config } from '../config/load.js';
import { essenceOf } from './media-type.js';
import type { RequestRecord } from './request-record.js';
import { successFields } from './source-answer.js';
import type { HttpResponse } from './request-response.js';

/** The answer fields of an entry, built once when it is kept (see AnswerFields for the last four slots). */
export function prepareAnswer(config: Config): PrepareAnswer {
  return (url: string, headers: StoredHeaders, length: number): AnswerFields => {
    const fields = successFields(config, {
      url,
      contentType: essenceOf(headers['content-type']) ?? 'application/octet-stream',
      cacheControl: headers['cache-control'],
      sourceHeader: (name) => headers[name],
      length,
    });
    fields.push('x-ecamo-cache', 'hit', 'age', 0);
    return fields;
  };
}

/**
 * Answers from a kept entry: no allocation beyond what node:http needs, the
 * fields were prepared with the entry and only their status and age change.
 */
export function answerFromEntry(res: HttpResponse, record: RequestRecord, entry: CacheEntry, status: CacheStatus, now: number): void {
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
