/**
 * camoUrl (ecamo/signer), `ecamo sign-camo` and ECAMO_CAMO_KEY: fixed vectors
 * computed with openssl, and round trips through a real ecamo.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateKey } from '../../src/config/generate-key.js';
import { signCamoCommand } from '../../src/cli/sign.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { camoUrl } from '../../src/signer/index.js';
import { CANONICAL_HOST, startEcamo, type Ecamo, type Source } from '../helpers/harness.js';
import { VECTORS } from '../helpers/camo.js';
import { IMAGE, runCli, startImageSource } from '../helpers/wire.js';

async function signCamo(args: string[], env: Record<string, string> = {}): Promise<string> {
  let out = '';
  await signCamoCommand(args, env, (text) => (out += text));
  return out;
}

describe('camoUrl', () => {
  test('matches the openssl vectors, hex by default and base64url on request', async () => {
    assert.equal(await camoUrl(VECTORS.key, VECTORS.url), VECTORS.hexPath);
    assert.equal(await camoUrl(VECTORS.key, VECTORS.url, { encoding: 'hex' }), VECTORS.hexPath);
    assert.equal(await camoUrl(VECTORS.key, new URL(VECTORS.url), { encoding: 'base64' }), VECTORS.base64Path);
  });

  test('signs the normalised URL, the one ecamo fetches', async () => {
    assert.equal(await camoUrl(VECTORS.key, 'HTTP://Images.Example/cat.png?size=large&v=2'), VECTORS.hexPath);
  });

  test('refuses what ecamo would refuse', async () => {
    await assert.rejects(camoUrl(VECTORS.key, 'ftp://img.example/x'), /http or https/);
    await assert.rejects(camoUrl(VECTORS.key, 'https://user:pw@img.example/x'), /credentials/);
    await assert.rejects(camoUrl(VECTORS.key, '/relative.png'), TypeError);
    await assert.rejects(camoUrl('', VECTORS.url), /key/);
    await assert.rejects(camoUrl(VECTORS.key, VECTORS.url, { encoding: 'base32' as 'hex' }), /encoding/);
  });
});

describe('ecamo sign-camo', () => {
  test('--key and --encoding, or the first key of ECAMO_CAMO_KEY', async () => {
    assert.equal(await signCamo(['--key', VECTORS.key, VECTORS.url]), `${VECTORS.hexPath}\n`);
    assert.equal(await signCamo(['--encoding', 'base64', VECTORS.url], { ECAMO_CAMO_KEY: `${VECTORS.key},${VECTORS.oldKey}` }), `${VECTORS.base64Path}\n`);
  });

  test('mistakes name the flag or variable and exit 2', async () => {
    await assert.rejects(signCamo([VECTORS.url]), (error: unknown) => error instanceof ConfigError && error.variable === 'ECAMO_CAMO_KEY');
    await assert.rejects(signCamo([VECTORS.url], { ECAMO_CAMO_KEY: 'a,,b' }), (error: unknown) => error instanceof ConfigError && error.variable === 'ECAMO_CAMO_KEY');
    await assert.rejects(signCamo(['--key', 'k', '--encoding', 'base32', VECTORS.url]), /--encoding must be one of hex, base64/);
    await assert.rejects(signCamo(['--key', 'k']), /exactly one source URL/);
    await assert.rejects(signCamo(['--key', 'k', 'javascript:alert(1)']), /http or https/);
    const run = await runCli(['sign-camo', VECTORS.url]);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^ecamo: configuration error: ECAMO_CAMO_KEY: /);
    const printed = await runCli(['sign-camo', '--key', VECTORS.key, VECTORS.url]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.stdout, `${VECTORS.hexPath}\n`);
  });
});

describe('ECAMO_CAMO_KEY', () => {
  let valid: Record<string, string>;
  before(async () => {
    const [ecamoKey, serviceKey] = await Promise.all([generateKey('ecamo-1'), generateKey('svc-1')]);
    valid = {
      ECAMO_CANONICAL_HOST: 'ecamo.example',
      ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamoKey.kid]: ecamoKey.privateJwk }),
      ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`https://wiki.example ${serviceKey.kid}`]: serviceKey.publicJwk }),
    };
  });

  test('unset or empty: no camo keys; set: one key per comma-separated entry', async () => {
    assert.equal((await loadConfig(valid)).camoKeys.length, 0);
    assert.equal((await loadConfig({ ...valid, ECAMO_CAMO_KEY: '' })).camoKeys.length, 0);
    const config = await loadConfig({ ...valid, ECAMO_CAMO_KEY: 'new key,old-key' });
    assert.deepEqual(config.camoKeys.map((key) => key.export().toString('utf8')), ['new key', 'old-key']);
    assert.ok(Object.isFrozen(config.camoKeys));
  });

  test('stray commas, surrounding spaces and camo\'s published default key stop the start', async () => {
    for (const text of ['a,', ',a', 'a,,b', 'a, b', ' a', '0x24FEEDFACEDEADBEEFCAFE']) {
      await assert.rejects(
        loadConfig({ ...valid, ECAMO_CAMO_KEY: text }),
        (error: unknown) => error instanceof ConfigError && error.variable === 'ECAMO_CAMO_KEY' && !error.message.includes('\n'),
        JSON.stringify(text),
      );
    }
  });
});

describe('round trip through a real ecamo', () => {
  let ecamo: Ecamo;
  let source: Source;
  before(async () => {
    ecamo = await startEcamo({ ECAMO_CAMO_KEY: `${VECTORS.key},${VECTORS.oldKey}` });
    source = await startImageSource();
  });
  after(async () => {
    await Promise.all([ecamo.close(), source.close()]);
  });

  test('paths from camoUrl and from sign-camo (both encodings, either key) serve the image', async () => {
    const url = `${source.origin}/cat.png`;
    const paths = [
      await camoUrl(VECTORS.key, url),
      await camoUrl(VECTORS.key, url, { encoding: 'base64' }),
      await camoUrl(VECTORS.oldKey, url),
      (await signCamo(['--key', VECTORS.oldKey, '--encoding', 'base64', url])).trim(),
      (await signCamo([url], { ECAMO_CAMO_KEY: VECTORS.key })).trim(),
    ];
    for (const path of paths) {
      const answer = await ecamo.get(path, { host: CANONICAL_HOST });
      assert.equal(answer.status, 200, `${path}: ${answer.header('x-ecamo-error')}`);
      assert.deepEqual(answer.bytes, IMAGE);
    }
  });
});
