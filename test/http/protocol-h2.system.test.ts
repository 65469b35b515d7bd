/**
 * The protocol suite again, over HTTP/2 with TLS: ecamo with ECAMO_TLS_CERT
 * and ECAMO_TLS_KEY, every request through a node:http2 client. The
 * transport is chosen before the suite (and the harness it imports) load;
 * the files share one ecamo and one source (test/helpers/protocol-world.ts).
 */
import { test } from 'node:test';
import { unlessInstalled } from '../helpers/programs.js';

const skip = unlessInstalled('openssl');
if (skip !== false) {
  test('the protocol suite over HTTP/2', { skip }, () => undefined);
} else {
  process.env.ECAMO_TEST_TRANSPORT = 'h2';
  await import('./protocol-endpoints.test.js');
  await import('./protocol-tokens.test.js');
  await import('./protocol-steps.test.js');
  await import('./protocol-fetch.test.js');
  await import('./protocol-response.test.js');
  await import('./protocol-errors-config.test.js');
}
