/**
 * `ecamo inspect` on camo-format URLs: the decoded source URL, which key's
 * HMAC the URL carries, and a verdict equal to what a real ecamo answers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { inspectCommand } from '../../src/cli/inspect.js';
import { camoUrl } from '../../src/signer/index.js';
import { CANONICAL_HOST, startEcamo, type Ecamo, type Source } from '../helpers/harness.js';
import { runCli, startImageSource } from '../helpers/wire.js';

const NEW_KEY = 'camo-key-2026';
const OLD_KEY = 'camo-key-2025';

let ecamo: Ecamo;
let withoutCamo: Ecamo;
let source: Source;

before(async () => {
  [ecamo, withoutCamo, source] = await Promise.all([
    startEcamo({ ECAMO_CAMO_KEY: `${NEW_KEY},${OLD_KEY}`, ECAMO_SOURCE_BLOCKED_REGEXP: '/blocked\\.png$' }),
    startEcamo(),
    startImageSource(),
  ]);
});

after(async () => {
  await Promise.all([ecamo.close(), withoutCamo.close(), source.close()]);
});

async function inspect(args: string[], env: Readonly<Record<string, string>> = ecamo.env): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await inspectCommand(args, env, (text) => (out += text));
  return { code, out };
}

/** What `server` answers to the camo path on its canonical host (or `host`): accepted (200), or the error code. */
async function serverAnswer(path: string, server = ecamo, host = CANONICAL_HOST): Promise<string> {
  const answer = await server.get(path, { host });
  return answer.status === 200 ? 'accepted' : `${answer.status} ${answer.header('x-ecamo-error') ?? ''}`;
}

describe('inspect on camo URLs', () => {
  test('the three forms, signed with the newest or an older key: decoded, the key named, accepted as by ecamo', async () => {
    // As signers send it: camoUrl signs the WHATWG serialisation (日本 percent-encoded).
    const image = new URL(`${source.origin}/cat.png?size=large&lang=日本`).href;
    const hex = await camoUrl(NEW_KEY, image);
    const base64 = await camoUrl(OLD_KEY, image, { encoding: 'base64' });
    const query = `/${hex.split('/')[1]!}?url=${encodeURIComponent(image)}`;
    const cases: [string, RegExp, RegExp][] = [
      [hex, /^kind: camo URL: hex digest and URL \(atmos\/camo\), the URL in the path$/m, /^hmac: verifies with key 1 of ECAMO_CAMO_KEY$/m],
      [base64, /^kind: camo URL: base64url digest and URL \(go-camo\), the URL in the path$/m, /^hmac: verifies with key 2 of ECAMO_CAMO_KEY$/m],
      [query, /^kind: camo URL: hex digest and URL \(atmos\/camo\), the URL in \?url=$/m, /^hmac: verifies with key 1 of ECAMO_CAMO_KEY$/m],
      [`http://${CANONICAL_HOST}${base64}`, /^kind: camo URL: base64url/m, /^hmac: verifies with key 2/m],
    ];
    for (const [pasted, kind, hmac] of cases) {
      const { code, out } = await inspect([pasted]);
      assert.equal(code, 0, out);
      assert.match(out, kind);
      assert.ok(out.includes(`\nurl: ${image}\n`), out);
      assert.match(out, hmac);
      assert.match(out, /verdict: accepted by the ecamo configured in ECAMO_\*/);
      assert.equal(await serverAnswer(pasted.replace(`http://${CANONICAL_HOST}`, '')), 'accepted');
    }
  });

  test('refused as ecamo refuses: another key, a malformed digest, a blocked source, another host, camo URLs off', async () => {
    const image = `${source.origin}/cat.png`;
    const foreign = await camoUrl('someone-elses-key', image);
    const [, digest = '', encoded = ''] = (await camoUrl(NEW_KEY, image)).split('/');
    const blocked = await camoUrl(NEW_KEY, `${source.origin}/blocked.png`);
    const cases: [string, Ecamo, string, RegExp][] = [
      [foreign, ecamo, '401 invalid-token', /invalid-token: the digest is not the HMAC-SHA1 of the URL under any of the 2 keys of ECAMO_CAMO_KEY/],
      [`/${digest.slice(2)}/${encoded}`, ecamo, '400 bad-request', /bad-request: camo digest has 38 characters, not 40 \(hex\) or 27 \(base64url\)/],
      [`/${digest}/${encoded}zz`, ecamo, '400 bad-request', /bad-request: camo URL is not hex of whole bytes/],
      [blocked, ecamo, '403 unallowed-source', /source matches ECAMO_SOURCE_BLOCKED_REGEXP/],
      [`/${digest}/${encoded}`, withoutCamo, '404 not-found', /camo URLs are off: ECAMO_CAMO_KEY is unset/],
    ];
    for (const [path, server, answer, reason] of cases) {
      const { code, out } = await inspect([path], server.env);
      assert.equal(code, 1, out);
      assert.match(out, /verdict: rejected\n/);
      assert.match(out, reason);
      assert.equal(await serverAnswer(path, server), answer);
    }
    assert.match(foreign, /^\/[0-9a-f]{40}\/[0-9a-f]+$/);
    const { out } = await inspect([foreign]);
    assert.match(out, /^hmac: does not verify with any of the 2 keys of ECAMO_CAMO_KEY$/m);

    const elsewhere = await inspect([`http://images.example/${digest}/${encoded}`]);
    assert.equal(elsewhere.code, 1);
    assert.match(elsewhere.out, /camo URLs are answered on ECAMO_CANONICAL_HOST ecamo\.test only, this one is for images\.example \(404 not-found\)/);
    assert.equal(await serverAnswer(`/${digest}/${encoded}`, ecamo, 'images.example'), '404 not-found');
  });

  test('with --camo-key or ECAMO_CAMO_KEY alone: the HMAC is judged, the rest is undecidable', async () => {
    const path = await camoUrl(OLD_KEY, `${source.origin}/cat.png`);
    const right = await inspect([path, '--camo-key', 'unrelated', '--camo-key', OLD_KEY], {});
    assert.equal(right.code, 1);
    assert.match(right.out, /^hmac: verifies with key 2 of --camo-key$/m);
    assert.match(right.out, /verdict: undecidable: no ecamo configuration in the environment/);

    const wrong = await inspect([path, '--camo-key', NEW_KEY], ecamo.env);
    assert.equal(wrong.code, 1);
    assert.match(wrong.out, /^hmac: does not verify with the key of --camo-key$/m);
    assert.match(wrong.out, /verdict: rejected\n/);

    const fromEnv = await runCli(['inspect', path], { ECAMO_CAMO_KEY: OLD_KEY });
    assert.equal(fromEnv.code, 1, fromEnv.stderr);
    assert.match(fromEnv.stdout, /^url: http:\/\/127\.0\.0\.1:\d+\/cat\.png$/m);
    assert.match(fromEnv.stdout, /^hmac: verifies with key 1 of ECAMO_CAMO_KEY$/m);
    assert.match(fromEnv.stdout, /verdict: undecidable/);

    const empty = await runCli(['inspect', path, '--camo-key', '']);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /--camo-key must not be empty/);
  });
});
