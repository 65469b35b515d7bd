/**
 * ecamo beside Debian's `camo` (atmos/camo 2.3.0), both signing with the same
 * key and fetching from the same loopback source: for every URL camo serves,
 * ecamo serves the same status and bytes; what camo fetches from an address
 * the operator did not allow, ecamo refuses without the source seeing it.
 * camo itself fetching from loopback is fine: nothing leaves the machine.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { CANONICAL_HOST, fetchAnswer, startEcamo, startSource, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { camoPath, camoQueryPath } from '../helpers/camo.js';
import { GIF, JPEG, PNG, WEBP } from '../helpers/images.js';
import { spawnListening, type Listening } from '../helpers/wire.js';
import { CAMO_LISTENING, CAMO_PORT_REPORTER } from '../helpers/server-ports.js';
import { unlessInstalled } from '../helpers/programs.js';

const CAMO_SERVER = '/usr/share/camo/server.js';
const KEY = 'shared by camo and ecamo';
const LENGTH_LIMIT = 64 * 1024;
const MAX_REDIRECTS = 4;
/**
 * What a browser sends with an image request. camo 2.3.0 on Node 20 needs
 * Accept-Encoding: without it, it passes `undefined` as a header value and
 * the process dies.
 */
const BROWSER = { accept: 'image/avif,image/webp,image/png,image/*;q=0.8,*/*;q=0.5', 'accept-encoding': 'gzip, deflate, br' };

