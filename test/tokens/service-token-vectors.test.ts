/**
 * docs/protocol.md §4.6: the service-signed test vectors, read from the
 * document, verified by ecamo's own verifiers (on a clock set to the vectors'
 * `validAt`), and the URL's digest is §5's vector.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { loadServicePublicKeys } from '../../src/config/keys.js';
import { EcamoError } from '../../src/errors.js';
import { verifyAuthCookie } from '../../src/tokens/auth-cookie.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { verifyUrlToken } from '../../src/tokens/url-token.js';

interface Vectors {
  readonly serviceOrigin: string;
  readonly canonicalOrigin: string;
  readonly kid: string;
  readonly publicJwk: object;
  readonly urlToken: string;
  readonly urlTokenClaims: { readonly 'ecamo:url': string; readonly 'ecamo:send-token': boolean };
  readonly authCookie: string;
  readonly authCookieClaims: { readonly exp: number };
  readonly validAt: number;
}

const PROTOCOL = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');

function section(heading: string): string {
  const text = new RegExp(`^### ${heading}\\n([\\s\\S]*?)^##`, 'm').exec(PROTOCOL)?.[1];
  assert.ok(text !== undefined, `docs/protocol.md has ${heading}`);
  return text;
}

const vectors = JSON.parse(/```json\n([\s\S]*?)```/.exec(section('4\\.6 Test vectors: service-signed tokens'))?.[1] ?? '') as Vectors;
/** §5: "`{url}` gives `{digest}`". */
const digestVector = /`(http[^`]+)` gives\s+`([A-Za-z0-9_-]{64})`/.exec(PROTOCOL);

describe('docs/protocol.md §4.6 service-signed token vectors', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: vectors.validAt * 1000 }));
  afterEach(() => mock.timers.reset());

  const keys = () => loadServicePublicKeys('vectors', JSON.stringify({ [`${vectors.serviceOrigin} ${vectors.kid}`]: vectors.publicJwk }));

  test('the URL token verifies for its service origin, with the claims listed', async () => {
    const claims = await verifyUrlToken(vectors.urlToken, vectors.serviceOrigin, await keys());
    assert.deepEqual(claims, { url: vectors.urlTokenClaims['ecamo:url'], sendToken: vectors.urlTokenClaims['ecamo:send-token'], exp: undefined });
  });

  test('the authorisation cookie verifies at validAt, and not once it has expired', async () => {
    const serviceKeys = await keys();
    assert.equal(await verifyAuthCookie(vectors.authCookie, vectors.serviceOrigin, vectors.canonicalOrigin, serviceKeys), vectors.authCookieClaims.exp);
    mock.timers.setTime((vectors.authCookieClaims.exp + 60) * 1000);
    await assert.rejects(verifyAuthCookie(vectors.authCookie, vectors.serviceOrigin, vectors.canonicalOrigin, serviceKeys), (error: unknown) => error instanceof EcamoError && error.code === 'jwt');
  });

  test('another service origin refuses both', async () => {
    const serviceKeys = await keys();
    await assert.rejects(verifyUrlToken(vectors.urlToken, 'https://other.example', serviceKeys), EcamoError);
    await assert.rejects(verifyAuthCookie(vectors.authCookie, 'https://other.example', vectors.canonicalOrigin, serviceKeys), EcamoError);
  });

  test("the URL token's source URL has §5's digest", () => {
    assert.ok(digestVector !== null, 'docs/protocol.md §5 has a digest vector');
    assert.equal(digestVector[1], vectors.urlTokenClaims['ecamo:url']);
    assert.equal(urlDigest(vectors.urlTokenClaims['ecamo:url']), digestVector[2]);
  });
});
