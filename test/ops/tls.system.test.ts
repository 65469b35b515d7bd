/**
 * The public listener with ECAMO_TLS_CERT and ECAMO_TLS_KEY: HTTP/2 and
 * HTTP/1.1 by ALPN, an image fetched by curl over both, hostile clients
 * (garbage, plain HTTP, an HTTP/2 client opening 1,000 streams) refused while
 * the server keeps serving, and certificates reloaded in place.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { generateKey } from '../../src/config/generate-key.js';
import { loadConfig } from '../../src/config/load.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { createLogger } from '../../src/log.js';
import { count } from '../helpers/prometheus.js';
import { fetchAnswer, startSource, type Source } from '../helpers/harness.js';
import { selfSignedCertificate, type TestCertificate } from '../helpers/tls.js';
import { IMAGE } from '../helpers/wire.js';
import { paddedPng } from '../helpers/images.js';
import { signProxyToken } from '../../src/tokens/proxy-token.js';
import { urlDigest } from '../../src/tokens/digest.js';
import type { Config } from '../../src/config/load.js';
import { unlessInstalled } from '../helpers/programs.js';

const SLOW_IMAGE = paddedPng(5008);

const run = promisify(execFile);

let certificate: TestCertificate;
let keysEnv: Record<string, string>;
let source: Source;

before(async () => {
  certificate = selfSignedCertificate('first');
  const key = await generateKey('k1');
  keysEnv = { ECAMO_CANONICAL_HOST: 'ecamo.test', ECAMO_PRIVATE_KEYS: JSON.stringify({ k1: key.privateJwk }), ECAMO_SERVICE_PUBLIC_KEYS: '{}', ECAMO_INSECURE: 'true', ECAMO_LOG_LEVEL: 'silent' };
  source = await startSource((_req, res) => res.writeHead(200, { 'content-type': 'image/png', 'content-length': IMAGE.length }).end(IMAGE));
});

after(() => source.close());

async function startTls(cert: TestCertificate = certificate, env: Record<string, string> = {}): Promise<{ running: RunningServer; config: Config }> {
  const config = await loadConfig({
    ...keysEnv,
    ECAMO_TLS_CERT: cert.certFile,
    ECAMO_TLS_KEY: cert.keyFile,
    ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://127\\.0\\.0\\.1:',
    ECAMO_ADMIN_BIND: '127.0.0.1:0',
    ...env,
  });
  return { running: await startServer(config, { logger: createLogger('silent'), listen: { host: '127.0.0.1', port: 0 } }), config };
}

async function proxyPath(config: Config, url: string): Promise<string> {
  const token = await signProxyToken({ url, serviceOrigin: 'https://wiki.test', sendToken: false }, config.ecamoKeys.signing, 60);
  return `/.ecamo/v1/p/${urlDigest(url)}?t=${token}`;
}

/** The common name of the certificate a fresh TLS connection is shown. */
async function servedCommonName(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = tls.connect({ host: hostname, port: Number(port), rejectUnauthorized: false, ALPNProtocols: ['h2'] });
  await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  const name = socket.getPeerCertificate().subject.CN;
  socket.destroy();
  return Array.isArray(name) ? name.join() : String(name);
}

/** What a hostile client gets: everything the server sends until it closes the connection. */
async function sendAndCollect(socket: net.Socket | tls.TLSSocket, bytes: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  socket.write(bytes);
  await new Promise((resolve) => socket.once('close', resolve));
  return Buffer.concat(chunks);
}

