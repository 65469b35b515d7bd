/**
 * sendError (src/http/respond.ts), the one way every listener refuses, on a
 * real node:http server on 127.0.0.1: a refusal after the head went out (a
 * failure mid-body) cuts the response where it was instead of writing a
 * second head or throwing.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { EcamoError } from '../../src/errors.js';
import { sendError } from '../../src/http/respond.js';
import { fetchCutOff } from '../helpers/harness.js';

let server: http.Server;
let origin: string;

before(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/after-head') {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 10 });
      // Once the head and the first bytes are on their way, as when a source fails mid-body.
      res.write('01234', () => sendError(res, new EcamoError('source-request', 'failed mid-body')));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test('a refusal after the head went out: the response is cut where it was, with no second head', { timeout: 10_000 }, async () => {
  const received = await fetchCutOff(`${origin}/after-head`, 'ecamo.test');
  assert.equal(received.status, 200);
  assert.equal(received.bytes.toString('latin1'), '01234');
  assert.equal(received.complete, false);
});
