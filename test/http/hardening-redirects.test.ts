/**
 * With ECAMO_MAX_REDIRECTS above 0, every hop of a source fetch passes the
 * operator's policy, not only the first URL: ECAMO_SOURCE_ALLOWED_REGEXP,
 * ECAMO_SOURCE_BLOCKED_REGEXP and ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP. A
 * refused hop is 403 `unallowed-source` and receives no request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CANONICAL_HOST, startEcamo, startSource, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { assertHealthyThenClose, startWatchedEcamo } from '../helpers/hostile.js';
import { PNG } from '../helpers/images.js';


/**
 * Serves /img.png and /blocked.png; /to?u=URL redirects to URL; /long?length=N
 * redirects to an /img.png URL of N characters.
 */
function handler(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://source.invalid');
  if (url.pathname === '/to') {
    res.writeHead(302, { location: url.searchParams.get('u')! }).end();
    return;
  }
  if (url.pathname === '/long') {
    const start = `http://${req.headers.host}/img.png?${url.searchParams.get('n')}&pad=`;
    res.writeHead(302, { location: start.padEnd(Number(url.searchParams.get('length')), 'p') }).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
}

let first: Source;
let second: Source;
let counter = 0;

before(async () => {
  [first, second] = await Promise.all([startSource(handler), startSource(handler)]);
});

after(async () => {
  await Promise.all([first.close(), second.close()]);
});

/** A redirect from `from` to `to`, made unique so that its requests can be told apart. */
function redirectUrl(from: Source, to: string): string {
  return `${from.origin}/to?u=${encodeURIComponent(to)}&n=${++counter}`;
}

async function proxy(ecamo: Ecamo, sourceUrl: string): Promise<Answer> {
  return ecamo.get(await ecamo.proxyPath(sourceUrl), { host: CANONICAL_HOST });
}

function assertUnallowed(answer: Answer): void {
  assert.equal(answer.status, 403, answer.body);
  assert.equal(answer.header('x-ecamo-error'), 'unallowed-source');
  assert.equal(answer.body, 'Error: unallowed-source');
}

function requestsTo(source: Source, path: string): number {
  return source.requests.filter((req) => new URL(req.url ?? '/', 'http://x.invalid').pathname === path).length;
}

describe('policy on every redirect hop', () => {
  it('a hop outside ECAMO_SOURCE_ALLOWED_REGEXP is refused and receives nothing; a hop inside it is followed', async () => {
    const ecamo = await startEcamo({
      ECAMO_MAX_REDIRECTS: '2',
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://127\\.0\\.0\\.1:',
      ECAMO_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${first.port}/`,
    });
    try {
      const before = second.requests.length;
      assertUnallowed(await proxy(ecamo, redirectUrl(first, `${second.origin}/img.png`)));
      // Two hops, the second one out: the first hop is followed, the second never sent.
      assertUnallowed(await proxy(ecamo, redirectUrl(first, redirectUrl(first, `${second.origin}/img.png`))));
      assert.equal(second.requests.length, before);

      const inside = await proxy(ecamo, redirectUrl(first, `${first.origin}/img.png?n=${++counter}`));
      assert.equal(inside.status, 200);
      assert.deepEqual(inside.bytes, PNG);
    } finally {
      await ecamo.close();
    }
  });

  it('a hop matching ECAMO_SOURCE_BLOCKED_REGEXP is refused and receives nothing', async () => {
    const ecamo = await startEcamo({
      ECAMO_MAX_REDIRECTS: '1',
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://127\\.0\\.0\\.1:',
      ECAMO_SOURCE_BLOCKED_REGEXP: '/blocked',
    });
    try {
      const blockedBefore = requestsTo(first, '/blocked.png');
      assertUnallowed(await proxy(ecamo, redirectUrl(first, `${first.origin}/blocked.png`)));
      assert.equal(requestsTo(first, '/blocked.png'), blockedBefore);
    } finally {
      await ecamo.close();
    }
  });

  it('a hop to a private address that ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP does not cover is refused and receives nothing', async () => {
    const ecamo = await startEcamo({
      ECAMO_MAX_REDIRECTS: '1',
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${first.port}/`,
    });
    try {
      const before = second.requests.length;
      // Three spellings of this machine; only the first source's URLs may be private.
      for (const to of [`${second.origin}/img.png`, `http://localhost:${second.port}/img.png`, `http://127.1:${second.port}/img.png`]) {
        assertUnallowed(await proxy(ecamo, redirectUrl(first, to)));
      }
      assert.equal(second.requests.length, before);
    } finally {
      await ecamo.close();
    }
  });
});

describe('operator regexps against a hostile Location', () => {
  // On a backtracking engine, `(\w+\.?)+` tries every way of splitting a run of
  // word characters before giving up: 2^59 for this host, which would block the
  // event loop for good. On ecamo's (RE2) it is one linear pass; without it
  // this test runs into its own timeout.
  it("the issue's ^https?://(\\w+\\.?)+/ against a Location it cannot match: refused at once, the server stays healthy", { timeout: 60_000 }, async () => {
    const { ecamo, logs } = await startWatchedEcamo({
      ECAMO_MAX_REDIRECTS: '1',
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://127\\.0\\.0\\.1:',
      // The first alternative admits the sources; the second is the issue's own.
      ECAMO_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${first.port}/|^https?://(\\w+\\.?)+/`,
    });
    const hostile = `http://${'a'.repeat(60)}:1/x.png`;
    assertUnallowed(await proxy(ecamo, redirectUrl(first, hostile)));
    assert.equal((await proxy(ecamo, `${first.origin}/img.png?n=${++counter}`)).status, 200);
    await assertHealthyThenClose(ecamo, logs);
  });

  it('a Location longer than 8,192 characters is refused before any regexp sees it; a shorter one is judged', async () => {
    const ecamo = await startEcamo({
      ECAMO_MAX_REDIRECTS: '1',
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://127\\.0\\.0\\.1:',
      ECAMO_SOURCE_BLOCKED_REGEXP: '/blocked',
    });
    try {
      const before = requestsTo(first, '/img.png');
      assertUnallowed(await proxy(ecamo, `${first.origin}/long?length=8193&n=${++counter}`));
      assert.equal(requestsTo(first, '/img.png'), before);
      const judged = await proxy(ecamo, `${first.origin}/long?length=8192&n=${++counter}`);
      assert.equal(judged.status, 200);
      assert.deepEqual(judged.bytes, PNG);
    } finally {
      await ecamo.close();
    }
  });
});

describe('ECAMO_SOURCE_BLOCKED_CIDRS', () => {
  it('a blocked address is refused at connect time on the first URL and on a hop, even with private sources allowed; others are served', async () => {
    const blockedSource = await startSource(handler, '127.0.0.2');
    const ecamo = await startEcamo({
      ECAMO_MAX_REDIRECTS: '1',
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://',
      ECAMO_SOURCE_BLOCKED_CIDRS: '127.0.0.2/32, 2001:db8::/32',
    });
    try {
      const served = await proxy(ecamo, `${first.origin}/img.png?n=${++counter}`);
      assert.equal(served.status, 200);
      assert.deepEqual(served.bytes, PNG);
      // The same source, directly, by an IPv4-mapped spelling, and as a redirect hop.
      assertUnallowed(await proxy(ecamo, `${blockedSource.origin}/img.png?n=${++counter}`));
      assertUnallowed(await proxy(ecamo, `http://[::ffff:127.0.0.2]:${blockedSource.port}/img.png?n=${++counter}`));
      assertUnallowed(await proxy(ecamo, redirectUrl(first, `${blockedSource.origin}/img.png?n=${++counter}`)));
      assert.equal(blockedSource.requests.length, 0, 'the blocked source receives nothing');
    } finally {
      await ecamo.close();
      await blockedSource.close();
    }
  });
});