describe('ECAMO_TLS_CERT and ECAMO_TLS_KEY: configuration', { skip: unlessInstalled('openssl', 'curl') }, () => {
  const refused = async (env: Record<string, string>, variable: string, message: RegExp): Promise<void> => {
    await assert.rejects(loadConfig({ ...keysEnv, ...env }), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.equal(error.variable, variable);
      assert.match(error.message, message);
      return true;
    });
  };
  it('needs both files, readable, and a key that fits the certificate', async () => {
    assert.equal((await loadConfig(keysEnv)).tls, undefined);
    assert.equal((await loadConfig({ ...keysEnv, ECAMO_TLS_CERT: certificate.certFile, ECAMO_TLS_KEY: certificate.keyFile })).tls?.certFile, certificate.certFile);
    await refused({ ECAMO_TLS_CERT: certificate.certFile }, 'ECAMO_TLS_KEY', /required with ECAMO_TLS_CERT/);
    await refused({ ECAMO_TLS_KEY: certificate.keyFile }, 'ECAMO_TLS_CERT', /required with ECAMO_TLS_KEY/);
    await refused({ ECAMO_TLS_CERT: '/nonexistent/cert.pem', ECAMO_TLS_KEY: certificate.keyFile }, 'ECAMO_TLS_CERT', /cannot read .*ENOENT/);
    const other = selfSignedCertificate('other');
    await assert.rejects(loadConfig({ ...keysEnv, ECAMO_TLS_CERT: certificate.certFile, ECAMO_TLS_KEY: other.keyFile }), ConfigError, 'a key of another certificate');
    await assert.rejects(loadConfig({ ...keysEnv, ECAMO_TLS_CERT: certificate.keyFile, ECAMO_TLS_KEY: certificate.keyFile }), ConfigError, 'a key where the certificate belongs');
  });
});

