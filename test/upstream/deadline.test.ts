/**
 * The whole-fetch deadline (src/upstream/deadline.ts): each passes at its own
 * time, in the order set, stopping the exchange it governs, unless cleared;
 * a fetch abandoned stops what it governs at once. End to end (a source that
 * stalls past ECAMO_TIMEOUT) in test/upstream/exchange.test.ts and
 * test/cache/coalescing.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EcamoError } from '../../src/errors.js';
import { AbandonedError, Deadline } from '../../src/upstream/deadline.js';

/** An exchange that records, in `log`, its name when it is stopped. */
function watched(name: string, log: string[]): { stop(reason: Error): void; stopped: Promise<Error> } {
  let told: (reason: Error) => void = () => {};
  const stopped = new Promise<Error>((resolve) => (told = resolve));
  return {
    stop: (reason) => {
      log.push(name);
      told(reason);
    },
    stopped,
  };
}

describe('the whole-fetch deadline', () => {
  test('deadlines of one length pass in the order set, as 504 source-request, and those cleared never', async () => {
    const log: string[] = [];
    const kept: { stopped: Promise<Error> }[] = [];
    let previous: Deadline | undefined;
    for (let index = 0; index < 6; index++) {
      const deadline = new Deadline(30);
      const exchange = watched(`deadline ${index}`, log);
      deadline.govern(exchange);
      // Every other one, the first included, ends in time, while the next runs.
      if (previous !== undefined) previous.clear();
      previous = undefined;
      if (index % 2 === 0) previous = deadline;
      else kept.push(exchange);
    }
    for (const reason of await Promise.all(kept.map((exchange) => exchange.stopped))) {
      assert.ok(reason instanceof EcamoError && reason.code === 'source-request' && reason.status === 504, String(reason));
    }
    // A later deadline of the same length passes after all of these: none of the cleared ones was stopped before it.
    const last = new Deadline(30);
    const lastExchange = watched('last', log);
    last.govern(lastExchange);
    await lastExchange.stopped;
    assert.deepEqual(log, ['deadline 1', 'deadline 3', 'deadline 5', 'last']);
  });

  test('deadlines of other lengths keep their own times: a short one set after a long one passes first', async () => {
    const log: string[] = [];
    const [long, short] = [new Deadline(60_000), new Deadline(10)];
    const [slow, quick] = [watched('long', log), watched('short', log)];
    long.govern(slow);
    short.govern(quick);
    await quick.stopped;
    assert.deepEqual(log, ['short']);
    long.clear();
  });

  test('an abandoned fetch stops at once, and an exchange governed later is stopped as it starts', async () => {
    const log: string[] = [];
    const deadline = new Deadline(60_000);
    const current = watched('current', log);
    deadline.govern(current);
    deadline.abandon();
    assert.ok((await current.stopped) instanceof AbandonedError);
    const next = watched('next', log);
    deadline.govern(next);
    assert.ok((await next.stopped) instanceof AbandonedError);
    deadline.clear();
    assert.deepEqual(log, ['current', 'next']);
  });
});
