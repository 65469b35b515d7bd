/**
 * What the log says when sources misbehave, as an operator reads it: a
 * resetting or stalling source is an expected failure, one line with the
 * reason and no stack trace, at every level.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CANONICAL_HOST, fetchAnswer, startEcamo, startSource, type Ecamo, type Source } from '../helpers/harness.js';
import { paddedPng } from '../helpers/images.js';
import { capturedLog, type LogLine } from '../helpers/log-lines.js';

let source: Source;
let ecamo: Ecamo;
let lines: LogLine[];

before(async () => {
  source = await startSource((req, res) => {
    switch (req.url) {
      // Mid-body: past the window ecamo reads before it answers.
      case '/reset-mid-body.png':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': 10_000 });
        res.write(paddedPng(5000), () => res.socket?.destroy());
        return;
      case '/stall-mid-body.png':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': 10_000 });
        res.write(paddedPng(5000));
        return;
      case '/stall-before-head.png':
        return;
      case '/reset-before-head.png':
        req.socket.destroy();
        return;
    }
  });
  const log = capturedLog('debug');
  lines = log.lines;
  ecamo = await startEcamo({ ECAMO_TIMEOUT: '1' }, { logger: log.logger });
});

after(async () => {
  await ecamo.close();
  await source.close();
});

test('resetting and stalling sources: every log line about them is one line without a stack', async () => {
  for (const path of ['/reset-mid-body.png', '/stall-mid-body.png', '/stall-before-head.png', '/reset-before-head.png']) {
    const answer = await fetchAnswer(`${ecamo.url}${await ecamo.proxyPath(`${source.origin}${path}`)}`, { host: CANONICAL_HOST }).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
    // Mid-body failures cut the response; the others are answered 502/504.
    if (!(answer instanceof Error)) assert.ok([502, 504].includes(answer.status), `${path}: ${answer.status}`);
  }
  while (lines.filter((line) => line.msg === 'access').length < 4) await new Promise((resolve) => setTimeout(resolve, 10));
  const aboutSources = lines.filter((line) => line.msg !== 'access');
  assert.ok(aboutSources.some((line) => line.level === 40), 'mid-body failures are warnings');
  for (const line of aboutSources) {
    const text = JSON.stringify(line);
    assert.doesNotMatch(text, /stack|\\n\s+at /, text);
    assert.equal(typeof line.reason, 'string', text);
  }
});
