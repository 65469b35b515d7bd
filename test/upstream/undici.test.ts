/**
 * src/upstream/undici.ts requires Agent and buildConnector from undici's own
 * files, which an update of undici may move: they must be the very functions
 * undici's index exports.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as undici from 'undici';
import { Agent, buildConnector } from '../../src/upstream/undici.js';

test("Agent and buildConnector are undici's own", () => {
  assert.equal(Agent, undici.Agent);
  assert.equal(buildConnector, undici.buildConnector);
});
