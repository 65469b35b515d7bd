/**
 * The protocol suite again, over HTTP/2 with TLS: ecamo with ECAMO_TLS_CERT
 * and ECAMO_TLS_KEY, every request through a node:http2 client. The
 * transport is chosen before the suite (and the harness it imports) load.
 */
process.env.ECAMO_TEST_TRANSPORT = 'h2';
await import('./protocol.test.js');
