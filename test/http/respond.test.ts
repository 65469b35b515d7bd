/**
 * sendError (src/http/respond.ts), the one way every listener refuses, on a
 * real node:http server on 127.0.0.1: a refusal after the head went out (a
 * failure mid-body) cuts the response where it was instead of writing a
 * second head or throwing. logRefusal, the one way every listener logs one,
 * for every code of the registry through a real pino logger.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { EcamoError, ERROR_CODES, errorAnswer } from '../../src/errors.js';
import { logRefusal, sendError } from '../../src/http/respond.js';
import { ThrottledLog } from '../../src/log.js';
import { fetchCutOff } from '../helpers/harness.js';
import { capturedLog, type LogLine } from '../helpers/log-lines.js';

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

describe('logRefusal: what a refusal writes besides its access line, as its row in the registry says', () => {
  const reasonOnly = (line: LogLine): boolean => line.err === undefined && typeof line.reason === 'string' && !JSON.stringify(line).includes('    at ');

  for (const code of ERROR_CODES) {
    const { log } = errorAnswer(code);
    test(`${code}: ${log}`, () => {
      const atDebug = capturedLog('debug');
      const atInfo = capturedLog('info');
      const noted: number[] = [];
      const outOfDescriptors = new ThrottledLog(60_000, (occurrences) => noted.push(occurrences));
      const bug = new TypeError('a bug');
      const error = new EcamoError(...([code, `refused for the test`, { cause: bug }] as ConstructorParameters<typeof EcamoError>));
      logRefusal(atDebug.logger, error, outOfDescriptors);
      logRefusal(atInfo.logger, error, outOfDescriptors);
      const [line, ...more] = atDebug.lines;
      assert.equal(more.length, 0, JSON.stringify(atDebug.lines));
      assert.ok(line !== undefined);
      switch (log) {
        case 'debug':
        case 'throttled-error':
          assert.equal(line.level, 20);
          assert.equal(line.code, code);
          assert.ok(reasonOnly(line), JSON.stringify(line));
          assert.deepEqual(atInfo.lines, [], 'nothing above debug');
          assert.deepEqual(noted, log === 'throttled-error' ? [1] : [], 'the once-per-interval error line');
          break;
        case 'warn':
          assert.equal(line.level, 40);
          assert.equal(line.code, code);
          assert.ok(reasonOnly(line), JSON.stringify(line));
          assert.deepEqual(atInfo.lines.map(({ level, code, reason, msg }) => ({ level, code, reason, msg })), [{ level: 40, code, reason: line.reason, msg: line.msg }]);
          break;
        case 'stack':
          assert.equal(line.level, 50);
          assert.match((line.err as { stack: string }).stack, /^TypeError: a bug\n\s+at /, 'the stack of what was thrown');
          assert.equal(atInfo.lines.length, 1);
          break;
      }
    });
  }
});
