/**
 * The registry of src/errors.ts walked row by row: the rules every code obeys
 * whatever its number (what a client may be answered, what quarantine may
 * count, what may reach the log above `debug`), and that a call site can name
 * only codes and variants that exist.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countsTowardQuarantine, EcamoError, ERROR_CODES, errorAnswer, errorStatus, refusesAuthentication, SourceResponseError } from '../src/errors.js';
import { IdTokenError, type IdTokenErrorCode } from '../src/verify/index.js';

/** Every code the SDK can refuse an ID token with; a Record, so that the compiler says when one is missing. */
const ID_TOKEN_CODES: Readonly<Record<IdTokenErrorCode, true>> = {
  'missing-token': true,
  'invalid-token': true,
  expired: true,
  'wrong-audience': true,
  replayed: true,
  'unknown-key': true,
  'jwks-unavailable': true,
};

const statusClass = (status: number): number => Math.floor(status / 100);

describe('the error registry', () => {
  it('answers every code, in each of its variants, with a 4xx or 5xx, and 500 only for a bug', () => {
    const wrong: string[] = [];
    for (const code of ERROR_CODES) {
      const { status, variants } = errorAnswer(code);
      for (const [variant, variantStatus] of [['', status] as const, ...Object.entries(variants)]) {
        if (![4, 5].includes(statusClass(variantStatus))) wrong.push(`${code} ${variant}: ${variantStatus}`);
        if (variantStatus === 500 && code !== 'unknown') wrong.push(`${code} ${variant}: 500 is for bugs`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it("keeps a code's variants in its class (the client's fault stays 4xx, trouble stays 5xx), each a status of its own", () => {
    const wrong: string[] = [];
    for (const code of ERROR_CODES) {
      const { status, variants } = errorAnswer(code);
      for (const [variant, variantStatus] of Object.entries(variants)) {
        if (statusClass(variantStatus) !== statusClass(status)) wrong.push(`${code} ${variant}: ${variantStatus} beside ${status}`);
        if (variantStatus === status) wrong.push(`${code} ${variant}: the same status as the code`);
      }
    }
    assert.deepEqual(wrong, []);
    // The two codes whose status depends on more than the code.
    assert.deepEqual([errorStatus('source-request'), errorStatus('source-request', 'timeout')], [502, 504]);
    assert.deepEqual([errorStatus('bad-request'), errorStatus('bad-request', 'head-too-large')], [400, 431]);
  });

  it('lets quarantine count only credentials the client presented and ecamo refused: 400 or 401, never policy or trouble', () => {
    const counted = ERROR_CODES.filter(countsTowardQuarantine);
    assert.ok(counted.length > 0);
    const wrong = counted.filter((code) => {
      const answer = errorAnswer(code);
      return ![400, 401].includes(answer.status) || Object.keys(answer.variants).length > 0 || answer.log !== 'debug';
    });
    assert.deepEqual(wrong, []);
    // Every credential ecamo reads and refuses (401) counts, except the ID token refusals of verify-proxy, which keeps no quarantine.
    const uncountedRefusals = ERROR_CODES.filter((code) => refusesAuthentication(code) && !countsTowardQuarantine(code));
    assert.deepEqual(
      uncountedRefusals.filter((code) => !(code in ID_TOKEN_CODES)),
      [],
    );
  });

  it('names the scheme with every 401, and only there; a 405 names the methods', () => {
    const wrong: string[] = [];
    for (const code of ERROR_CODES) {
      const { status, headers } = errorAnswer(code);
      if ((status === 401) !== (headers['www-authenticate'] !== undefined)) wrong.push(`${code}: ${status} ${JSON.stringify(headers)}`);
      if ((status === 405) !== (headers.allow !== undefined)) wrong.push(`${code}: ${status} ${JSON.stringify(headers)}`);
    }
    assert.deepEqual(wrong, []);
  });

  it("logs a client's refusal at debug only; above debug only trouble of ecamo's own or of servers the operator runs, and a stack only for a bug", () => {
    const wrong: string[] = [];
    for (const code of ERROR_CODES) {
      const { status, log } = errorAnswer(code);
      if (statusClass(status) === 4 && log !== 'debug') wrong.push(`${code}: ${status} logged ${log}`);
      if ((log === 'stack') !== (status === 500)) wrong.push(`${code}: ${status} logged ${log}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('agrees with the status the SDK gives each ID token refusal (ecamo/verify keeps its own copy)', () => {
    const disagreeing = (Object.keys(ID_TOKEN_CODES) as IdTokenErrorCode[])
      .map((code) => [code, new IdTokenError(code, 'refused').status, errorStatus(code)] as const)
      .filter(([, sdk, registry]) => sdk !== registry);
    assert.deepEqual(disagreeing, []);
  });

  it("relays a source's error status as data, and turns any other into the code's own", () => {
    for (const sourceStatus of [400, 404, 410, 429, 500, 503, 599]) {
      const relayed = new SourceResponseError(sourceStatus);
      assert.deepEqual([relayed.code, relayed.status, relayed.body], ['source-response', sourceStatus, `${sourceStatus} (from upstream)`]);
    }
    for (const sourceStatus of [201, 204, 304, 399, 600]) {
      const converted = new SourceResponseError(sourceStatus);
      assert.deepEqual([converted.status, converted.body], [errorStatus('source-response'), `${sourceStatus} (from upstream, converted to 400)`]);
    }
  });

  it('builds an error of a code and variant with their status; a code or variant that does not exist does not compile', () => {
    assert.equal(new EcamoError('source-request', 'timed out', { variant: 'timeout' }).status, 504);
    assert.equal(new EcamoError('not-found').status, 404);
    // @ts-expect-error: not-found has no variants
    assert.equal(new EcamoError('not-found', 'no', { variant: 'timeout' }).status, 404);
    // @ts-expect-error: bad-request's variant is head-too-large
    assert.equal(new EcamoError('bad-request', 'no', { variant: 'timeout' }).status, 400);
    // @ts-expect-error: no such code
    assert.throws(() => new EcamoError('gone', 'no'), TypeError);
  });
});
