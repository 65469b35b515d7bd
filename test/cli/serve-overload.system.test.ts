/**
 * Out of file descriptors: a real `ecamo serve` under `ulimit -n 64`, its
 * descriptors taken by held client connections. A source fetch then cannot
 * open a socket; that is an overload (503 `overloaded`, logged at error
 * level once per interval), not a broken source, and ecamo recovers.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { RawConnection } from '../helpers/raw-client.js';
import { serveKeys, spawnServe } from '../helpers/serve-process.js';
import { PNG } from '../helpers/images.js';

const CANONICAL_HOST = 'ecamo.test';

test('EMFILE on a source connection: 503 overloaded, one error line per interval, and service resumes once descriptors are free', { timeout: 60_000 }, async (t) => {
  const source = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length }).end(PNG));
  await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve));
  const sourceUrl = `http://127.0.0.1:${(source.address() as AddressInfo).port}/img.png`;
  const keys = await serveKeys();
  const served = spawnServe(
    { ...keys.env, ECAMO_CANONICAL_HOST: CANONICAL_HOST, ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://127\\.0\\.0\\.1:' },
    { shell: 'ulimit -n 64' },
  );
  const held: RawConnection[] = [];
  t.after(async () => {
    for (const connection of held) connection.close();
    await served.kill();
    source.closeAllConnections();
    source.close();
  });
  const [listening] = await served.waitFor((line) => line.msg === 'ecamo listening');
  const port = Number(new URL(String(listening!.url)).port);
  const path = await keys.proxyPath(sourceUrl);

  // Take descriptors until ecamo can accept no more (it then closes what it cannot keep).
  for (;;) {
    const connection = await RawConnection.open(port);
    connection.get('/healthz', CANONICAL_HOST);
    try {
      assert.equal((await connection.readHead()).status, 200);
      assert.equal(await connection.readBody(2), 'ok');
    } catch {
      connection.close();
      break;
    }
    held.push(connection);
    assert.ok(held.length < 64, 'ecamo accepted more connections than it has descriptors');
  }

  for (const connection of held.slice(0, 2)) {
    connection.get(path, CANONICAL_HOST);
    const head = await connection.readHead();
    assert.equal(head.status, 503);
    assert.equal(head.headers['x-ecamo-error'], 'overloaded');
    await connection.readBody(Number(head.headers['content-length']));
  }
  // The log reaches this process on its own time, after the answers. ecamo writes each 503's access line after
  // any error line that request caused (one stream, in order): once both are here, the count is complete.
  await served.waitFor((line) => line.msg === 'access' && line.status === 503, 2);
  const errors = served.lines.filter((line) => line.level === 50);
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.match(String(errors[0]!.msg), /file descriptors/);

  for (const connection of held.splice(0)) connection.close();
  // The server notices the closed connections on its own time; retry on a fresh connection until it has room.
  for (;;) {
    try {
      const connection = await RawConnection.open(port);
      connection.get(path, CANONICAL_HOST, ['connection: close']);
      const head = await connection.readHead();
      connection.close();
      if (head.status === 200) break;
      assert.equal(head.headers['x-ecamo-error'], 'overloaded');
    } catch {
      // Accepted and closed while still out of descriptors.
    }
  }
  assert.equal(served.child.exitCode, null, 'ecamo is still running');
});
