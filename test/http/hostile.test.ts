/**
 * Hostile input against a real ecamo: forged and malformed tokens, broken
 * cookies and requests, dangerous source URLs, private addresses in every
 * spelling, and sources that misbehave on the wire. Each refusal must be a
 * 4xx/5xx ecamo chose (never a 500 or a crash), carry the right
 * `x-ecamo-error`, show no stack trace, and leave the server healthy.
 *
 * Everything stays on 127.0.0.1 / ::1: the only names used are `localhost`
 * (hosts file) and Host-header-only names that nothing resolves.
 */
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, createPublicKey, sign as signBytes, type JsonWebKey as NodeJwk } from 'node:crypto';
import dns from 'node:dns';
import type http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { JWK } from 'jose';
import { request } from 'undici';
import { generateKey, type GeneratedKey } from '../../src/config/generate-key.js';
import { createLogger } from '../../src/log.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { toLowS } from '../../src/tokens/low-s.js';
import {
  CANONICAL_HOST,
  CANONICAL_ORIGIN,
  SERVICE_ORIGIN,
  startEcamo,
  startSource,
  type Answer,
  type Ecamo,
  type Source,
} from '../helpers/harness.js';

const PNG = Buffer.from('\x89PNG\r\n\x1a\nhostile suite');

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** An ecamo whose log lines are kept, so that a hidden 500 ("bug: ...") is seen too. */
async function startWatchedEcamo(env: Record<string, string> = {}): Promise<{ ecamo: Ecamo; logs: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger('warn', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  return { ecamo: await startEcamo(env, { logger }), logs };
}

/** The server is still up and never logged an unexpected failure. */
async function assertHealthy(ecamo: Ecamo, logs: Record<string, unknown>[]): Promise<void> {
  const health = await ecamo.get('/healthz');
  assert.equal(health.status, 200);
  assert.equal(health.body, 'ok');
  const bugs = logs.filter((line) => typeof line.level === 'number' && line.level >= 50);
  assert.deepEqual(bugs, [], 'no error-level log line (a 500 would log "bug: unexpected failure")');
}

function assertNoStackTrace(body: string): void {
  assert.doesNotMatch(body, /\bat .+[(:]\d+|node:internal|\/src\/|\/dist\/|Error: .*\n|\bstack\b/i, `body leaks internals: ${body.slice(0, 200)}`);
}

interface Reply {
  readonly status: number;
  readonly body: string;
  header(name: string): string | undefined;
}

/** A refusal made by ecamo itself: status, code, the fixed body, nothing else. */
function assertRefused(answer: Reply, status: number, code: string, context = ''): void {
  const what = `${context} -> ${answer.status} ${answer.header('x-ecamo-error')} ${answer.body.slice(0, 80)}`;
  assert.equal(answer.status, status, what);
  assert.equal(answer.header('x-ecamo-error'), code, what);
  assert.equal(answer.body, `Error: ${code}`, what);
  assert.equal(answer.header('location'), undefined, `${what}: a refusal never redirects`);
  assert.equal(answer.header('set-cookie'), undefined, what);
  assert.equal(answer.header('cache-control'), 'no-store', what);
  assert.equal(answer.header('www-authenticate'), status === 401 ? 'Bearer error="invalid_token"' : undefined, what);
  assert.equal(answer.header('allow'), status === 405 ? 'GET, HEAD' : undefined, what);
  assertNoStackTrace(answer.body);
}

interface RawAnswer extends Reply {
  readonly statusLine: string;
  readonly headers: Record<string, string>;
}

/**
 * Sends bytes as they are (requests undici would refuse to build) and reads
 * until the server closes. Requests should say `connection: close`.
 */
async function rawExchange(baseUrl: string, bytes: string | Buffer): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl);
  const socket = net.connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  // The server may close while the request is still being written (oversized headers): not a failure.
  socket.on('error', () => {});
  socket.write(bytes);
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const raw = Buffer.concat(chunks).toString('latin1');
  const headEnd = raw.indexOf('\r\n\r\n');
  assert.notEqual(headEnd, -1, `no complete answer, got ${JSON.stringify(raw.slice(0, 200))}`);
  const [statusLine, ...lines] = raw.slice(0, headEnd).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return {
    statusLine: statusLine!,
    status: Number(statusLine!.split(' ')[1]),
    headers,
    body: raw.slice(headEnd + 4),
    header: (name) => headers[name.toLowerCase()],
  };
}

/**
 * Reads a streamed answer to its end or its cut-off: how many bytes arrived,
 * and whether it ended cleanly. `onFirstChunk` runs once the first bytes are in.
 */
async function readStream(
  url: string,
  host: string,
  onFirstChunk: () => void = () => {},
): Promise<{ status: number; headers: Record<string, unknown>; bytes: number; complete: boolean }> {
  const response = await request(url, { headers: { host } });
  let bytes = 0;
  let complete = true;
  try {
    for await (const chunk of response.body) {
      if (bytes === 0) onFirstChunk();
      bytes += (chunk as Buffer).length;
    }
  } catch {
    complete = false;
  }
  return { status: response.statusCode, headers: response.headers, bytes, complete };
}

/** A source on 127.0.0.1 that answers each request with raw bytes: what no well-behaved HTTP server would send. */
interface RawSource {
  readonly port: number;
  readonly origin: string;
  /** Requests that reached it (one per connection). */
  readonly requests: number;
  close(): Promise<void>;
}

