/**
 * A client that does not finish sending its request in time gets 408 with
 * `x-ecamo-error: request-timeout`, not a 400 that blames its syntax.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, test } from 'node:test';
import { startEcamo, type Ecamo } from '../helpers/harness.js';
import { RawConnection } from '../helpers/raw-client.js';

let ecamo: Ecamo;

before(async () => {
  ecamo = await startEcamo();
  // Node's own knobs on the real server, shortened so that the test need not wait ecamo's 30 s.
  const server = ecamo.server.server as http.Server;
  server.headersTimeout = 200;
  server.requestTimeout = 400;
});

after(() => ecamo.close());

test('headers that never end: 408 request-timeout, and the connection closes', async () => {
  const connection = await RawConnection.open(ecamo.server.port);
  connection.socket.write('GET /healthz HTTP/1.1\r\nhost: ecamo.test\r\n');
  const head = await connection.readHead();
  assert.equal(head.status, 408);
  assert.equal(head.headers['x-ecamo-error'], 'request-timeout');
  assert.equal(head.headers.connection, 'close');
  assert.equal(await connection.readBody(Number(head.headers['content-length'])), 'Error: request-timeout');
  await connection.closed;
});