/** A real image followed by deterministic bytes, `size` in all. */
function body(image: Buffer, size: number): Buffer {
  const bytes = Buffer.alloc(size);
  image.copy(bytes);
  for (let i = image.length; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

const FILES: Record<string, { type: string; bytes: Buffer; chunked?: boolean }> = {
  '/a.png': { type: 'image/png', bytes: body(PNG, 3000) },
  '/photo.jpg': { type: 'image/jpeg; charset=binary', bytes: body(JPEG, 20_000) },
  '/anim.gif': { type: 'image/gif', bytes: body(GIF, 40_000), chunked: true },
  '/icon.svg': { type: 'image/svg+xml', bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>') },
  '/limit.png': { type: 'image/png', bytes: body(PNG, LENGTH_LIMIT) },
  '/path%20with%20space.webp': { type: 'image/webp', bytes: body(WEBP, 5000) },
};

function sourceHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://source.invalid');
  const hops = /^\/hop\/(\d)$/.exec(url.pathname);
  if (hops !== null) {
    const left = Number(hops[1]);
    // Absolute: camo resolves a relative Location against the host without its port.
    res.writeHead(302, { location: `http://${req.headers.host}${left > 1 ? `/hop/${left - 1}` : '/a.png'}` }).end();
    return;
  }
  const file = FILES[url.pathname];
  if (file === undefined) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': file.type, ...(file.chunked === true ? {} : { 'content-length': file.bytes.length }) });
  if (file.chunked === true) {
    res.write(file.bytes.subarray(0, 1000));
    res.end(file.bytes.subarray(1000));
  } else {
    res.end(file.bytes);
  }
}

describe('ecamo against Debian camo', { skip: unlessInstalled('camo') }, () => {
  let source: Source;
  let ecamo: Ecamo;
  let camo: Listening;
  let camoUrl: string;

  before(async () => {
    source = await startSource(sourceHandler);
    ecamo = await startEcamo({
      ECAMO_CAMO_KEY: KEY,
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${source.port}/`,
      ECAMO_MAX_LENGTH: String(LENGTH_LIMIT),
      ECAMO_MAX_REDIRECTS: String(MAX_REDIRECTS),
    });
    camo = await spawnListening(
      ['--no-deprecation', '--import', CAMO_PORT_REPORTER, CAMO_SERVER],
      { PORT: '0', CAMO_KEY: KEY, CAMO_LENGTH_LIMIT: String(LENGTH_LIMIT), CAMO_MAX_REDIRECTS: String(MAX_REDIRECTS), CAMO_LOGGING_ENABLED: 'disabled' },
      CAMO_LISTENING,
    );
    camoUrl = `http://127.0.0.1:${camo.match[1]}`;
  });

  after(async () => {
    await camo?.stop();
    await ecamo?.close();
    await source?.close();
  });

  const fromCamo = (path: string): Promise<Answer> => fetchAnswer(`${camoUrl}${path}`, { headers: BROWSER });
  const fromEcamo = (path: string): Promise<Answer> => fetchAnswer(`${ecamo.url}${path}`, { host: CANONICAL_HOST, headers: BROWSER });
  /** Requests that reached the source from ecamo (camo announces itself differently). */
  const ecamoRequests = (): number => source.requests.filter((req) => req.headers.via === '1.1 ecamo').length;

  it('serves the same status and bytes as camo for every URL camo serves, in both of camo\'s forms', async () => {
    const paths = [...Object.keys(FILES), '/hop/1', `/hop/${MAX_REDIRECTS}`];
    for (const path of paths) {
      const url = `http://127.0.0.1:${source.port}${path}?from=compat`;
      for (const [form, camoPathOf] of [['hex', camoPath], ['query', camoQueryPath]] as const) {
        const signed = camoPathOf(KEY, url);
        const [camoAnswer, ecamoAnswer] = [await fromCamo(signed), await fromEcamo(signed)];
        assert.equal(camoAnswer.status, 200, `camo serves ${path} (${form})`);
        assert.equal(ecamoAnswer.status, camoAnswer.status, `${path} (${form}): ${ecamoAnswer.header('x-ecamo-error')}`);
        assert.ok(ecamoAnswer.bytes.equals(camoAnswer.bytes), `${path} (${form}): same bytes`);
        assert.ok(ecamoAnswer.bytes.equals(FILES[path]?.bytes ?? FILES['/a.png']!.bytes), `${path} (${form}): the source's bytes`);
      }
      // go-camo's base64url form, which camo does not know: the same bytes again.
      const base64 = await fromEcamo(camoPath(KEY, url, 'base64'));
      assert.equal(base64.status, 200, `${path} (base64)`);
      assert.ok(base64.bytes.equals(FILES[path]?.bytes ?? FILES['/a.png']!.bytes), `${path} (base64)`);
    }
  });

  it('refuses what camo fetches from an address the operator did not allow; the source never hears from ecamo', async () => {
    const before = ecamoRequests();
    for (const host of ['localhost', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]']) {
      const signed = camoPath(KEY, `http://${host}:${source.port}/a.png`);
      const camoAnswer = await fromCamo(signed);
      assert.equal(camoAnswer.status, 200, `camo fetches from ${host}`);
      const ecamoAnswer = await fromEcamo(signed);
      assert.equal(ecamoAnswer.status, 403, host);
      assert.equal(ecamoAnswer.header('x-ecamo-error'), 'unallowed-source', host);
    }
    assert.equal(ecamoRequests(), before);
  });

  it('both refuse a wrong digest, camo with 404 and ecamo with 401 invalid-token', async () => {
    const signed = camoPath('another key', `http://127.0.0.1:${source.port}/a.png`);
    assert.equal((await fromCamo(signed)).status, 404);
    const refused = await fromEcamo(signed);
    assert.equal(refused.status, 401);
    assert.equal(refused.header('x-ecamo-error'), 'invalid-token');
  });

  it('adds what camo lacks to the same image: the sandboxing CSP and a parsed Content-Type', async () => {
    const signed = camoPath(KEY, `http://127.0.0.1:${source.port}/photo.jpg`);
    const [camoAnswer, ecamoAnswer] = [await fromCamo(signed), await fromEcamo(signed)];
    assert.equal(camoAnswer.header('content-type'), 'image/jpeg; charset=binary');
    assert.equal(ecamoAnswer.header('content-type'), 'image/jpeg');
    assert.doesNotMatch(camoAnswer.header('content-security-policy') ?? '', /sandbox/);
    assert.match(ecamoAnswer.header('content-security-policy') ?? '', /sandbox/);
  });
});
