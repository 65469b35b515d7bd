/**
 * Keys from files (ECAMO_SERVICE_PUBLIC_KEYS_FILE, ECAMO_PRIVATE_KEYS_FILE),
 * re-read on reload: rotation without a restart, and unusable files that
 * leave the keys in use alone.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { generateKey, type GeneratedKey } from '../../src/config/generate-key.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { createSigner } from '../../src/signer/index.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { signProxyToken } from '../../src/tokens/proxy-token.js';
import { CANONICAL_HOST, fetchAnswer, SERVICE_ORIGIN, startEcamo, startSource, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { count } from '../helpers/prometheus.js';
import { signingKeyOf } from '../helpers/proxy-tokens.js';
import { spawnServe } from '../helpers/serve-process.js';
import { IMAGE } from '../helpers/wire.js';

let dir: string;
let k1: GeneratedKey;
let k2: GeneratedKey;
let service: GeneratedKey;
let source: Source;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecamo-keys-'));
  [k1, k2, service] = await Promise.all([generateKey('k1'), generateKey('k2'), generateKey('svc-1')]);
  source = await startSource((_req, res) => res.writeHead(200, { 'content-type': 'image/png', 'content-length': IMAGE.length }).end(IMAGE));
});

after(async () => {
  await source.close();
  await rm(dir, { recursive: true, force: true });
});

let fileCounter = 0;
/** Writes `content` to a fresh file under the test directory and returns its path. */
async function keyFile(content: unknown): Promise<string> {
  const path = join(dir, `keys-${fileCounter++}.json`);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** Replaces a file whole, as `kubectl` updates a mounted Secret and editors save: write aside, rename over. */
async function replaceFile(path: string, content: unknown): Promise<void> {
  const aside = `${path}.new`;
  await writeFile(aside, JSON.stringify(content));
  await rename(aside, path);
}

/** The kid of the proxy token in a redirect, which ecamo MACs (HS256) under the key derived from that kid's private key. */
function kidOfLocation(answer: Answer): string {
  const token = new URL(answer.header('location')!).searchParams.get('t')!;
  const header = decodeProtectedHeader(token);
  assert.equal(header.alg, 'HS256');
  return header.kid!;
}

async function jwksKids(ecamo: Ecamo): Promise<string[]> {
  const answer = await ecamo.get('/.well-known/jwks.json', { host: CANONICAL_HOST });
  return (JSON.parse(answer.body) as { keys: { kid: string }[] }).keys.map((key) => key.kid).sort();
}

const serviceKeys = (): Record<string, unknown> => ({ [`${SERVICE_ORIGIN} svc-1`]: service.publicJwk });

/** ecamo over key files (the harness's own service key is replaced by `service`). */
async function startOnFiles(privateContent: unknown, logLines?: string[]): Promise<{ ecamo: Ecamo; privateFile: string; serviceFile: string }> {
  const privateFile = await keyFile(privateContent);
  const serviceFile = await keyFile(serviceKeys());
  const logger = logLines === undefined ? undefined : createLogger('info', { write: (line: string) => void logLines.push(line) });
  const ecamo = await startEcamo(
    { ECAMO_PRIVATE_KEYS: '', ECAMO_SERVICE_PUBLIC_KEYS: '', ECAMO_PRIVATE_KEYS_FILE: privateFile, ECAMO_SERVICE_PUBLIC_KEYS_FILE: serviceFile, ECAMO_ADMIN_BIND: '127.0.0.1:0' },
    logger === undefined ? {} : { logger },
  );
  return { ecamo, privateFile, serviceFile };
}

/** A page view through ecamo, signed with `service` (the key in the service key file). */
async function viewImage(ecamo: Ecamo, path: string): Promise<Answer> {
  const signer = await createSigner({ origin: SERVICE_ORIGIN, kid: service.kid, privateJwk: service.privateJwk });
  const cookie = await signer.authCookie({ canonicalOrigin: `http://${CANONICAL_HOST}`, ttlSeconds: 600, insecure: true });
  const redirect = await ecamo.get(await signer.url(`${source.origin}${path}`), { headers: { cookie: `${cookie.name}=${cookie.token}` } });
  if (redirect.status !== 302) return redirect;
  const location = new URL(redirect.header('location')!);
  const image = await fetchAnswer(`${ecamo.url}${location.pathname}${location.search}`, { host: CANONICAL_HOST });
  return Object.assign(image, { redirect });
}

async function reloads(ecamo: Ecamo): Promise<{ success: number; failure: number }> {
  const text = (await fetchAnswer(`${ecamo.server.adminUrl}/metrics`)).body;
  return { success: count(text, 'ecamo_key_reloads_total', { outcome: 'success' }), failure: count(text, 'ecamo_key_reloads_total', { outcome: 'failure' }) };
}

describe('key files: configuration', () => {
  const env = (overrides: Record<string, string>): Record<string, string> => ({
    ECAMO_CANONICAL_HOST: 'ecamo.example',
    ECAMO_PRIVATE_KEYS: JSON.stringify({ k1: k1.privateJwk }),
    ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify(serviceKeys()),
    ...overrides,
  });
  const refused = async (overrides: Record<string, string>, variable: string, message: RegExp): Promise<void> => {
    await assert.rejects(loadConfig(env(overrides)), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.equal(error.variable, variable);
      assert.match(error.message, message);
      return true;
    });
  };

  it('reads both files, the private one bare or with its signing_kid', async () => {
    const bare = await loadConfig(env({ ECAMO_PRIVATE_KEYS: '', ECAMO_PRIVATE_KEYS_FILE: await keyFile({ k1: k1.privateJwk }), ECAMO_SERVICE_PUBLIC_KEYS: '', ECAMO_SERVICE_PUBLIC_KEYS_FILE: await keyFile(serviceKeys()) }));
    assert.equal(bare.ecamoKeys.signing.kid, 'k1');
    assert.deepEqual([...bare.serviceKeys.keys()], [`${SERVICE_ORIGIN} svc-1`]);
    const wrapped = await keyFile({ signing_kid: 'k2', keys: { k1: k1.privateJwk, k2: k2.privateJwk } });
    const config = await loadConfig(env({ ECAMO_PRIVATE_KEYS: '', ECAMO_PRIVATE_KEYS_FILE: wrapped, ECAMO_SIGNING_KID: 'k1' }));
    assert.equal(config.ecamoKeys.signing.kid, 'k2', "the file's signing_kid wins over ECAMO_SIGNING_KID");
    const withoutKid = await keyFile({ keys: { k1: k1.privateJwk, k2: k2.privateJwk } });
    assert.equal((await loadConfig(env({ ECAMO_PRIVATE_KEYS: '', ECAMO_PRIVATE_KEYS_FILE: withoutKid, ECAMO_SIGNING_KID: 'k1' }))).ecamoKeys.signing.kid, 'k1');
    // A key named "keys" is a key, not the wrapped form.
    const named = await keyFile({ keys: { ...k1.privateJwk, kid: undefined } });
    assert.equal((await loadConfig(env({ ECAMO_PRIVATE_KEYS: '', ECAMO_PRIVATE_KEYS_FILE: named }))).ecamoKeys.signing.kid, 'keys');
  });

  it('refuses a variable and its file together, and unusable files, naming the file variable', async () => {
    const file = await keyFile({ k1: k1.privateJwk });
    await refused({ ECAMO_PRIVATE_KEYS_FILE: file }, 'ECAMO_PRIVATE_KEYS_FILE', /both set/);
    await refused({ ECAMO_SERVICE_PUBLIC_KEYS_FILE: await keyFile(serviceKeys()) }, 'ECAMO_SERVICE_PUBLIC_KEYS_FILE', /both set/);
    await refused({ ECAMO_PRIVATE_KEYS: '', ECAMO_PRIVATE_KEYS_FILE: join(dir, 'absent.json') }, 'ECAMO_PRIVATE_KEYS_FILE', /cannot read .*absent\.json \(ENOENT\)/);
    await refused({ ECAMO_PRIVATE_KEYS: '', ECAMO_PRIVATE_KEYS_FILE: await keyFile('{"k1": {"kty"') }, 'ECAMO_PRIVATE_KEYS_FILE', /not valid JSON/);
    await refused({ ECAMO_SERVICE_PUBLIC_KEYS: '', ECAMO_SERVICE_PUBLIC_KEYS_FILE: await keyFile({ [`${SERVICE_ORIGIN} s`]: service.privateJwk }) }, 'ECAMO_SERVICE_PUBLIC_KEYS_FILE', /private key/);
    await refused({ ECAMO_PRIVATE_KEYS: '', ECAMO_PRIVATE_KEYS_FILE: await keyFile({ signing_kid: 'k3', keys: { k1: k1.privateJwk } }) }, 'ECAMO_PRIVATE_KEYS_FILE', /names "k3"/);
    await refused({ ECAMO_PRIVATE_KEYS: '', ECAMO_PRIVATE_KEYS_FILE: await keyFile({ signing: 'k1', keys: { k1: k1.privateJwk } }) }, 'ECAMO_PRIVATE_KEYS_FILE', /unknown member "signing"/);
    await refused({ ECAMO_PRIVATE_KEYS: '', ECAMO_PRIVATE_KEYS_FILE: await keyFile({ keys: { k1: k1.privateJwk, k2: k2.privateJwk } }) }, 'ECAMO_SIGNING_KID', /required/);
  });
});

