/**
 * `ecamo inspect` against the server it describes: for a table of tokens at
 * the edges of the claim rules (docs/protocol.md, tokens and claims), the
 * verdict of inspect equals what a real ecamo answers when the token is
 * presented, and each row's expected outcome pins which side of the rule
 * the token is on.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, mock, test } from 'node:test';
import { inspectCommand } from '../../src/cli/inspect.js';
import { MAX_PROXY_TOKEN_LIFETIME_SECONDS } from '../../src/config/load.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { CLOCK_TOLERANCE_SECONDS, MAX_SERVICE_TOKEN_LIFETIME_SECONDS } from '../../src/tokens/jws.js';
import { CANONICAL_HOST, CANONICAL_ORIGIN, SERVICE_ORIGIN, startEcamo, type Ecamo, type Source } from '../helpers/harness.js';
import { derivedMacKey } from '../helpers/forgeries.js';
import { b64u, es256, jws, now } from '../helpers/hostile.js';
import { startImageSource } from '../helpers/wire.js';

let ecamo: Ecamo;
let source: Source;

before(async () => {
  [ecamo, source] = await Promise.all([startEcamo(), startImageSource()]);
});

after(async () => {
  await Promise.all([ecamo.close(), source.close()]);
});

type Kind = 'url-token' | 'auth-cookie' | 'proxy-token';

interface Row {
  readonly name: string;
  readonly kind: Kind;
  /** The payload's JSON text, given the time now: JSON.stringify cannot spell all of them (`1e400`). */
  readonly payload: (t: number) => string;
  /** null: accepted; else a reason inspect must give. */
  readonly refusal: RegExp | null;
  /** How the token is signed; default ES256 with the kind's key (any s). */
  readonly form?: Form;
}

/** HS256 under the key ecamo derives for proxy tokens, under the public JWK (algorithm confusion), or ES256 with a high s. */
type Form = 'ES256' | 'HS256' | 'HS256 keyed with the public JWK' | 'ES256 with a high s';

const LEEWAY = CLOCK_TOLERANCE_SECONDS;
const image = (): string => `${source.origin}/cat.png`;
const urlToken = (claims: Record<string, unknown>): string => JSON.stringify({ iss: SERVICE_ORIGIN, 'ecamo:url': image(), ...claims });
const cookie = (claims: Record<string, unknown>): string => JSON.stringify({ iss: SERVICE_ORIGIN, aud: CANONICAL_ORIGIN, ...claims });
const proxy = (claims: Record<string, unknown>): string =>
  JSON.stringify({ iss: 'ecamo:s', aud: 'ecamo:p', 'ecamo:svc': SERVICE_ORIGIN, 'ecamo:url': image(), 'ecamo:tok': false, ...claims });
/** `exp` as 1e400, which JSON.parse reads as Infinity. */
const INFINITE = 'INFINITE';
const infiniteExp = (json: string): string => json.replace(`"${INFINITE}"`, '1e400');