describe('TLS listener', { skip: unlessInstalled('openssl', 'curl') }, () => {
  let running: RunningServer;
  let config: Config;
  before(async () => ({ running, config } = await startTls()));
  after(() => running.close(0));

  it('offers h2 and http/1.1 by ALPN on one port; curl fetches the image over both', async () => {
    assert.match(running.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const session = http2.connect(running.url, { ca: certificate.cert });
    await new Promise((resolve) => session.once('connect', resolve));
    assert.equal(session.alpnProtocol, 'h2');
    session.close();

    const path = await proxyPath(config, `${source.origin}/curl.png`);
    for (const [flag, version] of [['--http2', '2'], ['--http1.1', '1.1']] as const) {
      const { stdout } = await run('curl', ['-sS', flag, '--cacert', certificate.certFile, '-H', 'Host: ecamo.test', '-o', '-', '-w', '\n%{http_version} %{http_code} %{content_type}', `${running.url}${path}`], { encoding: 'buffer' });
      const text = stdout.toString('latin1');
      assert.ok(text.startsWith(IMAGE.toString('latin1')), `${flag}: the image bytes`);
      assert.equal(text.slice(IMAGE.length + 1), `${version} 200 image/png`);
    }
  });

  it('answers HTTP/1.1 over TLS (https, no ALPN) like the plain listener, with x-ecamo-error refusals', async () => {
    const answer = await new Promise<{ status: number; error: string | undefined }>((resolve, reject) => {
      https.get(`${running.url}/.ecamo/v1/p/abc?t=forged`, { ca: certificate.cert, servername: 'localhost', headers: { host: 'ecamo.test' } }, (res) => {
        res.resume();
        resolve({ status: res.statusCode!, error: res.headers['x-ecamo-error'] as string | undefined });
      }).on('error', reject);
    });
    assert.deepEqual(answer, { status: 401, error: 'invalid-token' });
  });

  it('refuses an HTTP/2 request without a usable :authority or with a Host that disagrees', async () => {
    const session = http2.connect(running.url, { ca: certificate.cert });
    try {
      const status = (headers: http2.OutgoingHttpHeaders) =>
        new Promise<[number, string | undefined]>((resolve) => {
          const stream = session.request(headers);
          stream.on('response', (answer) => resolve([Number(answer[':status']), answer['x-ecamo-error'] as string | undefined]));
          stream.resume();
          stream.end();
        });
      assert.deepEqual(await status({ ':path': '/.well-known/jwks.json', ':authority': 'ecamo.test' }), [200, undefined]);
      assert.deepEqual(await status({ ':path': '/.well-known/jwks.json', ':authority': 'ecamo.test', host: 'other.test' }), [400, 'bad-request']);
    } finally {
      session.close();
    }
  });

  it('an HTTP/2 client opening 1,000 streams at once gets 100 served, the rest refused, its connection closed; others are served', async () => {
    const { hostname, port } = new URL(running.url);
    const socket = tls.connect({ host: hostname, port: Number(port), ca: certificate.cert, ALPNProtocols: ['h2'] });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    assert.equal(socket.alpnProtocol, 'h2');
    const frame = (type: number, flags: number, stream: number, payload: Buffer): Buffer => {
      const header = Buffer.alloc(9);
      header.writeUIntBE(payload.length, 0, 3);
      header[3] = type;
      header[4] = flags;
      header.writeUInt32BE(stream, 5);
      return Buffer.concat([header, payload]);
    };
    // HPACK: :method GET, :scheme https (static table), :path and :authority as literals without indexing.
    const headerBlock = Buffer.concat([Buffer.from([0x82, 0x87, 0x04, 8]), Buffer.from('/healthz'), Buffer.from([0x01, 10]), Buffer.from('ecamo.test')]);
    const HEADERS = 0x1;
    const END_STREAM_AND_HEADERS = 0x5;
    const frames = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(0x4, 0, 0, Buffer.alloc(0))];
    for (let i = 0; i < 1000; i++) frames.push(frame(HEADERS, END_STREAM_AND_HEADERS, 2 * i + 1, headerBlock));
    const received = await sendAndCollect(socket, Buffer.concat(frames));

    let answered = 0;
    let refusedStreams = 0;
    for (let at = 0; at + 9 <= received.length; ) {
      const length = received.readUIntBE(at, 3);
      const type = received[at + 3];
      if (type === HEADERS) answered++;
      if (type === 0x3 && received.readUInt32BE(at + 9) === http2.constants.NGHTTP2_REFUSED_STREAM) refusedStreams++;
      at += 9 + length;
    }
    assert.ok(answered > 0 && answered <= 100, `${answered} streams answered`);
    assert.ok(refusedStreams > 0, 'the streams over the limit were refused');
    assert.ok(answered + refusedStreams < 1000, 'the connection was closed before all 1,000 were dealt with');
    assert.equal((await fetchAnswer(`${running.url}/healthz`, { host: 'ecamo.test', ca: certificate.cert })).status, 200);
  });

  it('garbage, plain HTTP and a broken HTTP/2 preface only lose their own connection; the server keeps serving', async () => {
    const { hostname, port } = new URL(running.url);
    const garbage = await sendAndCollect(net.connect(Number(port), hostname), Buffer.from('\x16\x03\x01\x00\x05garbage-that-is-no-handshake'.repeat(20)));
    assert.equal(garbage.includes('HTTP/'), false);
    await sendAndCollect(net.connect(Number(port), hostname), Buffer.from('GET /healthz HTTP/1.1\r\nHost: ecamo.test\r\n\r\n'));
    const h2Socket = tls.connect({ host: hostname, port: Number(port), ca: certificate.cert, ALPNProtocols: ['h2'] });
    await new Promise((resolve) => h2Socket.once('secureConnect', resolve));
    await sendAndCollect(h2Socket, Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n not a preface'));
    const http1Socket = tls.connect({ host: hostname, port: Number(port), ca: certificate.cert, ALPNProtocols: ['http/1.1'] });
    await new Promise((resolve) => http1Socket.once('secureConnect', resolve));
    const malformed = await sendAndCollect(http1Socket, Buffer.from('GET / HTTP/1.1\r\nHost: ecamo.test\r\nBad Header\r\n\r\n'));
    assert.match(malformed.toString(), /^HTTP\/1\.1 400 [^\r]*\r\n(?:[^\r]+\r\n)*x-ecamo-error: bad-request\r\n/);
    for (const url of [`${running.url}/healthz`, `${running.url}${await proxyPath(config, `${source.origin}/after.png`)}`]) {
      const answer = await fetchAnswer(url, { host: 'ecamo.test', ca: certificate.cert });
      assert.equal(answer.status, 200, url);
    }
  });
});

/** The first flight of a real TLS client, as a server sees it. */
async function clientHello(): Promise<Buffer> {
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const received = new Promise<Buffer>((resolve) => listener.once('connection', (socket) => socket.once('data', resolve)));
  const client = tls.connect({ host: '127.0.0.1', port: (listener.address() as net.AddressInfo).port, rejectUnauthorized: false });
  client.on('error', () => {});
  const hello = await received;
  client.destroy();
  listener.close();
  return hello;
}

describe('TLS listener: clients that never finish', { skip: unlessInstalled('openssl', 'curl') }, () => {
  let running: RunningServer;
  before(async () => ({ running } = await startTls()));
  after(() => running.close(0));

  /** A raw TCP connection to the TLS port that sends `bytes`, then nothing; resolves when the server closes it. */
  async function stalledConnection(bytes: Buffer): Promise<void> {
    const socket = net.connect(Number(new URL(running.url).port), '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    if (bytes.length > 0) socket.write(bytes);
    await new Promise((resolve) => socket.once('close', resolve));
  }

  // The server's 10 s handshake limit closes both; without it, this test runs into its own timeout.
  it('a connection that sends nothing and one that sends half a ClientHello are closed by the server', { timeout: 30_000 }, async () => {
    const hello = await clientHello();
    assert.equal(hello[0], 0x16, 'a TLS handshake record');
    await Promise.all([stalledConnection(Buffer.alloc(0)), stalledConnection(hello.subarray(0, Math.floor(hello.length / 2)))]);
    assert.equal((await fetchAnswer(`${running.url}/healthz`, { host: 'ecamo.test', ca: certificate.cert })).status, 200);
  });

  it("HTTP/1.1 over TLS has the plain listener's timeouts: a head that never ends gets 408 request-timeout", async () => {
    // ecamo's 30 s, shortened on the real server as test/http/request-timeout.test.ts does for the plain listener.
    const server = running.server as unknown as { headersTimeout: number; requestTimeout: number };
    assert.deepEqual([server.headersTimeout, server.requestTimeout], [30_000, 30_000]);
    server.headersTimeout = 200;
    server.requestTimeout = 400;
    const { hostname, port } = new URL(running.url);
    const socket = tls.connect({ host: hostname, port: Number(port), ca: certificate.cert, ALPNProtocols: ['http/1.1'] });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    assert.equal(socket.alpnProtocol, 'http/1.1');
    const answer = (await sendAndCollect(socket, Buffer.from('GET /healthz HTTP/1.1\r\nhost: ecamo.test\r\n'))).toString('latin1');
    assert.match(answer, /^HTTP\/1\.1 408 [^\r]*\r\n(?:[^\r]+\r\n)*x-ecamo-error: request-timeout\r\n/);
    assert.ok(answer.endsWith('\r\n\r\nError: request-timeout'), answer);
  });
});

describe('TLS certificate reload', { skip: unlessInstalled('openssl', 'curl') }, () => {
  it('a reload puts the new certificate on new connections; an unusable file keeps the old one and counts a failure', async () => {
    const first = selfSignedCertificate('first');
    const second = selfSignedCertificate('second');
    const { running } = await startTls(first);
    try {
      assert.equal(await servedCommonName(running.url), 'first');
      copyFileSync(second.certFile, first.certFile);
      copyFileSync(second.keyFile, first.keyFile);
      await running.reload();
      assert.equal(await servedCommonName(running.url), 'second');

      writeFileSync(first.certFile, '-----BEGIN CERTIFICATE-----\ntruncated');
      await running.reload();
      assert.equal(await servedCommonName(running.url), 'second');
      const metrics = (await fetchAnswer(`${running.adminUrl}/metrics`)).body;
      assert.equal(count(metrics, 'ecamo_tls_reloads_total', { outcome: 'success' }), 1);
      assert.equal(count(metrics, 'ecamo_tls_reloads_total', { outcome: 'failure' }), 1);
    } finally {
      await running.close(0);
    }
  });

  it('close() lets an HTTP/2 stream in flight finish and refuses new connections', async () => {
    let release: () => void = () => {};
    const slow = await startSource((_req, res) => {
      // Past the window ecamo reads before it answers: the answer has begun when the source waits.
      res.writeHead(200, { 'content-type': 'image/png' });
      res.write(SLOW_IMAGE.subarray(0, 5000));
      release = () => res.end(SLOW_IMAGE.subarray(5000));
    });
    const { running, config } = await startTls();
    try {
      const session = http2.connect(running.url, { ca: certificate.cert });
      const stream = session.request({ ':path': await proxyPath(config, `${slow.origin}/slow.png`), ':authority': 'ecamo.test' });
      stream.end();
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      await new Promise((resolve) => stream.once('response', resolve));
      const closed = running.close(60_000);
      await assert.rejects(fetchAnswer(`${running.url}/healthz`, { host: 'ecamo.test', ca: certificate.cert }));
      release();
      await new Promise((resolve) => stream.once('close', resolve));
      assert.deepEqual(Buffer.concat(chunks), SLOW_IMAGE);
      assert.equal(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR);
      await closed;
      session.destroy();
    } finally {
      await slow.close();
    }
  });
});