describe('key files: reload', () => {
  it('rotates ecamo keys: add, switch the signing kid, drop the old one', async () => {
    const { ecamo, privateFile } = await startOnFiles({ k1: k1.privateJwk });
    try {
      const before = await viewImage(ecamo, '/a.png');
      assert.equal(before.status, 200);
      const oldProxyUrl = (before as Answer & { redirect: Answer }).redirect.header('location')!;
      assert.equal(kidOfLocation((before as Answer & { redirect: Answer }).redirect), 'k1');

      // 1. Add k2, still signing with k1: the JWKS publishes both.
      await replaceFile(privateFile, { signing_kid: 'k1', keys: { k1: k1.privateJwk, k2: k2.privateJwk } });
      await ecamo.server.reload();
      assert.deepEqual(await jwksKids(ecamo), ['k1', 'k2']);
      // 2. Switch to k2: new proxy tokens carry k2, those minted under k1 still work.
      await replaceFile(privateFile, { signing_kid: 'k2', keys: { k1: k1.privateJwk, k2: k2.privateJwk } });
      await ecamo.server.reload();
      const switched = (await viewImage(ecamo, '/a.png')) as Answer & { redirect: Answer };
      assert.equal(switched.status, 200);
      assert.equal(kidOfLocation(switched.redirect), 'k2', 'the issued-token cache was emptied with the switch');
      const old = new URL(oldProxyUrl);
      assert.equal((await fetchAnswer(`${ecamo.url}${old.pathname}${old.search}`, { host: CANONICAL_HOST })).status, 200);
      // 3. Drop k1: its tokens are refused, even one verified (and cached) a moment ago.
      await replaceFile(privateFile, { k2: k2.privateJwk });
      await ecamo.server.reload();
      assert.deepEqual(await jwksKids(ecamo), ['k2']);
      const dropped = await fetchAnswer(`${ecamo.url}${old.pathname}${old.search}`, { host: CANONICAL_HOST });
      assert.deepEqual([dropped.status, dropped.header('x-ecamo-error')], [401, 'unknown-key']);
      assert.equal((await viewImage(ecamo, '/b.png')).status, 200);
      assert.deepEqual(await reloads(ecamo), { success: 3, failure: 0 });
    } finally {
      await ecamo.close();
    }
  });

  it('rotates service keys: a service key removed from its file is refused after the reload', async () => {
    const { ecamo, serviceFile } = await startOnFiles({ k1: k1.privateJwk });
    try {
      assert.equal((await viewImage(ecamo, '/s.png')).status, 200);
      await replaceFile(serviceFile, {});
      await ecamo.server.reload();
      const refused = await viewImage(ecamo, '/s.png');
      assert.deepEqual([refused.status, refused.header('x-ecamo-error')], [401, 'unknown-key']);
    } finally {
      await ecamo.close();
    }
  });

  it('keeps the keys in use when a file is truncated, invalid or deleted, logs why at error level and counts the failure', async () => {
    const logLines: string[] = [];
    const { ecamo, privateFile, serviceFile } = await startOnFiles({ k1: k1.privateJwk }, logLines);
    try {
      const full = JSON.stringify({ signing_kid: 'k2', keys: { k1: k1.privateJwk, k2: k2.privateJwk } });
      const broken: [string, string | undefined][] = [
        [serviceFile, JSON.stringify({ [`${SERVICE_ORIGIN} svc-1`]: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } })], // not a point on the curve
        [privateFile, full.slice(0, full.length / 2)], // replaced mid-write
        [privateFile, JSON.stringify({ signing_kid: 'k9', keys: { k2: k2.privateJwk } })], // names a key it lacks
        [privateFile, undefined], // deleted
      ];
      for (const [file, content] of broken) {
        if (content === undefined) await unlink(file);
        else await writeFile(file, content);
        await ecamo.server.reload();
        // Only one file broken at a time: the error logged is that file's.
        if (file === serviceFile) await writeFile(serviceFile, JSON.stringify(serviceKeys()));
        assert.equal((await viewImage(ecamo, `/kept-${logLines.length}.png`)).status, 200, `old keys serve after ${content?.slice(0, 30) ?? 'deletion'}`);
        assert.deepEqual(await jwksKids(ecamo), ['k1']);
      }
      assert.deepEqual(await reloads(ecamo), { success: 0, failure: 4 });
      const failures = logLines.map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message: string } }).filter((line) => line.msg.startsWith('key reload failed'));
      assert.equal(failures.length, 4);
      assert.ok(failures.every((line) => line.level === 50), 'logged at error level');
      assert.match(failures[0]!.err!.message, /^ECAMO_SERVICE_PUBLIC_KEYS_FILE: .*not a valid P-256 key/);
      assert.match(failures[1]!.err!.message, /^ECAMO_PRIVATE_KEYS_FILE: is not valid JSON/);
      assert.match(failures[2]!.err!.message, /^ECAMO_PRIVATE_KEYS_FILE: .*"k9"/);
      assert.match(failures[3]!.err!.message, /^ECAMO_PRIVATE_KEYS_FILE: cannot read .* \(ENOENT\)/);
    } finally {
      await ecamo.close();
    }
  });

  it('rotation under load: no request fails while keys are added, switched and reloaded again and again', async () => {
    const { ecamo, privateFile } = await startOnFiles({ k1: k1.privateJwk });
    try {
      let stop = false;
      const outcomes: number[] = [];
      const worker = async (id: number): Promise<void> => {
        for (let i = 0; !stop; i++) outcomes.push((await viewImage(ecamo, `/load-${id}-${i % 5}.png`)).status);
      };
      const load = Promise.all([0, 1, 2, 3].map(worker));
      const steps = [
        { signing_kid: 'k1', keys: { k1: k1.privateJwk, k2: k2.privateJwk } },
        { signing_kid: 'k2', keys: { k1: k1.privateJwk, k2: k2.privateJwk } },
        { signing_kid: 'k1', keys: { k1: k1.privateJwk, k2: k2.privateJwk } },
      ];
      for (let round = 0; round < 10; round++) {
        await replaceFile(privateFile, steps[round % steps.length]);
        await Promise.all([ecamo.server.reload(), ecamo.server.reload()]);
        const seen = outcomes.length;
        while (outcomes.length < seen + 4) await new Promise((resolve) => setImmediate(resolve));
      }
      stop = true;
      await load;
      assert.ok(outcomes.length >= 40);
      assert.deepEqual(outcomes.filter((status) => status !== 200), []);
      assert.equal((await reloads(ecamo)).failure, 0);
    } finally {
      await ecamo.close();
    }
  });
});

