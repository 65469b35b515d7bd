/**
 * Redirect hops (src/upstream/redirects.ts): which answers are followed, and
 * what a Location may lead to. nextHop and redirectLocation are judged as
 * functions first; then the fetcher against real sources on 127.0.0.1, for
 * what only a real exchange shows: a Location that is no URL, a repeated
 * Location, and hops to this machine refused by the address guard although
 * the first URL was allowed to be private.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EcamoError, findEcamoError } from '../../src/errors.js';
import { SourceFetcher, type SourceResponse } from '../../src/upstream/fetch.js';
import { PrivateAddressError } from '../../src/upstream/guarded-connect.js';
import { nextHop, redirectLocation } from '../../src/upstream/redirects.js';
import type { SourcePolicy } from '../../src/upstream/url-policy.js';
import { startSource, type Source } from '../helpers/harness.js';

const OPEN: SourcePolicy = { sourceAllowedRegexp: undefined, sourceBlockedRegexp: undefined };
const FROM = new URL('http://images.example/a/b/img.png?size=2');

function assertRefused(run: () => unknown, code: string, status: number, context: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof EcamoError, `${context}: ${String(error)}`);
    assert.deepEqual([error.code, error.status], [code, status], context);
    return true;
  });
}

describe('redirectLocation', () => {
  test('301, 302, 303, 307 and 308 with one Location are followed', () => {
    for (const status of [301, 302, 303, 307, 308]) assert.equal(redirectLocation(status, { location: '/next' }), '/next', String(status));
  });

  test('other statuses, no Location, or a repeated one: not a redirect to follow', () => {
    for (const status of [200, 201, 204, 300, 304, 305, 306, 399, 404]) assert.equal(redirectLocation(status, { location: '/next' }), undefined, String(status));
    assert.equal(redirectLocation(302, {}), undefined);
    assert.equal(redirectLocation(302, { location: ['/a', '/b'] }), undefined);
  });
});

describe('nextHop', () => {
  test('a relative Location resolves against the hop it came from; the fragment is dropped', () => {
    const cases: Record<string, string> = {
      'other.png': 'http://images.example/a/b/other.png',
      '../up.png': 'http://images.example/a/up.png',
      '/root.png?x=1': 'http://images.example/root.png?x=1',
      '?size=3': 'http://images.example/a/b/img.png?size=3',
      '//cdn.example/img.png': 'http://cdn.example/img.png',
      'https://cdn.example/img.png#part': 'https://cdn.example/img.png',
      '#only-a-fragment': 'http://images.example/a/b/img.png?size=2',
    };
    for (const [location, expected] of Object.entries(cases)) assert.equal(nextHop(FROM, location, OPEN).href, expected, location);
  });

  test('a Location that is no URL: 502 source-request', () => {
    for (const location of ['http://[::1', 'http://exa mple.com/', 'https://%zz/', 'http://127.0.0.1:99999/']) {
      assertRefused(() => nextHop(FROM, location, OPEN), 'source-request', 502, location);
    }
  });

  test('another scheme or credentials: 403 unallowed-source', () => {
    for (const location of ['file:///etc/passwd', 'javascript:alert(1)', 'data:image/png;base64,AAAA', 'ftp://images.example/x', 'ws://images.example/x', 'http://user@images.example/x', 'http://:secret@images.example/x']) {
      assertRefused(() => nextHop(FROM, location, OPEN), 'unallowed-source', 403, location);
    }
  });

  test('the operator policy judges the resolved URL of every hop', () => {
    const allowOnlyImages: SourcePolicy = { sourceAllowedRegexp: /^http:\/\/images\.example\//, sourceBlockedRegexp: /\/private\// };
    assert.equal(nextHop(FROM, '/public/x.png', allowOnlyImages).href, 'http://images.example/public/x.png');
    assertRefused(() => nextHop(FROM, 'http://elsewhere.example/x.png', allowOnlyImages), 'unallowed-source', 403, 'outside the allow-list');
    // Relative, so only the resolved URL shows what it reaches.
    assertRefused(() => nextHop(FROM, '../../private/x.png', allowOnlyImages), 'unallowed-source', 403, 'inside the block-list');
  });
});

describe('the fetcher following redirects', () => {
  let first: Source;
  let target: Source;
  let fetcher: SourceFetcher;
  let location: string | string[] = '';

  before(async () => {
    first = await startSource((_req, res) => {
      res.setHeader('location', location);
      res.writeHead(302).end();
    });
    target = await startSource((_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end('png!'));
    fetcher = new SourceFetcher({
      maxRedirects: 3,
      sourceAllowedRegexp: undefined,
      sourceBlockedRegexp: undefined,
      // Only the first URL itself may be private: every hop from it is judged by the address guard.
      privateSourceAllowedRegexp: new RegExp(`^http://127\\.0\\.0\\.1:${first.port}/start$`),
      userAgent: 'ecamo-test',
    });
  });

  after(async () => {
    await fetcher.close();
    await Promise.all([first.close(), target.close()]);
  });

  const start = (): Promise<SourceResponse> => fetcher.fetch({ url: `http://127.0.0.1:${first.port}/start`, accept: undefined, authorize: undefined, timeoutMs: 10_000 }).response;

  test('a Location that is no URL: 502 source-request, and no other hop is asked', async () => {
    location = `http://[::1:${target.port}/img.png`;
    await assert.rejects(start(), (error: unknown) => {
      assert.ok(error instanceof EcamoError);
      assert.deepEqual([error.code, error.status], ['source-request', 502]);
      return true;
    });
    assert.equal(target.requests.length, 0);
  });

  test('two Location headers: not followed, the 302 is the answer', async () => {
    location = [`http://127.0.0.1:${target.port}/a.png`, `http://127.0.0.1:${target.port}/b.png`];
    const response = await start();
    assert.equal(response.statusCode, 302);
    response.body.discard();
    assert.equal(target.requests.length, 0);
  });

  test('every spelling of this machine in a Location is refused by the address guard (403 unallowed-source); nothing reaches it', async () => {
    const port = target.port;
    for (const hop of [
      `http://127.1:${port}/img.png`,
      `http://0x7f.1:${port}/img.png`,
      `http://2130706433:${port}/img.png`,
      `http://localhost:${port}/img.png`,
      `http://[::ffff:127.0.0.1]:${port}/img.png`,
      `http://[::1]:${port}/img.png`,
      `http://0.0.0.0:${port}/img.png`,
      `/other`, // the allowed source's own host, but not the URL allowed to be private
    ]) {
      location = hop;
      await assert.rejects(start(), (error: unknown) => {
        assert.ok(findEcamoError(error) instanceof PrivateAddressError, `${hop}: ${String(error)}`);
        assert.ok(error instanceof EcamoError);
        assert.deepEqual([error.code, error.status], ['unallowed-source', 403], hop);
        return true;
      });
    }
    assert.equal(target.requests.length, 0);
  });

  /** Fetches the start URL with `parsedUrl`, noting the URL each hop was sent from. */
  const startFrom = async (parsedUrl: URL): Promise<{ readonly hops: URL[]; readonly outcome: unknown }> => {
    const hops: URL[] = [];
    const trace = {
      hop: (url: URL) => {
        hops.push(url);
        return { answered: () => undefined, ended: () => undefined };
      },
    };
    const url = `http://127.0.0.1:${first.port}/start`;
    const outcome = await fetcher.fetch({ url, parsedUrl, accept: undefined, authorize: undefined, timeoutMs: 10_000, trace }).response.catch((error: unknown) => error);
    return { hops, outcome };
  };

  test('a source URL parsed by the caller is the first hop as given; its redirect is still judged by the address guard', async () => {
    location = `http://127.0.0.1:${target.port}/img.png`;
    const parsed = new URL(`http://127.0.0.1:${first.port}/start`);
    const { hops, outcome } = await startFrom(parsed);
    assert.equal(hops[0], parsed, 'not parsed again');
    assert.equal(hops.length, 2);
    assert.ok(findEcamoError(outcome) instanceof PrivateAddressError, String(outcome));
    assert.equal(target.requests.length, 0);
  });

  test('a parsed URL that does not serialise to the source URL is not used: the source URL is fetched', async () => {
    location = `http://127.0.0.1:${target.port}/img.png`;
    const asked = first.requests.length;
    const other = new URL(`http://127.0.0.1:${target.port}/elsewhere.png`);
    const { hops } = await startFrom(other);
    assert.notEqual(hops[0], other);
    assert.equal(hops[0]?.href, `http://127.0.0.1:${first.port}/start`);
    assert.equal(first.requests.length, asked + 1);
    assert.equal(target.requests.length, 0);
  });
});
