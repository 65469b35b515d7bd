/**
 * Hostile input against a real ecamo: sources that misbehave on the wire,
 * sources that never answer, proxy variables in the environment. Each refusal
 * must be a 4xx/5xx ecamo chose (never a 500 or a crash), carry the right
 * `x-ecamo-error` and show no stack trace; each suite's last hook checks that
 * the server is still healthy and logged no bug.
 *
 * Everything stays on 127.0.0.1 / ::1: the only names used are `localhost`
 * (hosts file) and Host-header-only names that nothing resolves.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { CANONICAL_HOST, startSource, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { paddedPng } from '../helpers/images.js';
import { PNG, startWatchedEcamo, assertHealthyThenClose, assertRefused, readStream, startRawSource, type RawSource } from '../helpers/hostile.js';

describe('misbehaving sources', () => {
  const MAX_LENGTH = 1000;
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];
  const opened: { close(): Promise<void> }[] = [];

  before(async () => {
    ({ ecamo, logs } = await startWatchedEcamo({ ECAMO_MAX_LENGTH: String(MAX_LENGTH) }));
  });

  // Whatever the tests above sent, the server must still be healthy: checked once they are done.
  after(() => assertHealthyThenClose(ecamo, logs, ...opened));

  async function source(handler: http.RequestListener): Promise<Source> {
    const started = await startSource(handler);
    opened.push(started);
    return started;
  }

  /** Answers with exactly `raw`, then closes. */
  async function rawSource(raw: string | Buffer): Promise<RawSource> {
    const started = await startRawSource((socket) => socket.end(raw));
    opened.push(started);
    return started;
  }

  const proxied = async (url: string): Promise<Answer> => ecamo.get(await ecamo.proxyPath(url), { host: CANONICAL_HOST });

  test('Set-Cookie and other source headers never reach the client', async () => {
    const leaky = {
      'set-cookie': ['session=stolen; Path=/', 'other=1; Domain=ecamo.test'],
      'www-authenticate': 'Basic realm="x"',
      'content-disposition': 'attachment; filename=evil.html',
      'access-control-allow-origin': '*',
      'access-control-allow-credentials': 'true',
      'content-encoding': 'gzip',
      'refresh': '0; url=http://evil.test/',
      'link': '<http://evil.test/>; rel=preload',
      'x-frame-options': 'allowall',
      'content-security-policy': "default-src *",
      'strict-transport-security': 'max-age=0',
      'clear-site-data': '"*"',
    };
    const ok = await source((req, res) => {
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'image/png', ...leaky }).end(PNG);
    });
    for (const path of ['/img.png', '/missing']) {
      const answer = await proxied(`${ok.origin}${path}`);
      assert.equal(answer.status, path === '/missing' ? 404 : 200);
      for (const name of Object.keys(leaky).filter((header) => !['x-frame-options', 'content-security-policy'].includes(header))) {
        assert.equal(answer.header(name), undefined, `${path}: ${name}`);
      }
      assert.equal(answer.header('x-frame-options'), 'deny');
      assert.equal(answer.header('content-security-policy'), "default-src 'none'; style-src 'unsafe-inline'; sandbox");
    }
  });

  test('a chunked body over MAX_LENGTH is cut at MAX_LENGTH bytes', async () => {
    const big = await source((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' });
      // 700-byte chunks, so that the limit falls inside one; the first starts as a PNG does.
      for (let i = 0; i < 6; i++) res.write(i === 0 ? paddedPng(700) : Buffer.alloc(700, i));
      res.end();
    });
    const answer = await readStream(`${ecamo.url}${await ecamo.proxyPath(`${big.origin}/big.png`)}`, CANONICAL_HOST);
    assert.equal(answer.status, 200);
    assert.equal(answer.bytes, MAX_LENGTH);
    assert.equal(answer.complete, false, 'the client sees a cut-off body, not a complete short one');
  });

  test('a declared Content-Length over MAX_LENGTH is refused before streaming', async () => {
    const big = await source((_req, res) => void res.writeHead(200, { 'content-type': 'image/png', 'content-length': MAX_LENGTH + 1 }).end(paddedPng(MAX_LENGTH + 1)));
    assertRefused(await proxied(`${big.origin}/big.png`), 403, 'source-response-too-large', 'declared length');
  });

  test('a source that resets before the whole body came: 502 source-request, none of it sent, the server carries on', async () => {
    // The whole body (under MAX_LENGTH) is within the window ecamo reads before it answers: the client has no byte when the RST comes.
    const resetting = await source((req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', ...(req.url === '/sized' ? { 'content-length': 800 } : {}) });
      res.write(paddedPng(100), () => req.socket.resetAndDestroy());
    });
    for (const path of ['/sized', '/chunked']) {
      assertRefused(await proxied(`${resetting.origin}${path}`), 502, 'source-request', path);
    }
    assert.equal((await ecamo.get('/healthz')).status, 200);
  });

  test('responses that break HTTP framing are 502 source-request', async () => {
    const cases: Record<string, string> = {
      'two different Content-Length': 'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\npng!!',
      'two equal Content-Length': 'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\npng!',
      'Content-Length beside Transfer-Encoding': 'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\npng!\r\n0\r\n\r\n',
      'negative Content-Length': 'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: -1\r\n\r\n',
      'invalid status code': 'HTTP/1.1 2OO OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\n\r\npng!',
      'not HTTP at all': 'ICY 200 OK\r\nContent-Type: image/png\r\n\r\npng!',
      garbage: 'garbage\r\n\r\n',
      'bare LF line endings': 'HTTP/1.1 200 OK\nContent-Type: image/png\nContent-Length: 4\n\npng!',
      'header line without colon': 'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nBroken header line\r\n\r\npng!',
      'obsolete line folding': 'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nETag: "a"\r\n  folded\r\nContent-Length: 4\r\n\r\npng!',
      'NUL in a header value': 'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nETag: "a\x00b"\r\nContent-Length: 4\r\n\r\npng!',
      'control characters in header values': 'HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nETag: "a\x01b"\r\nLast-Modified: x\x7fy\r\nContent-Length: 4\r\n\r\npng!',
      'huge header': `HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nX-Big: ${'a'.repeat(100_000)}\r\nContent-Length: 4\r\n\r\npng!`,
      'nothing at all': '',
    };
    for (const [name, raw] of Object.entries(cases)) {
      const broken = await rawSource(Buffer.from(raw, 'latin1'));
      assertRefused(await proxied(`${broken.origin}/img.png`), 502, 'source-request', name);
      assert.equal(broken.requests, 1, `${name}: asked once, not retried`);
    }
  });

  test('header values with odd bytes the parser lets through do not crash the response', async () => {
    const odd = Buffer.concat([
      Buffer.from('HTTP/1.1 STATUS OK\r\nContent-Type: image/png\r\nETag: "'),
      Buffer.from([0xff, 0xfe, 0x80]),
      Buffer.from('"\r\nVary: '),
      Buffer.from('\u2603 snowman', 'utf8'),
      Buffer.from('\r\nCache-Control: max-age=60, \xe9t\xe9\r\nLast-Modified: '),
      Buffer.from('\u00e9\u{1f600}', 'utf8'),
      Buffer.from('\r\nExpires: \t\r\nSet-Cookie: a=\xff\r\nContent-Length: 6\r\n\r\nGIF89a'),
    ]);
    for (const status of ['200', '404']) {
      const oddSource = await rawSource(Buffer.from(odd.toString('latin1').replace('STATUS', status), 'latin1'));
      const answer = await proxied(`${oddSource.origin}/img.png`);
      assert.equal(answer.status, Number(status));
      if (status === '200') assert.equal(answer.body, 'GIF89a');
      else assert.equal(answer.body, '404 (from upstream)');
      assert.equal(answer.header('set-cookie'), undefined);
      // Whatever was passed on is a header value Node could write.
      for (const [name, value] of Object.entries(answer.headers)) {
        for (const item of [value].flat()) assert.match(String(item), /^[\t\x20-\x7e\x80-\xff]*$/, name);
      }
    }
  });

  test('a content type with junk around it is refused, not passed on', async () => {
    for (const contentType of ['image/png, text/html', 'text/html; x=image/png', 'image/png\u00ff', 'image/svg+xml;;;"', '']) {
      const typed = await rawSource(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\nContent-Length: 4\r\n\r\npng!`, 'latin1'));
      assertRefused(await proxied(`${typed.origin}/img.png`), 403, 'unallowed-content-type', contentType);
    }
  });

});

describe('slow sources', () => {
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];
  let silent: Source;
  let stalling: RawSource;

  before(async () => {
    ({ ecamo, logs } = await startWatchedEcamo({ ECAMO_TIMEOUT: '1' }));
    // Takes the request and never answers.
    silent = await startSource(() => {});
    // Accepts the connection, reads the request, sends half a status line.
    stalling = await startRawSource((socket) => void socket.write('HTTP/1.1 200'));
  });

  // Whatever the tests above sent, the server must still be healthy: checked once they are done.
  after(() => assertHealthyThenClose(ecamo, logs, silent, stalling));

  test('headers that never come: 504 source-request after ECAMO_TIMEOUT', async () => {
    for (const origin of [silent.origin, stalling.origin]) {
      const answer = await ecamo.get(await ecamo.proxyPath(`${origin}/img.png`), { host: CANONICAL_HOST });
      assertRefused(answer, 504, 'source-request', origin);
    }
    assert.equal(silent.requests.length, 1);
    assert.equal(stalling.requests, 1);
  });

});

describe('HTTP_PROXY and NO_PROXY in the environment', () => {
  const VARIABLES = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy'];
  const saved = new Map<string, string | undefined>();
  let trap: Source;
  let source: Source;
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];

  before(async () => {
    trap = await startSource((_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
    source = await startSource((_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
    for (const name of VARIABLES) saved.set(name, process.env[name]);
    for (const name of VARIABLES.filter((variable) => !/no_proxy/i.test(variable))) process.env[name] = trap.origin;
    // NO_PROXY naming a host that is otherwise refused must not open it up either.
    process.env.NO_PROXY = process.env.no_proxy = 'localhost,127.0.0.1,::1';
    ({ ecamo, logs } = await startWatchedEcamo({ ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${source.port}/` }));
  });

  // Whatever the tests above sent, the server must still be healthy: checked once they are done.
  after(async () => {
    try {
      await assertHealthyThenClose(ecamo, logs, trap, source);
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) Reflect.deleteProperty(process.env, name);
        else process.env[name] = value;
      }
    }
  });

  test('sources are fetched directly, and the guard still refuses what is not allowed', async () => {
    const allowed = await ecamo.get(await ecamo.proxyPath(`${source.origin}/img.png`), { host: CANONICAL_HOST });
    assert.equal(allowed.status, 200);
    assert.deepEqual(allowed.bytes, PNG);
    assert.equal(source.requests.length, 1);
    assert.equal(source.requests[0]!.url, '/img.png', 'origin-form request line, as sent to a server and not to a proxy');

    for (const url of [`http://localhost:${source.port}/img.png`, `http://127.0.0.1:${trap.port}/img.png`]) {
      assertRefused(await ecamo.get(await ecamo.proxyPath(url), { host: CANONICAL_HOST }), 403, 'unallowed-source', url);
    }
    assert.equal(trap.requests.length, 0);
    assert.equal(source.requests.length, 1);
  });

});