async function startRawSource(respond: (socket: net.Socket) => void): Promise<RawSource> {
  let requests = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      requests++;
      respond(socket);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// --- JWS forging, below jose, so that anything can be built ---------------

const b64u = (data: string | Uint8Array): string => Buffer.from(data).toString('base64url');
const jsonPart = (value: unknown): string => b64u(JSON.stringify(value));

/** Raw signatures have a low s, as ecamo mints them: proxy tokens with a high s are refused (tokens/low-s.ts). */
function es256(privateJwk: JWK, input: string, dsaEncoding: 'ieee-p1363' | 'der' = 'ieee-p1363'): Buffer {
  const key = createPrivateKey({ key: privateJwk as NodeJwk, format: 'jwk' });
  const signature = signBytes('sha256', Buffer.from(input), { key, dsaEncoding });
  return dsaEncoding === 'ieee-p1363' ? toLowS(signature) : signature;
}

/**
 * A compact JWS. `header` and `payload` are JSON-encoded unless given as
 * ready-made segments (`{ segment }`); `sign` gets the signing input.
 */
function jws(header: unknown, payload: unknown, sign: (input: string) => Buffer | string): string {
  const segment = (value: unknown): string =>
    typeof value === 'object' && value !== null && 'segment' in value ? (value as { segment: string }).segment : jsonPart(value);
  const input = `${segment(header)}.${segment(payload)}`;
  const signature = sign(input);
  return `${input}.${typeof signature === 'string' ? signature : b64u(signature)}`;
}

const now = (): number => Math.floor(Date.now() / 1000);

/** The order n of P-256: r = s = n reduces to the zero signature some verifiers once accepted. */
const P256_ORDER = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');

type TokenCode = 'token-deserialization' | 'invalid-token' | 'unknown-key' | 'jwt';

/** One of the three tokens ecamo verifies, with how to present it and what a genuine one gets. */
interface TokenKind {
  readonly name: string;
  readonly kid: string;
  readonly key: GeneratedKey;
  /** Claims of a genuine token. */
  claims(): Record<string, unknown>;
  readonly requiresExp: boolean;
  readonly checksAudience: boolean;
  present(token: string): Promise<Answer>;
  assertAccepted(answer: Answer): void;
  /** What a token refused with `code` (as the URL token endpoint names it) answers on this endpoint. */
  refusal(code: TokenCode | 'missing-claim' | 'url'): readonly [number, string];
}

interface Forgery {
  readonly name: string;
  /** Only for kinds where the forgery makes sense. */
  readonly applies?: (kind: TokenKind) => boolean;
  readonly code: TokenCode | 'missing-claim';
  token(kind: TokenKind): string;
}

function genuine(kind: TokenKind, header: Record<string, unknown> = {}, claims: Record<string, unknown> = {}): string {
  return jws({ alg: 'ES256', kid: kind.kid, ...header }, { ...kind.claims(), ...claims }, (input) => es256(kind.key.privateJwk, input));
}

function withoutClaim(kind: TokenKind, claim: string): string {
  const claims = kind.claims();
  delete claims[claim];
  return jws({ alg: 'ES256', kid: kind.kid }, claims, (input) => es256(kind.key.privateJwk, input));
}

function hmac(secret: string | Buffer, input: string): Buffer {
  return createHmac('sha256', secret).update(input).digest();
}

function spki(jwk: JWK, format: 'pem' | 'der'): string | Buffer {
  const key = createPublicKey({ key: jwk as NodeJwk, format: 'jwk' });
  return format === 'pem' ? (key.export({ type: 'spki', format: 'pem' }) as string) : (key.export({ type: 'spki', format: 'der' }) as Buffer);
}

let foreignKey: GeneratedKey;

const FORGERIES: readonly Forgery[] = [
  // Algorithm confusion.
  { name: 'alg none, empty signature', code: 'invalid-token', token: (k) => jws({ alg: 'none', kid: k.kid }, k.claims(), () => '') },
  { name: 'alg none without kid', code: 'invalid-token', token: (k) => jws({ alg: 'none' }, k.claims(), () => '') },
  { name: 'alg NONE, signature of the real key', code: 'invalid-token', token: (k) => jws({ alg: 'NONE', kid: k.kid }, k.claims(), (i) => es256(k.key.privateJwk, i)) },
  { name: 'HS256 keyed with the public JWK (JSON)', code: 'invalid-token', token: (k) => jws({ alg: 'HS256', kid: k.kid }, k.claims(), (i) => hmac(JSON.stringify(k.key.publicJwk), i)) },
  {
    name: 'HS256 keyed with the bare public JWK members',
    code: 'invalid-token',
    token: (k) => jws({ alg: 'HS256', kid: k.kid }, k.claims(), (i) => hmac(JSON.stringify({ crv: 'P-256', kty: 'EC', x: k.key.publicJwk.x, y: k.key.publicJwk.y }), i)),
  },
  { name: 'HS256 keyed with the public key as PEM SPKI', code: 'invalid-token', token: (k) => jws({ alg: 'HS256', kid: k.kid }, k.claims(), (i) => hmac(spki(k.key.publicJwk, 'pem'), i)) },
  { name: 'HS256 keyed with the public key as DER SPKI', code: 'invalid-token', token: (k) => jws({ alg: 'HS256', kid: k.kid }, k.claims(), (i) => hmac(spki(k.key.publicJwk, 'der'), i)) },
  { name: 'ES256 header over an HMAC signature', code: 'invalid-token', token: (k) => jws({ alg: 'ES256', kid: k.kid }, k.claims(), (i) => hmac(spki(k.key.publicJwk, 'pem'), i)) },
  { name: 'alg es256 (lower case)', code: 'invalid-token', token: (k) => jws({ alg: 'es256', kid: k.kid }, k.claims(), (i) => es256(k.key.privateJwk, i)) },
  { name: 'alg ES384', code: 'invalid-token', token: (k) => jws({ alg: 'ES384', kid: k.kid }, k.claims(), (i) => es256(k.key.privateJwk, i)) },
  { name: 'alg RS256', code: 'invalid-token', token: (k) => jws({ alg: 'RS256', kid: k.kid }, k.claims(), (i) => es256(k.key.privateJwk, i)) },
  { name: 'alg EdDSA', code: 'invalid-token', token: (k) => jws({ alg: 'EdDSA', kid: k.kid }, k.claims(), (i) => es256(k.key.privateJwk, i)) },
  { name: 'alg missing', code: 'token-deserialization', token: (k) => jws({ kid: k.kid }, k.claims(), (i) => es256(k.key.privateJwk, i)) },
  // Broken signatures.
  { name: 'DER-encoded ECDSA signature by the real key', code: 'invalid-token', token: (k) => jws({ alg: 'ES256', kid: k.kid }, k.claims(), (i) => es256(k.key.privateJwk, i, 'der')) },
  { name: 'all-zero 64-byte signature', code: 'invalid-token', token: (k) => jws({ alg: 'ES256', kid: k.kid }, k.claims(), () => Buffer.alloc(64)) },
  { name: 'r = s = n (the curve order)', code: 'invalid-token', token: (k) => jws({ alg: 'ES256', kid: k.kid }, k.claims(), () => Buffer.concat([P256_ORDER, P256_ORDER])) },
  { name: 'empty signature', code: 'invalid-token', token: (k) => jws({ alg: 'ES256', kid: k.kid }, k.claims(), () => '') },
  { name: 'truncated signature', code: 'invalid-token', token: (k) => jws({ alg: 'ES256', kid: k.kid }, k.claims(), (i) => es256(k.key.privateJwk, i).subarray(0, 63)) },
  {
    name: 'genuine signature of other claims',
    code: 'invalid-token',
    token: (k) => {
      const [header, , signature] = genuine(k).split('.');
      return `${header}.${jsonPart({ ...k.claims(), 'ecamo:url': 'http://127.0.0.1:1/other.png' })}.${signature}`;
    },
  },
  // Keys.
  { name: 'signed by a foreign key under a known kid', code: 'invalid-token', token: (k) => jws({ alg: 'ES256', kid: k.kid }, k.claims(), (i) => es256(foreignKey.privateJwk, i)) },
  {
    name: 'signed by a foreign key it embeds (jwk, jku, x5u headers)',
    code: 'invalid-token',
    token: (k) =>
      jws(
        { alg: 'ES256', kid: k.kid, jwk: foreignKey.publicJwk, jku: 'http://127.0.0.1:1/jwks.json', x5u: 'http://127.0.0.1:1/cert.pem' },
        k.claims(),
        (i) => es256(foreignKey.privateJwk, i),
      ),
  },
  { name: 'unknown kid', code: 'unknown-key', token: (k) => jws({ alg: 'ES256', kid: 'nope' }, k.claims(), (i) => es256(k.key.privateJwk, i)) },
  { name: 'kid with a trailing space', code: 'unknown-key', token: (k) => jws({ alg: 'ES256', kid: `${k.kid} ` }, k.claims(), (i) => es256(k.key.privateJwk, i)) },
  { name: 'kid that is not a string', code: 'unknown-key', token: (k) => jws({ alg: 'ES256', kid: [k.kid] }, k.claims(), (i) => es256(k.key.privateJwk, i)) },
  { name: 'missing kid', code: 'unknown-key', token: (k) => jws({ alg: 'ES256' }, k.claims(), (i) => es256(k.key.privateJwk, i)) },
  // Claims.
  { name: 'wrong iss', code: 'jwt', token: (k) => genuine(k, {}, { iss: 'http://evil.test' }) },
  { name: 'iss with a trailing slash', code: 'jwt', token: (k) => genuine(k, {}, { iss: `${String(k.claims().iss)}/` }) },
  { name: 'missing iss', code: 'jwt', token: (k) => withoutClaim(k, 'iss') },
  { name: 'wrong aud', applies: (k) => k.checksAudience, code: 'jwt', token: (k) => genuine(k, {}, { aud: 'http://evil.test' }) },
  { name: 'missing aud', applies: (k) => k.checksAudience, code: 'jwt', token: (k) => withoutClaim(k, 'aud') },
  { name: 'expired beyond the 10 s leeway', code: 'jwt', token: (k) => genuine(k, {}, { iat: now() - 120, exp: now() - 30 }) },
  { name: 'nbf in the future', code: 'jwt', token: (k) => genuine(k, {}, { nbf: now() + 60 }) },
  { name: 'exp that is not a number', code: 'jwt', token: (k) => genuine(k, {}, { exp: String(now() + 600) }) },
  { name: 'missing exp where required', applies: (k) => k.requiresExp, code: 'jwt', token: (k) => withoutClaim(k, 'exp') },
  // Header extensions.
  { name: 'unknown crit header, genuinely signed', code: 'invalid-token', token: (k) => genuine(k, { crit: ['x-ecamo-skip'], 'x-ecamo-skip': true }) },
  { name: 'crit that is not an array', code: 'token-deserialization', token: (k) => genuine(k, { crit: 'exp' }) },
  {
    // The signing input is the literal payload segment: a valid signature over an unencoded payload.
    name: 'b64:false, genuinely signed',
    code: 'token-deserialization',
    token: (k) => jws({ alg: 'ES256', kid: k.kid, b64: false, crit: ['b64'] }, k.claims(), (i) => es256(k.key.privateJwk, i)),
  },
  // Garbage.
  { name: 'one segment', code: 'token-deserialization', token: () => 'abc' },
  { name: 'two segments', code: 'token-deserialization', token: (k) => genuine(k).split('.').slice(0, 2).join('.') },
  { name: 'four segments', code: 'token-deserialization', token: (k) => `${genuine(k)}.abc` },
  { name: 'only dots', code: 'token-deserialization', token: () => '...' },
  { name: 'invalid base64url in the header', code: 'token-deserialization', token: (k) => `*!*${genuine(k).slice(3)}` },
  // Signed as it is, so that decoding (not the signature) is what fails.
  { name: 'invalid base64url in the payload', code: 'token-deserialization', token: (k) => jws({ alg: 'ES256', kid: k.kid }, { segment: `~~${jsonPart(k.claims())}` }, (i) => es256(k.key.privateJwk, i)) },
  { name: 'invalid base64url in the signature', code: 'token-deserialization', token: (k) => genuine(k).replace(/\.[^.]*$/, '.*~*~') },
  { name: 'header that is not JSON', code: 'token-deserialization', token: (k) => jws({ segment: b64u('{"alg":"ES256",') }, k.claims(), (i) => es256(k.key.privateJwk, i)) },
  { name: 'header that is a JSON array', code: 'token-deserialization', token: (k) => jws(['ES256', k.kid], k.claims(), (i) => es256(k.key.privateJwk, i)) },
  { name: 'header that is JSON null', code: 'token-deserialization', token: (k) => jws(null, k.claims(), (i) => es256(k.key.privateJwk, i)) },
  { name: 'header that is a JSON string', code: 'token-deserialization', token: (k) => jws('ES256', k.claims(), (i) => es256(k.key.privateJwk, i)) },
  { name: 'payload that is not JSON, genuinely signed', code: 'token-deserialization', token: (k) => jws({ alg: 'ES256', kid: k.kid }, { segment: b64u('not json') }, (i) => es256(k.key.privateJwk, i)) },
  { name: 'payload that is a JSON array, genuinely signed', code: 'token-deserialization', token: (k) => jws({ alg: 'ES256', kid: k.kid }, [k.claims()], (i) => es256(k.key.privateJwk, i)) },
  { name: 'payload that is JSON null, genuinely signed', code: 'token-deserialization', token: (k) => jws({ alg: 'ES256', kid: k.kid }, null, (i) => es256(k.key.privateJwk, i)) },
  { name: 'payload that is a JSON number, genuinely signed', code: 'token-deserialization', token: (k) => jws({ alg: 'ES256', kid: k.kid }, 42, (i) => es256(k.key.privateJwk, i)) },
  { name: 'huge garbage (24 KiB, one segment)', code: 'token-deserialization', token: () => 'A'.repeat(24 * 1024) },
  { name: 'huge token (24 KiB payload, zero signature)', code: 'invalid-token', token: (k) => jws({ alg: 'ES256', kid: k.kid }, { ...k.claims(), pad: 'x'.repeat(18 * 1024) }, () => Buffer.alloc(64)) },
];

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

describe('forged and malformed tokens', () => {
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];
  let source: Source;
  let imageUrl: string;
  let urlPath: string;
  const kinds: TokenKind[] = [];

  before(async () => {
    ({ ecamo, logs } = await startWatchedEcamo());
    foreignKey = await generateKey(ecamo.serviceKey.kid);
    source = await startSource((_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
    imageUrl = `${source.origin}/img.png`;
    urlPath = await ecamo.signer.url(imageUrl);
    const prefix = ecamo.config.prefix;
    kinds.push(
      {
        name: 'URL token',
        kid: ecamo.serviceKey.kid,
        key: ecamo.serviceKey,
        claims: () => ({ iss: SERVICE_ORIGIN, 'ecamo:url': imageUrl }),
        requiresExp: false,
        checksAudience: false,
        present: (token) => ecamo.get(`/${prefix}/v1/r/${token}`, { headers: { cookie: ecamo.cookie } }),
        assertAccepted: (answer) => {
          assert.equal(answer.status, 302);
          assert.equal(answer.header('x-ecamo-action'), 'redirect-to-canonical');
        },
        refusal: (code) => [code === 'token-deserialization' || code === 'missing-claim' || code === 'url' ? 400 : 401, code],
      },
      {
        name: 'auth cookie',
        kid: ecamo.serviceKey.kid,
        key: ecamo.serviceKey,
        claims: () => ({ iss: SERVICE_ORIGIN, aud: CANONICAL_ORIGIN, iat: now(), exp: now() + 600 }),
        requiresExp: true,
        checksAudience: true,
        present: (token) => ecamo.get(urlPath, { headers: { cookie: `${ecamo.config.authCookie}=${token}` } }),
        assertAccepted: (answer) => {
          assert.equal(answer.status, 302);
          assert.equal(answer.header('x-ecamo-action'), 'redirect-to-canonical');
        },
        // Every failure of the cookie is a 401.
        refusal: (code) => (code === 'token-deserialization' || code === 'missing-claim' || code === 'url' ? [401, 'invalid-token'] : [401, code]),
      },
      {
        name: 'proxy token',
        kid: ecamo.ecamoKey.kid,
        key: ecamo.ecamoKey,
        claims: () => ({
          iss: 'ecamo:s',
          aud: 'ecamo:p',
          iat: now(),
          nbf: now(),
          exp: now() + 45,
          'ecamo:svc': SERVICE_ORIGIN,
          'ecamo:url': imageUrl,
          'ecamo:tok': false,
        }),
        requiresExp: true,
        checksAudience: true,
        present: (token) => ecamo.get(`/${prefix}/v1/p/${urlDigest(imageUrl)}?t=${encodeURIComponent(token)}`, { host: CANONICAL_HOST }),
        assertAccepted: (answer) => {
          assert.equal(answer.status, 200);
          assert.deepEqual(answer.bytes, PNG);
        },
        // Only ecamo mints these: any defect is an authentication failure.
        refusal: (code) => (code === 'token-deserialization' || code === 'missing-claim' || code === 'url' ? [401, 'invalid-token'] : [401, code]),
      },
    );
  });

  after(async () => {
    await ecamo.close();
    await source.close();
  });

  test('control: genuine tokens of each kind, built by hand, are accepted', async () => {
    for (const kind of kinds) kind.assertAccepted(await kind.present(genuine(kind)));
    // Within the leeway an expired token still passes: the leeway is what the forgery below exceeds.
    for (const kind of kinds) kind.assertAccepted(await kind.present(genuine(kind, {}, { iat: now() - 60, exp: now() - 3 })));
  });

  for (const forgery of FORGERIES) {
    test(forgery.name, async () => {
      for (const kind of kinds) {
        if (forgery.applies !== undefined && !forgery.applies(kind)) continue;
        const fetched = source.requests.length;
        const [status, code] = kind.refusal(forgery.code);
        assertRefused(await kind.present(forgery.token(kind)), status, code, `${kind.name}: ${forgery.name}`);
        assert.equal(source.requests.length, fetched, `${kind.name}: nothing reaches the source`);
      }
    });
  }

  test('token confusion: each genuine token is refused where another kind is expected', async () => {
    const [urlKind, cookieKind, proxyKind] = kinds as [TokenKind, TokenKind, TokenKind];
    const urlToken = genuine(urlKind);
    const cookieToken = genuine(cookieKind);
    const proxyToken = genuine(proxyKind);
    // A cookie has no ecamo:url; a proxy token's kid is not a service key.
    assertRefused(await urlKind.present(cookieToken), 400, 'missing-claim', 'cookie as URL token');
    assertRefused(await urlKind.present(proxyToken), 401, 'unknown-key', 'proxy token as URL token');
    // A URL token has no aud or exp; a proxy token's kid is not a service key.
    assertRefused(await cookieKind.present(urlToken), 401, 'jwt', 'URL token as cookie');
    assertRefused(await cookieKind.present(proxyToken), 401, 'unknown-key', 'proxy token as cookie');
    // Service keys never verify proxy tokens.
    assertRefused(await proxyKind.present(urlToken), 401, 'unknown-key', 'URL token as proxy token');
    assertRefused(await proxyKind.present(cookieToken), 401, 'unknown-key', 'cookie as proxy token');
    // A proxy token minted by ecamo with the service key's kid is still only checked against ecamo's keys.
    assertRefused(await proxyKind.present(jws({ alg: 'ES256', kid: urlKind.kid }, proxyKind.claims(), (i) => es256(urlKind.key.privateJwk, i))), 401, 'unknown-key', 'proxy token signed by the service');
  });

  test('claims of the wrong shape in genuinely signed tokens', async () => {
    const [urlKind, , proxyKind] = kinds as [TokenKind, TokenKind, TokenKind];
    const cases: [TokenKind, Record<string, unknown>, TokenCode | 'missing-claim'][] = [
      [urlKind, { 'ecamo:url': undefined }, 'missing-claim'],
      [urlKind, { 'ecamo:url': 42 }, 'token-deserialization'],
      [urlKind, { 'ecamo:url': [imageUrl] }, 'token-deserialization'],
      [urlKind, { 'ecamo:url': { href: imageUrl } }, 'token-deserialization'],
      [urlKind, { 'ecamo:url': null }, 'token-deserialization'],
      [urlKind, { 'ecamo:send-token': 'true' }, 'token-deserialization'],
      [urlKind, { 'ecamo:send-token': 1 }, 'token-deserialization'],
      [proxyKind, { 'ecamo:url': undefined }, 'missing-claim'],
      [proxyKind, { 'ecamo:svc': undefined }, 'invalid-token'],
      [proxyKind, { 'ecamo:svc': 7 }, 'invalid-token'],
      [proxyKind, { 'ecamo:tok': 'yes' }, 'invalid-token'],
    ];
    for (const [kind, override, code] of cases) {
      const [status, expected] = kind.refusal(code);
      assertRefused(await kind.present(genuine(kind, {}, override)), status, expected, `${kind.name} ${JSON.stringify(override)}`);
    }
  });

  test('proxy endpoint: digest and query games', async () => {
    const prefix = ecamo.config.prefix;
    const proxyKind = kinds[2]!;
    const token = genuine(proxyKind);
    const forged = jws({ alg: 'ES256', kid: proxyKind.kid }, proxyKind.claims(), () => Buffer.alloc(64));
    const fetched = source.requests.length;
    const at = (digest: string, query: string): Promise<Answer> => ecamo.get(`/${prefix}/v1/p/${digest}?${query}`, { host: CANONICAL_HOST });
    assertRefused(await at(urlDigest(imageUrl), ''), 401, 'invalid-token', 'no token');
    assertRefused(await at(urlDigest(imageUrl), 't='), 401, 'invalid-token', 'empty token');
    assertRefused(await at(urlDigest(imageUrl), `t=${forged}&t=${token}`), 401, 'invalid-token', 'forged token first');
    assertRefused(await at(urlDigest('http://127.0.0.1:1/other.png'), `t=${token}`), 401, 'invalid-token', 'digest of another URL');
    assertRefused(await at(`${urlDigest(imageUrl)}=`, `t=${token}`), 400, 'bad-request', 'padded digest');
    assertRefused(await at(urlDigest(imageUrl).replace(/.$/, '*'), `t=${token}`), 400, 'bad-request', 'non-base64url digest');
    assertRefused(await at(`${urlDigest(imageUrl).slice(0, 63)}+`, `t=${token}`), 400, 'bad-request', 'standard base64 alphabet');
    // Node's decoder would ignore the trailing bits of "B"; the strict check does not.
    assertRefused(await at(`${urlDigest(imageUrl)}AB`, `t=${token}`), 400, 'bad-request', 'non-canonical trailing bits');
    // Canonical base64url of 49 bytes: well-formed, but not the digest of the URL.
    assertRefused(await at(`${urlDigest(imageUrl)}AA`, `t=${token}`), 401, 'invalid-token', 'digest with an extra byte');
    // Off the canonical host the proxy endpoint does not exist, whatever the token.
    assertRefused(await ecamo.get(`/${prefix}/v1/p/${urlDigest(imageUrl)}?t=${token}`), 404, 'not-found', 'service host');
    assert.equal(source.requests.length, fetched);
  });

  test('a 64 KiB request line is answered 431 by the clientError handler', async () => {
    const answer = await rawExchange(ecamo.url, `GET /${ecamo.config.prefix}/v1/r/${'A'.repeat(64 * 1024)} HTTP/1.1\r\nhost: wiki.test\r\nconnection: close\r\n\r\n`);
    assertRefused(answer, 431, 'bad-request', '64 KiB path');
    const headers = await rawExchange(ecamo.url, `GET /healthz HTTP/1.1\r\nhost: wiki.test\r\nx-pad: ${'p'.repeat(64 * 1024)}\r\nconnection: close\r\n\r\n`);
    assertRefused(headers, 431, 'bad-request', '64 KiB header');
  });

  test('the server is still healthy', async () => {
    await assertHealthy(ecamo, logs);
  });
});

// ---------------------------------------------------------------------------
// Cookies and requests
// ---------------------------------------------------------------------------

describe('broken cookies and requests', () => {
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];
  let source: Source;
  let urlPath: string;
  let name: string;
  let valid: string;
  let forged: string;

  before(async () => {
    ({ ecamo, logs } = await startWatchedEcamo());
    source = await startSource((_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
    urlPath = await ecamo.signer.url(`${source.origin}/img.png`);
    name = ecamo.config.authCookie;
    valid = ecamo.cookie.slice(name.length + 1);
    const [header, payload] = valid.split('.');
    forged = `${header}.${payload}.${b64u(Buffer.alloc(64))}`;
  });

  after(async () => {
    await ecamo.close();
    await source.close();
  });

  const withCookie = (cookie: string): Promise<Answer> => ecamo.get(urlPath, { headers: { cookie } });

  /** No usable cookie: the protocol's answer (docs/protocol.md §6) is the redirect to the source, never to the canonical origin. */
  function assertTreatedAsAbsent(answer: Answer, context: string): void {
    assert.equal(answer.status, 302, context);
    assert.equal(answer.header('x-ecamo-action'), 'redirect-to-source', context);
    assert.equal(answer.header('x-ecamo-reason'), 'auth-cookie-missing', context);
    assert.equal(answer.header('location'), `${source.origin}/img.png`, context);
  }

  test('control: the genuine cookie is accepted', async () => {
    const answer = await withCookie(`${name}=${valid}`);
    assert.equal(answer.status, 302);
    assert.equal(answer.header('x-ecamo-action'), 'redirect-to-canonical');
  });

  test('cookies without "=" or without our name are absent, not accepted', async () => {
    for (const cookie of [name, `${name};`, `=${valid}`, `other=${valid}`, `${name}x=${valid}`, `x${name}=${valid}`, ';;;', '=']) {
      assertTreatedAsAbsent(await withCookie(cookie), cookie.slice(0, 40));
    }
  });

  test('broken values are refused with 401', async () => {
    const cases = [
      `${name}=${forged}`,
      `${name}=${forged}; ${name}=${valid}`, // duplicate names: the first one counts, and it is forged
      `${name}="${forged}"`,
      `${name}=""`,
      `${name}="`,
      `${name}=${valid}"`,
      `${name}="${valid}`,
      `${name}=`,
      `${name}=a b,c\\d`,
      `${name}=${valid.replaceAll('.', ' ')}`,
      `${name}=${'A'.repeat(28 * 1024)}`,
      `${name}=${valid}.${valid}`,
    ];
    for (const cookie of cases) assertRefused(await withCookie(cookie), 401, 'invalid-token', cookie.slice(0, 60));
  });

  test('duplicate Cookie headers: the first value of our name counts', async () => {
    const answer = await rawExchange(
      ecamo.url,
      `GET ${urlPath} HTTP/1.1\r\nhost: wiki.test\r\ncookie: ${name}=${forged}\r\ncookie: ${name}=${valid}\r\nconnection: close\r\n\r\n`,
    );
    assertRefused(answer, 401, 'invalid-token', 'two Cookie headers');
  });

  test('bytes no client should send in a cookie', async () => {
    // obs-text reaches the handler and is refused as a token.
    const obs = await rawExchange(ecamo.url, Buffer.concat([
      Buffer.from(`GET ${urlPath} HTTP/1.1\r\nhost: wiki.test\r\ncookie: ${name}=${valid}`),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('\r\nconnection: close\r\n\r\n'),
    ]));
    assertRefused(obs, 401, 'invalid-token', 'obs-text cookie');
    // Control characters are refused by the HTTP parser, through the clientError handler.
    for (const byte of [0x00, 0x01, 0x7f]) {
      const answer = await rawExchange(ecamo.url, Buffer.concat([
        Buffer.from(`GET ${urlPath} HTTP/1.1\r\nhost: wiki.test\r\ncookie: ${name}=`),
        Buffer.from([byte]),
        Buffer.from(`${valid}\r\nconnection: close\r\n\r\n`),
      ]));
      assertRefused(answer, 400, 'bad-request', `cookie with byte ${byte}`);
    }
  });

  test('a cookie over the header limit is answered 431', async () => {
    const answer = await rawExchange(ecamo.url, `GET ${urlPath} HTTP/1.1\r\nhost: wiki.test\r\ncookie: ${name}=${'A'.repeat(40 * 1024)}\r\nconnection: close\r\n\r\n`);
    assertRefused(answer, 431, 'bad-request', '40 KiB cookie');
  });

  test('hostile service hosts', async () => {
    for (const host of ['evil host', 'wiki.test@evil.test', 'wiki.test/x', 'wiki.test:99999999', '[::1', 'wiki.test\\evil']) {
      assertRefused(await ecamo.get(urlPath, { headers: { cookie: ecamo.cookie, 'sec-x-ecamo-service-host': host } }), 400, 'bad-request', host);
    }
    // Another service host: its key for the kid is not there.
    assertRefused(await ecamo.get(urlPath, { headers: { cookie: ecamo.cookie, 'sec-x-ecamo-service-host': 'evil.test' } }), 401, 'unknown-key', 'evil.test');
  });

  test('methods other than GET and HEAD are refused with 405, on every path', async () => {
    const proxyPath = await ecamo.proxyPath(`${source.origin}/img.png`);
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND']) {
      for (const path of ['/', '/healthz', urlPath, proxyPath, '/nowhere']) {
        const answer = await rawExchange(ecamo.url, `${method} ${path} HTTP/1.1\r\nhost: ${CANONICAL_HOST}\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbody`);
        assertRefused(answer, 405, 'method-not-allowed', `${method} ${path.slice(0, 30)}`);
        assert.equal(answer.header('allow'), 'GET, HEAD');
      }
    }
    // CONNECT bypasses the request handler in node:http; it must still get an answer, not a dropped socket.
    const connect = await rawExchange(ecamo.url, `CONNECT 127.0.0.1:${source.port} HTTP/1.1\r\nhost: 127.0.0.1:${source.port}\r\n\r\n`);
    assertRefused(connect, 405, 'method-not-allowed', 'CONNECT');
    assert.equal(connect.header('allow'), 'GET, HEAD');
    // A method the parser does not know is a malformed request.
    assertRefused(await rawExchange(ecamo.url, `BREW / HTTP/1.1\r\nhost: wiki.test\r\nconnection: close\r\n\r\n`), 400, 'bad-request', 'BREW');
    assert.equal(source.requests.length, 0);
  });

  test('malformed requests are answered by the clientError handler', async () => {
    const cases = [
      'GET / HTTP/1.1\r\nhost: wiki.test\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
      'GET / HTTP/1.1\r\nhost: wiki.test\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab',
      'GET / HTTP/1.1\r\nbroken header\r\n\r\n',
      'GET / HTTP/1.1\r\nhost : wiki.test\r\n\r\n',
      'GET /\x01 HTTP/1.1\r\nhost: wiki.test\r\n\r\n',
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', // a TLS ClientHello on the plain port
    ];
    for (const raw of cases) assertRefused(await rawExchange(ecamo.url, Buffer.from(raw, 'latin1')), 400, 'bad-request', JSON.stringify(raw.slice(0, 30)));
  });

  test('HTTP/1.1 without exactly one Host is 400 bad-request', async () => {
    const cases = [
      'GET /healthz HTTP/1.1\r\nconnection: close\r\n\r\n',
      `GET ${urlPath} HTTP/1.1\r\ncookie: ${name}=${valid}\r\nconnection: close\r\n\r\n`,
      // node:http would keep the first Host; a front proxy may have routed on the second.
      `GET ${urlPath} HTTP/1.1\r\nhost: evil.test\r\nhost: wiki.test\r\ncookie: ${name}=${valid}\r\nconnection: close\r\n\r\n`,
      `GET /healthz HTTP/1.0\r\nhost: wiki.test\r\nHost: wiki.test\r\n\r\n`,
    ];
    for (const raw of cases) assertRefused(await rawExchange(ecamo.url, raw), 400, 'bad-request', JSON.stringify(raw.slice(0, 40)));
    // HTTP/1.0 had no Host: health checks still work, a redirect has no service origin.
    const health = await rawExchange(ecamo.url, 'GET /healthz HTTP/1.0\r\n\r\n');
    assert.equal(health.status, 200);
    assertRefused(await rawExchange(ecamo.url, `GET ${urlPath} HTTP/1.0\r\ncookie: ${name}=${valid}\r\n\r\n`), 400, 'bad-request', 'HTTP/1.0 redirect');
  });

  test('odd request targets', async () => {
    const prefix = ecamo.config.prefix;
    for (const target of [`/${prefix}/v1/r/../../etc/passwd`, `/${prefix}/v1/r/`, `/${prefix}/v1/r/a/b`, '//healthz', `/${prefix}/v2/r/x`, 'http://evil.test/']) {
      const answer = await rawExchange(ecamo.url, `GET ${target} HTTP/1.1\r\nhost: wiki.test\r\nconnection: close\r\n\r\n`);
      assertRefused(answer, 404, 'not-found', target);
    }
    // Percent-encoded garbage in the token position is a token, and a malformed one.
    assertRefused(await ecamo.get(`/${prefix}/v1/r/%2e%2e%2f%00`, { headers: { cookie: ecamo.cookie } }), 400, 'token-deserialization', 'percent-encoded');
  });

  test('a request that already went through an ecamo is refused as a loop', async () => {
    const proxyPath = await ecamo.proxyPath(`${source.origin}/img.png`);
    for (const via of ['1.1 ecamo', '1.0 fred, 1.1 ecamo', 'HTTP/1.1 ECAMO (ecamo/0.1)', '1.1 cdn.example,1.1   ecamo']) {
      assertRefused(await ecamo.get(urlPath, { headers: { cookie: ecamo.cookie, via } }), 400, 'loop-detected', `redirect, via ${via}`);
      assertRefused(await ecamo.get(proxyPath, { host: CANONICAL_HOST, headers: { via } }), 400, 'loop-detected', `proxy, via ${via}`);
    }
    assert.equal(source.requests.length, 0);
    // Other proxies in Via are fine.
    const answer = await ecamo.get(proxyPath, { host: CANONICAL_HOST, headers: { via: '1.1 varnish, 1.1 ecamo-cdn' } });
    assert.equal(answer.status, 200);
  });

  test('ecamo pointed at itself stops after one hop', async () => {
    const inner = await ecamo.proxyPath(`${source.origin}/img.png`);
    const outer = await ecamo.proxyPath(`${ecamo.url}${inner}`);
    const before = source.requests.length;
    const answer = await ecamo.get(outer, { host: CANONICAL_HOST });
    // The inner request carried `Via: 1.1 ecamo` and was refused; the outer one passes that on as a source error.
    assert.equal(answer.status, 400);
    assert.equal(answer.header('x-ecamo-error'), 'source-response');
    assert.equal(answer.body, '400 (from upstream)');
    assert.equal(source.requests.length, before);
  });

  test('the server is still healthy', async () => {
    await assertHealthy(ecamo, logs);
  });
});

// ---------------------------------------------------------------------------
// Source URLs ecamo must never send a browser to
// ---------------------------------------------------------------------------

describe('non-http(s) source URLs', () => {
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];

  before(async () => {
    ({ ecamo, logs } = await startWatchedEcamo());
  });

  after(() => ecamo.close());

  const BAD_URLS = [
    'javascript:alert(document.cookie)',
    'JAVASCRIPT:alert(1)',
    ' javascript:alert(1)',
    'java\tscript:alert(1)',
    '\x00javascript:alert(1)',
    'data:image/svg+xml,<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    'data:text/html,<script>alert(1)</script>',
    'file:///etc/passwd',
    'ftp://127.0.0.1/x.png',
    'ws://127.0.0.1/x',
    'blob:http://wiki.test/0f0f0f0f-0000-0000-0000-000000000000',
    'about:blank',
    'vbscript:msgbox(1)',
    '/relative.png',
    '//127.0.0.1/x.png',
    'x.png',
    '',
    'http://',
    'http://user:secret@127.0.0.1/x.png',
    'https://:secret@127.0.0.1/x.png',
  ];

  const urlToken = (url: string): string =>
    jws({ alg: 'ES256', kid: ecamo.serviceKey.kid }, { iss: SERVICE_ORIGIN, 'ecamo:url': url }, (input) => es256(ecamo.serviceKey.privateJwk, input));

  test('the redirect endpoint refuses them with 400 url and never sets Location', async () => {
    for (const url of BAD_URLS) {
      const path = `/${ecamo.config.prefix}/v1/r/${urlToken(url)}`;
      const variants: [string, Record<string, string>][] = [
        ['document', { 'sec-fetch-dest': 'document' }],
        ['no cookie', {}],
        ['image with cookie', { 'sec-fetch-dest': 'image', cookie: ecamo.cookie }],
      ];
      for (const [label, headers] of variants) {
        assertRefused(await ecamo.get(path, { headers }), 400, 'url', `${JSON.stringify(url)} (${label})`);
      }
    }
  });

  test('a proxy token carrying one is refused before any redirect to the source', async () => {
    for (const url of BAD_URLS) {
      const token = jws(
        { alg: 'ES256', kid: ecamo.ecamoKey.kid },
        { iss: 'ecamo:s', aud: 'ecamo:p', exp: now() + 45, 'ecamo:svc': SERVICE_ORIGIN, 'ecamo:url': url, 'ecamo:tok': false },
        (input) => es256(ecamo.ecamoKey.privateJwk, input),
      );
      const answer = await ecamo.get(`/${ecamo.config.prefix}/v1/p/${urlDigest(url)}?t=${token}`, { host: CANONICAL_HOST, headers: { 'sec-fetch-dest': 'document' } });
      assertRefused(answer, 401, 'invalid-token', JSON.stringify(url));
    }
  });

  test('newlines in ecamo:url cannot inject headers into the redirect to the source', async () => {
    const url = 'http://127.0.0.1:1/x.png\r\nSet-Cookie: pwned=1\r\nX-Injected: 1';
    const answer = await ecamo.get(`/${ecamo.config.prefix}/v1/r/${urlToken(url)}`, { headers: { 'sec-fetch-dest': 'document' } });
    assert.equal(answer.status, 302);
    assert.equal(answer.header('x-ecamo-action'), 'redirect-to-source');
    assert.equal(answer.header('set-cookie'), undefined);
    assert.equal(answer.header('x-injected'), undefined);
    assert.equal(answer.header('location'), new URL(url).href);
    assert.doesNotMatch(answer.header('location')!, /[\r\n ]/);
  });

  test('the server is still healthy', async () => {
    await assertHealthy(ecamo, logs);
  });
});

// ---------------------------------------------------------------------------
// Private addresses
// ---------------------------------------------------------------------------

describe('private-address guard with no private allowance', () => {
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];
  let source: Source;
  let source6: Source | undefined;

  before(async () => {
    ({ ecamo, logs } = await startWatchedEcamo({ ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '' }));
    assert.equal(ecamo.config.privateSourceAllowedRegexp, undefined);
    const handler: http.RequestListener = (_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
    source = await startSource(handler);
    try {
      source6 = await startSource(handler, '::1');
    } catch {
      source6 = undefined; // no IPv6 loopback: [::1] is still checked, just not counted
    }
  });

  after(async () => {
    await ecamo.close();
    await source.close();
    await source6?.close();
  });

  test('every spelling of this machine is refused and the listener receives nothing', async () => {
    const port = source.port;
    const urls = [
      `http://127.0.0.1:${port}/img.png`,
      `http://localhost:${port}/img.png`,
      `http://LOCALHOST:${port}/img.png`,
      `http://127.1:${port}/img.png`,
      `http://2130706433:${port}/img.png`,
      `http://0x7f000001:${port}/img.png`,
      `http://0177.0.0.1:${port}/img.png`,
      `http://0x7f.0.0.1:${port}/img.png`,
      `http://127.0.0.1.:${port}/img.png`,
      `http://127.255.255.254:${port}/img.png`,
      `http://0.0.0.0:${port}/img.png`,
      `http://0:${port}/img.png`,
      `http://[::ffff:127.0.0.1]:${port}/img.png`,
      `http://[::ffff:7f00:1]:${port}/img.png`,
      `http://[::127.0.0.1]:${port}/img.png`,
      `http://[::]:${port}/img.png`,
      `http://[::1]:${source6?.port ?? port}/img.png`,
      `https://127.0.0.1:${port}/img.png`,
    ];
    for (const url of urls) {
      assertRefused(await ecamo.get(await ecamo.proxyPath(url), { host: CANONICAL_HOST }), 403, 'unallowed-source', url);
    }
    assert.equal(source.requests.length, 0);
    assert.equal(source6?.requests.length ?? 0, 0);
  });

  // `127.0.0.1.nip.io`-style names: public DNS that answers with a private address.
  // The resolver is scripted in-process (dns.lookup, which the guard calls), so no
  // query leaves this machine; anything unscripted fails as not found.
  test('a public-looking name that resolves to loopback (nip.io style, DNS rebinding) is refused', async (t) => {
    const answers: Record<string, { address: string; family: number }[]> = {
      '127.0.0.1.nip.io': [{ address: '127.0.0.1', family: 4 }],
      'img.rebind.example.com': [{ address: '93.184.216.34', family: 4 }, { address: '127.0.0.1', family: 4 }],
      'v6.rebind.example.com': [{ address: '::ffff:127.0.0.1', family: 6 }],
    };
    const asked: string[] = [];
    t.mock.method(dns, 'lookup', ((hostname: string, _options: unknown, callback: (error: Error | null, addresses: unknown[]) => void) => {
      asked.push(hostname);
      const answer = answers[hostname];
      process.nextTick(() =>
        answer === undefined ? callback(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []) : callback(null, answer),
      );
    }) as unknown as typeof dns.lookup);
    for (const host of Object.keys(answers)) {
      const url = `http://${host}:${source.port}/img.png`;
      assertRefused(await ecamo.get(await ecamo.proxyPath(url), { host: CANONICAL_HOST }), 403, 'unallowed-source', url);
    }
    assert.deepEqual(asked, Object.keys(answers), 'each name went through the scripted resolver');
    assert.equal(source.requests.length, 0);
  });

  test('the full browser flow ends in the same refusal', async () => {
    const path = await ecamo.signer.url(`http://localhost:${source.port}/img.png`);
    const redirect = await ecamo.get(path, { headers: { cookie: ecamo.cookie } });
    assert.equal(redirect.status, 302);
    const location = new URL(redirect.header('location')!);
    assertRefused(await ecamo.get(`${location.pathname}${location.search}`, { host: CANONICAL_HOST }), 403, 'unallowed-source', 'browser flow');
    assert.equal(source.requests.length, 0);
  });

  test('the server is still healthy', async () => {
    await assertHealthy(ecamo, logs);
  });
});

describe('redirects from an allowed private source are re-checked hop by hop', () => {
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];
  let target: Source;
  let first: Source;
  let location = '';

  before(async () => {
    target = await startSource((_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
    first = await startSource((_req, res) => void res.writeHead(302, { location }).end());
    ({ ecamo, logs } = await startWatchedEcamo({
      // Only the first URL itself may be private.
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${first.port}/start$`,
      ECAMO_MAX_REDIRECTS: '3',
    }));
  });

  after(async () => {
    await ecamo.close();
    await first.close();
    await target.close();
  });

  test('a hop to a private address is 403 unallowed-source; only the first hop is fetched', async () => {
    const hops = [
      `http://127.0.0.1:${target.port}/img.png`,
      `http://localhost:${target.port}/img.png`,
      `http://[::ffff:127.0.0.1]:${target.port}/img.png`,
      `http://2130706433:${target.port}/img.png`,
      `http://0.0.0.0:${target.port}/img.png`,
      '/other', // same private host, but not the allowed URL
      `http://127.0.0.1:${first.port}/start?again`, // not exactly the allowed URL either
    ];
    for (const hop of hops) {
      location = hop;
      const fetched = first.requests.length;
      assertRefused(await ecamo.get(await ecamo.proxyPath(`http://127.0.0.1:${first.port}/start`), { host: CANONICAL_HOST }), 403, 'unallowed-source', hop);
      assert.equal(first.requests.length, fetched + 1, `${hop}: only the first hop`);
    }
    assert.equal(target.requests.length, 0);
  });

  test('a hop to another scheme or with credentials is refused', async () => {
    for (const hop of ['file:///etc/passwd', 'javascript:alert(1)', 'ftp://127.0.0.1/x', `http://user:pw@127.0.0.1:${target.port}/img.png`]) {
      location = hop;
      assertRefused(await ecamo.get(await ecamo.proxyPath(`http://127.0.0.1:${first.port}/start`), { host: CANONICAL_HOST }), 403, 'unallowed-source', hop);
    }
    assert.equal(target.requests.length, 0);
  });

  test('the server is still healthy', async () => {
    await assertHealthy(ecamo, logs);
  });
});

// ---------------------------------------------------------------------------
// Sources that misbehave
// ---------------------------------------------------------------------------

describe('misbehaving sources', () => {
  const MAX_LENGTH = 1000;
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    ({ ecamo, logs } = await startWatchedEcamo({ ECAMO_MAX_LENGTH: String(MAX_LENGTH) }));
  });

  after(async () => {
    await ecamo.close();
    for (const close of closers) await close();
  });

  async function source(handler: http.RequestListener): Promise<Source> {
    const started = await startSource(handler);
    closers.push(() => started.close());
    return started;
  }

  /** Answers with exactly `raw`, then closes. */
  async function rawSource(raw: string | Buffer): Promise<RawSource> {
    const started = await startRawSource((socket) => socket.end(raw));
    closers.push(() => started.close());
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
      // 700-byte chunks, so that the limit falls inside one.
      for (let i = 0; i < 6; i++) res.write(Buffer.alloc(700, i));
      res.end();
    });
    const answer = await readStream(`${ecamo.url}${await ecamo.proxyPath(`${big.origin}/big.png`)}`, CANONICAL_HOST);
    assert.equal(answer.status, 200);
    assert.equal(answer.bytes, MAX_LENGTH);
    assert.equal(answer.complete, false, 'the client sees a cut-off body, not a complete short one');
  });

  test('a declared Content-Length over MAX_LENGTH is refused before streaming', async () => {
    const big = await source((_req, res) => void res.writeHead(200, { 'content-type': 'image/png', 'content-length': MAX_LENGTH + 1 }).end(Buffer.alloc(MAX_LENGTH + 1)));
    assertRefused(await proxied(`${big.origin}/big.png`), 403, 'source-response-too-large', 'declared length');
  });

  test('a source that resets mid-body: the client sees a cut-off, the server carries on', async () => {
    // The source sends 100 bytes and resets (RST) once the client has them, so the cut lands mid-body.
    let reset = (): void => {};
    const resetting = await source((req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', ...(req.url === '/sized' ? { 'content-length': 800 } : {}) });
      res.write(Buffer.alloc(100, 1));
      reset = () => req.socket.resetAndDestroy();
    });
    for (const path of ['/sized', '/chunked']) {
      const answer = await readStream(`${ecamo.url}${await ecamo.proxyPath(`${resetting.origin}${path}`)}`, CANONICAL_HOST, () => reset());
      assert.equal(answer.status, 200, path);
      assert.equal(answer.bytes, 100, path);
      assert.equal(answer.complete, false, `${path}: cut off`);
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
      Buffer.from('\r\nExpires: \t\r\nSet-Cookie: a=\xff\r\nContent-Length: 4\r\n\r\npng!'),
    ]);
    for (const status of ['200', '404']) {
      const oddSource = await rawSource(Buffer.from(odd.toString('latin1').replace('STATUS', status), 'latin1'));
      const answer = await proxied(`${oddSource.origin}/img.png`);
      assert.equal(answer.status, Number(status));
      if (status === '200') assert.equal(answer.body, 'png!');
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

  test('the server is still healthy', async () => {
    await assertHealthy(ecamo, logs);
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

  after(async () => {
    await ecamo.close();
    await silent.close();
    await stalling.close();
  });

  test('headers that never come: 504 source-request after ECAMO_TIMEOUT', async () => {
    for (const origin of [silent.origin, stalling.origin]) {
      const answer = await ecamo.get(await ecamo.proxyPath(`${origin}/img.png`), { host: CANONICAL_HOST });
      assertRefused(answer, 504, 'source-request', origin);
    }
    assert.equal(silent.requests.length, 1);
    assert.equal(stalling.requests, 1);
  });

  test('the server is still healthy', async () => {
    await assertHealthy(ecamo, logs);
  });
});

// ---------------------------------------------------------------------------
// Proxy variables in the environment
// ---------------------------------------------------------------------------

describe('HTTP_PROXY and NO_PROXY in the environment', () => {
  const VARIABLES = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy'];
  const saved = new Map<string, string | undefined>();
  let trap: Source;
  let source: Source;
  let ecamo: Ecamo;
  let logs: Record<string, unknown>[];

  before(async () => {
    trap = await startSource((_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end('trap'));
    source = await startSource((_req, res) => void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
    for (const name of VARIABLES) saved.set(name, process.env[name]);
    for (const name of VARIABLES.filter((variable) => !/no_proxy/i.test(variable))) process.env[name] = trap.origin;
    // NO_PROXY naming a host that is otherwise refused must not open it up either.
    process.env.NO_PROXY = process.env.no_proxy = 'localhost,127.0.0.1,::1';
    ({ ecamo, logs } = await startWatchedEcamo({ ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${source.port}/` }));
  });

  after(async () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await ecamo.close();
    await trap.close();
    await source.close();
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

  test('the server is still healthy', async () => {
    await assertHealthy(ecamo, logs);
  });
});
