/**
 * SocketReads (src/upstream/socket-reads.ts): which socket reads are freed,
 * and when, for the pieces undici cuts from them. The reads here are
 * ArrayBuffers laid out as undici's are (a head, then body pieces, chunk
 * framing between them); what streaming through ecamo makes of it, byte for
 * byte, is tested in test/http/stream-body.test.ts, test/cache/tee.test.ts
 * and, over HTTP/2 and TLS, below.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { FREES_READS, SocketReads, SPARES_POOL_SIZED_READS } from '../../src/upstream/socket-reads.js';
import { CANONICAL_HOST, fetchAnswerHttp2, startEcamo, transportCertificate, type Ecamo } from '../helpers/harness.js';
import { PNG } from '../helpers/images.js';
import { unlessInstalled } from '../helpers/programs.js';

const NO_TRANSFER = !FREES_READS && 'this Node cannot detach an ArrayBuffer: nothing is freed early';

/** A read of `length` bytes and a piece of it, as undici's views are. */
function readOf(length: number): { readonly read: ArrayBuffer; piece(start: number, end?: number): Buffer } {
  const read = new ArrayBuffer(length);
  return { read, piece: (start, end = length) => Buffer.from(read, start, end - start) };
}

describe('SocketReads: when a read is freed', { skip: NO_TRANSFER }, () => {
  test('a read is freed once the parser is past it and every piece of it was spent, and not before', () => {
    const reads = new SocketReads();
    // A head, then two pieces of a chunked body with framing between them; the read ends inside framing.
    const first = readOf(4096);
    const [a, b] = [first.piece(200, 1000), first.piece(1010, 4090)];
    reads.handedOut(a);
    reads.handedOut(b);
    reads.spent(a);
    reads.spent(b);
    assert.equal(first.read.byteLength > 0, true, 'the parser may still cut a piece from it');
    const second = readOf(4096);
    const c = second.piece(3);
    reads.handedOut(c);
    assert.equal(first.read.byteLength, 0, 'a piece of a later read came: the first is done with');
    assert.equal(second.read.byteLength > 0, true, 'its piece is not spent yet');
    reads.spent(c);
    assert.equal(second.read.byteLength, 0, 'its one piece ended where it ends, and is spent');
  });

  test('a piece that ends where its read ends frees the read once spent, whatever order the pieces are spent in', () => {
    const reads = new SocketReads();
    const read = readOf(65536);
    const pieces = [read.piece(0, 30000), read.piece(30010, 60000), read.piece(60010)];
    for (const piece of pieces) reads.handedOut(piece);
    reads.spent(pieces[2]!);
    reads.spent(pieces[0]!);
    assert.equal(read.read.byteLength > 0, true, 'one piece is still being written');
    reads.spent(pieces[1]!);
    assert.equal(read.read.byteLength, 0);
  });

  test('the end of the response frees the last read, whether its pieces were spent before or after', () => {
    const early = new SocketReads();
    const spentBefore = readOf(2048);
    const piece = spentBefore.piece(100, 2000);
    early.handedOut(piece);
    early.spent(piece);
    assert.equal(spentBefore.read.byteLength > 0, true);
    early.ended();
    assert.equal(spentBefore.read.byteLength, 0);

    const late = new SocketReads();
    const spentAfter = readOf(2048);
    const other = spentAfter.piece(100, 2000);
    late.handedOut(other);
    late.ended();
    assert.equal(spentAfter.read.byteLength > 0, true, 'its piece is still being written');
    late.spent(other);
    assert.equal(spentAfter.read.byteLength, 0);
  });

  test('a piece never reported spent (a cut body, a client gone, a kept copy) leaves its read, and the read it shares, to the collector', () => {
    const reads = new SocketReads();
    const read = readOf(8000);
    const [kept, written] = [read.piece(0, 4000), read.piece(4010)];
    reads.handedOut(kept);
    reads.handedOut(written);
    reads.spent(written);
    reads.ended();
    assert.equal(read.read.byteLength > 0, true);
    assert.deepEqual([kept.length, written.length], [4000, 3990]);
  });

  test("a read as large as the Buffer pool's ArrayBuffer is spared only where V8 would detach the pool itself", () => {
    const reads = new SocketReads();
    const poolSized = readOf(Buffer.allocUnsafe(1).buffer.byteLength);
    const piece = poolSized.piece(0);
    reads.handedOut(piece);
    reads.spent(piece);
    reads.ended();
    assert.equal(SPARES_POOL_SIZED_READS, Number(process.versions.node.split('.')[0]) < 24, 'V8 refuses to detach the pool from Node 24');
    assert.equal(poolSized.read.byteLength > 0, SPARES_POOL_SIZED_READS);
  });

  test("a piece of the Buffer pool itself is left alone, and so are the pool's other Buffers", () => {
    const reads = new SocketReads();
    const slices = (): [Buffer, Buffer] => [Buffer.allocUnsafe(16).fill(7), Buffer.allocUnsafe(100).fill(1)];
    let [neighbour, piece] = slices();
    // The first pair may straddle a full pool and the next one; a fresh pool holds both.
    if (piece.buffer !== neighbour.buffer) [neighbour, piece] = slices();
    assert.equal(piece.buffer, neighbour.buffer, 'both slices of the pool');
    reads.handedOut(piece);
    reads.spent(piece);
    reads.ended();
    assert.deepEqual(neighbour, Buffer.alloc(16, 7));
    assert.deepEqual(piece, Buffer.alloc(100, 1));
  });
});