const ROWS: readonly Row[] = [
  { name: 'URL token without exp', kind: 'url-token', payload: () => urlToken({}), refusal: null },
  { name: 'URL token expired within the leeway', kind: 'url-token', payload: (t) => urlToken({ exp: t - LEEWAY / 2 }), refusal: null },
  { name: 'URL token expired beyond the leeway', kind: 'url-token', payload: (t) => urlToken({ exp: t - 60 }), refusal: /expired 60 s ago, more than the 10 s of clock leeway/ },
  { name: 'URL token with nbf within the leeway', kind: 'url-token', payload: (t) => urlToken({ nbf: t + LEEWAY / 2 }), refusal: null },
  { name: 'URL token with nbf in the future', kind: 'url-token', payload: (t) => urlToken({ nbf: t + 60 }), refusal: /not valid yet: nbf \S+Z \(in 60 s\)/ },
  { name: 'URL token from another iss', kind: 'url-token', payload: () => urlToken({ iss: 'http://blog.test' }), refusal: /wrong iss: the token says "http:\/\/blog\.test", ecamo would see the service origin http:\/\/wiki\.test/ },
  { name: 'URL token with an absurd exp', kind: 'url-token', payload: (t) => urlToken({ exp: t + MAX_SERVICE_TOKEN_LIFETIME_SECONDS + 86_400 }), refusal: /is further ahead than this kind of token ever lives \(3650 days\)/ },
  { name: 'URL token with exp 1e400', kind: 'url-token', payload: () => infiniteExp(urlToken({ exp: INFINITE })), refusal: /exp is Infinity, not a finite number/ },
  { name: 'URL token with exp as a string', kind: 'url-token', payload: (t) => urlToken({ exp: String(t + 60) }), refusal: /exp is "\d+", not a finite number/ },
  { name: 'URL token whose ecamo:url is a number', kind: 'url-token', payload: () => urlToken({ 'ecamo:url': 42 }), refusal: /token-deserialization: ecamo:url is not a string/ },
  { name: 'URL token with send-token "yes"', kind: 'url-token', payload: () => urlToken({ 'ecamo:send-token': 'yes' }), refusal: /ecamo:send-token is not a boolean/ },
  { name: 'auth cookie', kind: 'auth-cookie', payload: (t) => cookie({ exp: t + 300 }), refusal: null },
  { name: 'auth cookie for two audiences', kind: 'auth-cookie', payload: (t) => cookie({ aud: ['http://other.test', CANONICAL_ORIGIN], exp: t + 300 }), refusal: null },
  { name: 'auth cookie expired within the leeway', kind: 'auth-cookie', payload: (t) => cookie({ exp: t - LEEWAY / 2 }), refusal: null },
  { name: 'auth cookie expired beyond the leeway', kind: 'auth-cookie', payload: (t) => cookie({ exp: t - LEEWAY - 50 }), refusal: /expired 60 s ago/ },
  { name: 'auth cookie without exp', kind: 'auth-cookie', payload: () => cookie({}), refusal: /no exp claim, which this token must have/ },
  { name: 'auth cookie for another aud', kind: 'auth-cookie', payload: (t) => cookie({ aud: 'http://other.test', exp: t + 300 }), refusal: /wrong aud: the token is for "http:\/\/other\.test", ecamo's canonical origin is http:\/\/ecamo\.test/ },
  { name: 'auth cookie with an absurd exp and nbf ahead', kind: 'auth-cookie', payload: (t) => cookie({ nbf: t + 3600, exp: t + MAX_SERVICE_TOKEN_LIFETIME_SECONDS * 2 }), refusal: /not valid yet[\s\S]*further ahead/ },
  { name: 'proxy token', kind: 'proxy-token', payload: (t) => proxy({ iat: t, exp: t + 45 }), refusal: null },
  { name: 'proxy token expired within the leeway', kind: 'proxy-token', payload: (t) => proxy({ exp: t - LEEWAY / 2 }), refusal: null },
  { name: 'proxy token living longer than a proxy token can', kind: 'proxy-token', payload: (t) => proxy({ exp: t + MAX_PROXY_TOKEN_LIFETIME_SECONDS + 3600 }), refusal: /further ahead than this kind of token ever lives \(24 h\)/ },
  { name: 'proxy token without exp', kind: 'proxy-token', payload: () => proxy({}), refusal: /no exp claim/ },
  { name: 'proxy token from another iss', kind: 'proxy-token', payload: (t) => proxy({ iss: 'ecamo:x', exp: t + 45 }), refusal: /wrong iss: "ecamo:x", proxy tokens have "ecamo:s"/ },
  { name: 'proxy token for another aud', kind: 'proxy-token', payload: (t) => proxy({ aud: ['ecamo:q'], exp: t + 45 }), refusal: /wrong aud: \["ecamo:q"\], proxy tokens have "ecamo:p"/ },
  { name: 'proxy token with nbf in the future', kind: 'proxy-token', payload: (t) => proxy({ nbf: t + 60, exp: t + 120 }), refusal: /not valid yet/ },
  { name: 'proxy token without ecamo:svc', kind: 'proxy-token', payload: (t) => proxy({ exp: t + 45, 'ecamo:svc': undefined }), refusal: /invalid-token: proxy token claims have the wrong types/ },
  { name: 'proxy token MACed (HS256), as ecamo mints it', kind: 'proxy-token', form: 'HS256', payload: (t) => proxy({ iat: t, exp: t + 45 }), refusal: null },
  { name: 'HS256 proxy token expired beyond the leeway', kind: 'proxy-token', form: 'HS256', payload: (t) => proxy({ exp: t - 60 }), refusal: /expired 60 s ago/ },
  { name: 'HS256 proxy token keyed with the public JWK', kind: 'proxy-token', form: 'HS256 keyed with the public JWK', payload: (t) => proxy({ exp: t + 45 }), refusal: /bad signature: not signed by the key "ecamo-1" of ECAMO_PRIVATE_KEYS/ },
  { name: 'ES256 proxy token with a high s, as the reference server mints half of them', kind: 'proxy-token', form: 'ES256 with a high s', payload: (t) => proxy({ exp: t + 45 }), refusal: null },
  { name: 'URL token MACed (HS256) like a proxy token', kind: 'url-token', form: 'HS256', payload: () => urlToken({}), refusal: /invalid-token: alg HS256 is not allowed/ },
  { name: 'auth cookie MACed (HS256) like a proxy token', kind: 'auth-cookie', form: 'HS256', payload: (t) => cookie({ exp: t + 300 }), refusal: /invalid-token: alg HS256 is not allowed/ },
];

const HALF_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n / 2n;

function sign(kind: Kind, json: string, form: Form = 'ES256'): string {
  const key = kind === 'proxy-token' ? ecamo.ecamoKey : ecamo.serviceKey;
  const payload = { segment: b64u(json) };
  switch (form) {
    case 'ES256':
      return jws({ alg: 'ES256', kid: key.kid }, payload, (input) => es256(key.privateJwk, input));
    case 'HS256':
      return jws({ alg: 'HS256', kid: key.kid }, payload, (input) => createHmac('sha256', derivedMacKey(key)).update(input).digest());
    case 'HS256 keyed with the public JWK':
      return jws({ alg: 'HS256', kid: key.kid }, payload, (input) => createHmac('sha256', JSON.stringify(key.publicJwk)).update(input).digest());
    case 'ES256 with a high s': {
      // Half of all signatures have a high s: sign until one does.
      let token: string;
      do token = jws({ alg: 'ES256', kid: key.kid }, payload, (input) => es256(key.privateJwk, input));
      while (BigInt(`0x${Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url').subarray(32).toString('hex')}`) <= HALF_ORDER);
      return token;
    }
  }
}

/** What the running ecamo answers to the token where a browser would present it: accepted, or the error code. */
async function serverAnswer(kind: Kind, token: string): Promise<string> {
  let status: number;
  let error: string | undefined;
  if (kind === 'proxy-token') {
    const answer = await ecamo.get(`/${ecamo.config.prefix}/v1/p/${urlDigest(image())}?t=${token}`, { host: CANONICAL_HOST });
    [status, error] = [answer.status, answer.header('x-ecamo-error')];
    if (status === 200) return 'accepted';
  } else {
    const [path, cookieValue] = kind === 'url-token' ? [`/${ecamo.config.prefix}/v1/r/${token}`, ecamo.cookie] : [await ecamo.signer.url(image()), `ecamo_token=${token}`];
    const answer = await ecamo.get(path, { headers: { cookie: cookieValue } });
    [status, error] = [answer.status, answer.header('x-ecamo-error')];
    if (status === 302 && answer.header('location')?.startsWith(`${CANONICAL_ORIGIN}/`) === true) return 'accepted';
  }
  assert.ok(status >= 400 && status < 500 && error !== undefined, `a refusal is a 4xx with x-ecamo-error, got ${status}`);
  return `refused (${error})`;
}

/** inspect as an operator would run it for these requests: with the server's environment, for the service host they came from. */
async function inspectVerdict(kind: Kind, token: string): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await inspectCommand([token, ...(kind === 'proxy-token' ? [] : ['--service-origin', SERVICE_ORIGIN])], ecamo.env, (text) => (out += text));
  return { code, out };
}

describe('inspect says what the server does', () => {
  for (const row of ROWS) {
    test(row.name, async (t) => {
      // One frozen second for signing, the server and inspect: a second ticking between them would shift "in 60 s" to "in 59 s".
      mock.timers.enable({ apis: ['Date'], now: now() * 1000 });
      t.after(() => mock.timers.reset());
      const token = sign(row.kind, row.payload(now()), row.form);
      const [server, inspected] = await Promise.all([serverAnswer(row.kind, token), inspectVerdict(row.kind, token)]);
      assert.match(inspected.out, new RegExp(`^kind: ${{ 'url-token': 'URL token', 'auth-cookie': 'authorisation cookie', 'proxy-token': 'proxy token' }[row.kind]}`));
      assert.equal(inspected.code === 0 ? 'accepted' : 'refused', server.startsWith('refused') ? 'refused' : 'accepted', `server: ${server}; inspect:\n${inspected.out}`);
      if (row.refusal === null) {
        assert.equal(server, 'accepted');
        assert.match(inspected.out, /verdict: accepted/);
      } else {
        assert.match(server, /^refused/);
        assert.match(inspected.out, /verdict: rejected\n/);
        assert.match(inspected.out, row.refusal);
      }
    });
  }
});
