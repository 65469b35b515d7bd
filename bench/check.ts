/**
 * Before any measurement, each target must answer correctly: a fast server
 * that answers 401 or a short body is not fast, it is broken.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { Image } from './fixtures.js';
import { CLIENT_HEADERS, type RequestLine } from './pools.js';

export type Expectation =
  | { readonly kind: 'image'; readonly image: Image }
  /** A 302 whose Location starts with `locationPrefix`; following it must give `image` when set. */
  | { readonly kind: 'redirect'; readonly locationPrefix: string; readonly follow?: Image };

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly size: number;
  readonly sha256: string;
  readonly text: string;
}

export class CheckError extends Error {
  override readonly name = 'CheckError';
}

export async function checkRequest(label: string, base: string, line: RequestLine, expected: Expectation): Promise<void> {
  const url = `${base}${line.path}`;
  let answer: Answer;
  try {
    answer = await get(url, line.cookie === undefined ? { ...CLIENT_HEADERS } : { ...CLIENT_HEADERS, cookie: line.cookie });
  } catch (error) {
    throw new CheckError(`${label}: GET ${shorten(url)} failed: ${(error as Error).message}`, { cause: error });
  }
  const fail = (why: string): never => {
    throw new CheckError(`${label}: GET ${shorten(url)} ${why} (status ${answer.status}, ${answer.size} bytes, ` +
      `x-ecamo-error ${String(answer.headers['x-ecamo-error'] ?? '-')}): ${shorten(answer.text)}`);
  };
  if (expected.kind === 'image') {
    if (answer.status !== 200) fail('did not answer 200');
    if (answer.size !== expected.image.size || answer.sha256 !== expected.image.sha256) {
      fail(`did not return the ${expected.image.size} bytes of ${expected.image.name}`);
    }
    return;
  }
  if (answer.status !== 302) fail('did not answer 302');
  const location = answer.headers.location ?? '';
  if (!location.startsWith(expected.locationPrefix)) fail(`redirected to ${shorten(location)}, not ${expected.locationPrefix}…`);
  if (expected.follow !== undefined) {
    await checkRequest(`${label} (following the redirect)`, '', { path: location }, { kind: 'image', image: expected.follow });
  }
}

function get(url: string, headers: http.OutgoingHttpHeaders): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      const hash = createHash('sha256');
      const head: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        if (size < 200) head.push(chunk);
        size += chunk.length;
      });
      res.once('end', () => resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        size,
        sha256: hash.digest('hex'),
        text: Buffer.concat(head).toString('utf8', 0, 200),
      }));
      res.once('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${shorten(url)} timed out`)));
    req.once('error', reject);
  });
}

/** Tokens make URLs long; messages need only their start. */
function shorten(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 120 ? `${oneLine.slice(0, 117)}…` : oneLine;
}
