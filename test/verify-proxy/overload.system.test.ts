/**
 * `ecamo verify-proxy` out of file descriptors, for real: under `ulimit -n
 * 64`, its descriptors taken by held client connections. The upstream
 * connection it then cannot open is an overload of this host (503
 * `overloaded`, one error line per interval), not an unreachable upstream.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signIdToken } from '../../src/tokens/id-token.js';
import { CANONICAL_ORIGIN, SERVICE_ORIGIN, startEcamo, startSource } from '../helpers/harness.js';
import { RawConnection } from '../helpers/raw-client.js';
import { CLI, spawnListening, startJwksRelay } from '../helpers/wire.js';

const AUDIENCE = 'http://img.test';

test('verify-proxy: EMFILE on the upstream connection is 503 overloaded, logged once per interval; it serves again once descriptors are free', { timeout: 60_000 }, async (t) => {
  const ecamo = await startEcamo();
  const relay = await startJwksRelay(ecamo);
  // Connection: close, so that every request needs a new upstream connection (none waits in undici's pool).
  const upstream = await startSource((_req, res) => res.writeHead(200, { 'content-type': 'image/png', 'content-length': 4, connection: 'close' }).end('png!'));
  const proxy = await spawnListening(
    ['-c', 'ulimit -n 64; exec "$0" "$@"', process.execPath, CLI, 'verify-proxy',
      '--upstream', `${upstream.origin}/`, '--audience', AUDIENCE, '--ecamo-origin', CANONICAL_ORIGIN, '--jwks-url', relay.url, '--listen', '127.0.0.1:0'],
    { ECAMO_LOG_LEVEL: 'info' },
    /"url":"http:\/\/127\.0\.0\.1:(\d+)".*"msg":"verify-proxy listening"/,
    { command: 'sh' },
  );
  const held: RawConnection[] = [];
  t.after(async () => {
    for (const connection of held) connection.close();
    await proxy.stop();
    await Promise.all([ecamo.close(), relay.close(), upstream.close()]);
  });
  const port = Number(proxy.match[1]);
  const bearer = async (): Promise<string> =>
    `authorization: Bearer ${await signIdToken({ canonicalOrigin: CANONICAL_ORIGIN, sourceOrigin: AUDIENCE, serviceOrigin: SERVICE_ORIGIN }, ecamo.config.ecamoKeys.signing, 45)}`;
  const get = async (connection: RawConnection, extra: string[] = []): Promise<{ status: number; error: string | undefined }> => {
    connection.get('/img.png', 'img.test', extra);
    const head = await connection.readHead();
    await connection.readBody(Number(head.headers['content-length'] ?? 0));
    return { status: head.status, error: head.headers['x-ecamo-error'] };
  };

  // Once with a token while descriptors are plenty: the keys are fetched and kept.
  const first = await RawConnection.open(port);
  assert.equal((await get(first, [await bearer(), 'connection: close'])).status, 200);
  first.close();

  // Take descriptors (with requests refused at once, 401) until the proxy can accept no more.
  for (;;) {
    const connection = await RawConnection.open(port);
    try {
      assert.equal((await get(connection)).status, 401);
    } catch {
      connection.close();
      break;
    }
    held.push(connection);
    assert.ok(held.length < 64, 'the proxy accepted more connections than it has descriptors');
  }
  for (const connection of held.slice(0, 2)) assert.deepEqual(await get(connection, [await bearer()]), { status: 503, error: 'overloaded' });
  // The log reaches this process on its own time, after the answers. The proxy writes each 503's access line
  // after any error line that request caused (one stream, in order): once both are here, the count is complete.
  await proxy.waitFor((output) => output.split('\n').filter((line) => line.includes('"status":503') && line.includes('"msg":"access"')).length >= 2);
  const errors = proxy.output().split('\n').filter((line) => line.includes('"level":50'));
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0]!, /out of file descriptors/);

  for (const connection of held.splice(0)) connection.close();
  for (;;) {
    try {
      const connection = await RawConnection.open(port);
      const answer = await get(connection, [await bearer(), 'connection: close']);
      connection.close();
      if (answer.status === 200) break;
      assert.equal(answer.error, 'overloaded');
    } catch {
      // Accepted and closed while still out of descriptors.
    }
  }
});