/** A PNG with `length - PNG.length` random bytes after it: any byte out of place shows. */
function image(length: number): Buffer {
  return Buffer.concat([PNG, randomBytes(length - PNG.length)]);
}

/** The response as bytes on the wire: with its Content-Length, or chunked in `chunk`-byte chunks (many to a socket read). */
function response(body: Buffer, chunk: number | undefined): Buffer[] {
  const head = 'HTTP/1.1 200 OK\r\ncontent-type: image/png\r\n';
  if (chunk === undefined) return [Buffer.from(`${head}content-length: ${body.length}\r\n\r\n`), body];
  const wire: Buffer[] = [Buffer.from(`${head}transfer-encoding: chunked\r\n\r\n`)];
  for (let at = 0; at < body.length; at += chunk) {
    const piece = body.subarray(at, at + chunk);
    wire.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  wire.push(Buffer.from('0\r\n\r\n'));
  return wire;
}

/** A GET over HTTPS/1.1 read slowly (a turn of the event loop after each piece), so that ecamo's writes back up and it pauses its source. */
function slowHttps1(url: string, ca: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, servername: 'localhost', headers: { host: CANONICAL_HOST }, agent: false }, (res) => {
        const pieces: Buffer[] = [];
        res.on('data', (piece: Buffer) => {
          pieces.push(piece);
          res.pause();
          setImmediate(() => res.resume());
        });
        res.on('end', () => (res.statusCode === 200 && res.complete ? resolve(Buffer.concat(pieces)) : reject(new Error(`status ${res.statusCode}, complete ${res.complete}`))));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

const tlsSkip = unlessInstalled('openssl');
/**
 * More than a cache entry may hold (1 MiB): streamed from the source every time. And far more than
 * ecamo's writes to a client may buffer, so that behind a client reading slowly ecamo pauses its
 * source, mostly mid-read (undici then keeps the rest of the read for later).
 */
const BODY_BYTES = 8 * 1024 * 1024;

describe('bytes exact through ecamo over TLS (HTTP/2, and HTTP/1.1 read slowly), from plain and TLS sources', { skip: tlsSkip }, () => {
  const bodies = new Map<string, Buffer[]>();
  /** Answers each request on the connection with the bytes set for its path (no parsing beyond the request line). */
  const serve = (socket: net.Socket): void => {
    let head = '';
    socket.on('data', (bytes: Buffer) => {
      head += bytes.toString('latin1');
      for (let end = head.indexOf('\r\n\r\n'); end !== -1; end = head.indexOf('\r\n\r\n')) {
        const path = head.slice(0, end).split(' ')[1] ?? '';
        head = head.slice(end + 4);
        for (const piece of bodies.get(path) ?? [Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n')]) socket.write(piece);
      }
    });
    socket.on('error', () => {});
  };
  let ecamo: Ecamo;
  let plain: net.Server;
  let secure: tls.Server;
  const origins: Record<'plain' | 'tls', string> = { plain: '', tls: '' };

  before(async () => {
    const certificate = transportCertificate();
    plain = net.createServer(serve);
    secure = tls.createServer({ cert: certificate.cert, key: certificate.key }, serve);
    for (const [name, server] of [['plain', plain], ['tls', secure]] as const) {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      origins[name] = `${name === 'tls' ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }
    ecamo = await startEcamo(
      {
        ECAMO_TLS_CERT: certificate.certFile,
        ECAMO_TLS_KEY: certificate.keyFile,
        ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^https?://127\\.0\\.0\\.1:',
        ECAMO_MAX_LENGTH: String(BODY_BYTES),
        // A whole fetch of a chunked body on a busy machine (Node 20) may take more than the default 10 s.
        ECAMO_TIMEOUT: '120',
      },
      { sourceCa: certificate.cert },
    );
  });

  after(async () => {
    await ecamo.close();
    for (const server of [plain, secure]) await new Promise((resolve) => server.close(resolve));
  });

  for (const source of ['plain', 'tls'] as const) {
    for (const [framing, chunk] of [['Content-Length', undefined], ['chunked in 1000-byte chunks', 1000]] as const) {
      test(`an 8 MiB image from a ${source} source, ${framing}, arrives byte for byte over HTTP/2, and over HTTP/1.1 read slowly`, async () => {
        const path = `/${source}-${chunk ?? 'whole'}.png`;
        const body = image(BODY_BYTES);
        bodies.set(path, response(body, chunk));
        const proxyUrl = async (): Promise<string> => `${ecamo.url}${await ecamo.proxyPath(`${origins[source]}${path}`)}`;
        const overHttp2 = await fetchAnswerHttp2(await proxyUrl(), { host: CANONICAL_HOST });
        assert.equal(overHttp2.status, 200);
        assert.ok(overHttp2.bytes.equals(body), `HTTP/2: ${overHttp2.bytes.length} bytes, not the source's ${body.length}`);
        const slowly = await slowHttps1(await proxyUrl(), transportCertificate().cert);
        assert.ok(slowly.equals(body), `HTTP/1.1 read slowly: ${slowly.length} bytes, not the source's ${body.length}`);
      });
    }
  }
});