describe('key files: SIGHUP to a running `ecamo serve`', () => {
  it('the proxy-token MAC keys follow the private key file: a kid verifies HS256 tokens exactly while it is configured', async () => {
    const privateFile = await keyFile({ k1: k1.privateJwk });
    const served = spawnServe({
      ECAMO_PRIVATE_KEYS_FILE: privateFile,
      ECAMO_SERVICE_PUBLIC_KEYS_FILE: await keyFile(serviceKeys()),
      ECAMO_ADMIN_BIND: '127.0.0.1:0',
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://127\\.0\\.0\\.1:',
    });
    try {
      // One process: its one line names both listeners.
      const [listening] = await served.waitFor((line) => line.msg === 'ecamo listening');
      const publicUrl = String(listening!.url);
      const adminUrl = String(listening!.admin);
      const keysById = { k1, k2 };
      /** The answer to an HS256 proxy token MACed, as ecamo would mint it, under `kid`'s derived key. */
      const present = async (kid: 'k1' | 'k2'): Promise<string> => {
        const url = `${source.origin}/${kid}.png`;
        const token = await signProxyToken({ url, serviceOrigin: SERVICE_ORIGIN, sendToken: false }, await signingKeyOf(keysById[kid].privateJwk, kid), 60);
        const answer = await fetchAnswer(`${publicUrl}/.ecamo/v1/p/${urlDigest(url)}?t=${token}`, { host: 'ecamo.test' });
        return `${answer.status} ${answer.header('x-ecamo-error') ?? ''}`.trim();
      };
      /** SIGHUP, then the reload's outcome as the admin listener counts it. */
      const hangUp = async (content: unknown, reloadsSoFar: number): Promise<void> => {
        await replaceFile(privateFile, content);
        process.kill(served.child.pid!, 'SIGHUP');
        for (;;) {
          const text = (await fetchAnswer(`${adminUrl}/metrics`)).body;
          assert.equal(count(text, 'ecamo_key_reloads_total', { outcome: 'failure' }), 0);
          if (count(text, 'ecamo_key_reloads_total', { outcome: 'success' }) > reloadsSoFar) return;
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      assert.deepEqual([await present('k1'), await present('k2')], ['200', '401 unknown-key']);
      await hangUp({ signing_kid: 'k2', keys: { k1: k1.privateJwk, k2: k2.privateJwk } }, 0);
      assert.deepEqual([await present('k1'), await present('k2')], ['200', '200'], 'the old kid still verifies while configured');
      await hangUp({ k2: k2.privateJwk }, 1);
      assert.deepEqual([await present('k1'), await present('k2')], ['401 unknown-key', '200'], 'a removed key takes its MAC key with it');
    } finally {
      await served.kill();
    }
  });
});
