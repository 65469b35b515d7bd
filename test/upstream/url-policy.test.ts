/** The operator's allow/block regexps for the first source URL. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EcamoError } from '../../src/errors.js';
import { assertSourceAllowed, type SourcePolicy } from '../../src/upstream/url-policy.js';

function refusedBy(policy: SourcePolicy, url: string): void {
  assert.throws(
    () => assertSourceAllowed(url, policy),
    (error: unknown) => error instanceof EcamoError && error.code === 'unallowed-source' && error.status === 403,
    url,
  );
}

const open: SourcePolicy = { sourceAllowedRegexp: undefined, sourceBlockedRegexp: undefined };

test('no regexps: every URL passes', () => {
  for (const url of ['https://img.example/a.png', 'http://127.0.0.1:8080/x', 'http://[::1]/']) assertSourceAllowed(url, open);
});

test('allow-list: only matching URLs pass', () => {
  const policy: SourcePolicy = { sourceAllowedRegexp: new RegExp('^https://img\\.example/', 'u'), sourceBlockedRegexp: undefined };
  assertSourceAllowed('https://img.example/a.png', policy);
  refusedBy(policy, 'http://img.example/a.png');
  // Look-alike hosts: the trailing slash of the regexp keeps them out.
  refusedBy(policy, 'https://img.example.evil.test/a.png');
  refusedBy(policy, 'https://img.example@evil.test/a.png');
  refusedBy(policy, 'https://evil.test/https://img.example/a.png');
});

test('block-list: matching URLs are refused, others pass', () => {
  const policy: SourcePolicy = { sourceAllowedRegexp: undefined, sourceBlockedRegexp: new RegExp('^https?://internal\\.', 'u') };
  assertSourceAllowed('https://img.example/a.png', policy);
  refusedBy(policy, 'https://internal.corp.example/a.png');
  refusedBy(policy, 'http://internal.corp.example/a.png');
});

test('both: the block-list wins over the allow-list', () => {
  const policy: SourcePolicy = {
    sourceAllowedRegexp: new RegExp('^https://[^/]*\\.example/', 'u'),
    sourceBlockedRegexp: new RegExp('^https://secret\\.example/', 'u'),
  };
  assertSourceAllowed('https://img.example/a.png', policy);
  refusedBy(policy, 'https://secret.example/a.png');
  refusedBy(policy, 'https://img.other/a.png');
});

test('the regexp sees the URL exactly as given (callers pass the normalised href)', () => {
  const policy: SourcePolicy = { sourceAllowedRegexp: new RegExp('^https://img\\.example/', 'u'), sourceBlockedRegexp: undefined };
  // Un-normalised spellings do not match; the normalised href does.
  refusedBy(policy, 'HTTPS://IMG.EXAMPLE/a.png');
  assertSourceAllowed(new URL('HTTPS://IMG.EXAMPLE/a.png').href, policy);
});

test('the same policy object answers the same way every time', () => {
  const policy: SourcePolicy = { sourceAllowedRegexp: new RegExp('^https://img\\.example/', 'u'), sourceBlockedRegexp: new RegExp('\\.svg$', 'u') };
  for (let i = 0; i < 3; i++) {
    assertSourceAllowed('https://img.example/a.png', policy);
    refusedBy(policy, 'https://img.example/a.svg');
  }
});
