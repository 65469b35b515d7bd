/**
 * The code in docs/signing-and-verifying.md lives in
 * contrib/snippets/ and is included there verbatim; these tests check the
 * inclusion and run every snippet against real servers on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateKey, type GeneratedKey } from '../../src/config/generate-key.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { createSigner, type Signer } from '../../src/signer/index.js';
import { fetchAnswer, startEcamo, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { CLI, IMAGE, runCli, spawnListening, startFront, startImageSource, type Front } from '../helpers/wire.js';

const ROOT = new URL('../../../', import.meta.url);
const SNIPPETS = new URL('contrib/snippets/', ROOT);
const COMPILED = new URL('../../contrib/snippets/', import.meta.url);
const SECTIONS = ['## Signing tokens on the service origin', "## Verifying ecamo's ID token on a source"];
const FILES = { 'sign-on-service-origin.ts': 'ts', 'sign-cli.sh': 'sh', 'verify-on-source.ts': 'ts', 'verify-proxy.sh': 'sh' } as const;

function snippet(file: keyof typeof FILES): string {
  return readFileSync(new URL(file, SNIPPETS), 'utf8');
}

let dir: string;
/** Directory with an `npx` that runs this checkout's CLI for `npx ecamo ...` and refuses anything else (no registry). */
let shimPath: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ecamo-snippets-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'npx'), `#!/bin/sh\n[ "$1" = ecamo ] || { echo "npx stand-in: only ecamo" >&2; exit 127; }\nshift\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(bin, 'npx'), 0o755);
  shimPath = `${bin}:${process.env.PATH}`;
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('docs/signing-and-verifying.md includes each snippet verbatim, and its signing and verifying sections hold no other code', () => {
  const page = readFileSync(new URL('docs/signing-and-verifying.md', ROOT), 'utf8');
  const blocks = Object.entries(FILES).map(([file, lang]) => `\`\`\`${lang}\n${snippet(file as keyof typeof FILES)}\`\`\`\n`);
  for (const [index, block] of blocks.entries()) {
    assert.ok(page.includes(block), `docs/signing-and-verifying.md must include contrib/snippets/${Object.keys(FILES)[index]} verbatim`);
  }
  for (const heading of SECTIONS) {
    const start = page.indexOf(`\n${heading}\n`);
    assert.notEqual(start, -1, `docs/signing-and-verifying.md has no section ${heading}`);
    const next = page.indexOf('\n## ', start + 1);
    const section = page.slice(start, next === -1 ? undefined : next);
    for (const code of section.match(/```[a-z]*\n[\s\S]*?```\n/g) ?? []) {
      assert.ok(blocks.includes(code), `${heading}: a code block that is not a snippet file:\n${code}`);
    }
  }
});

describe('signing snippets, checked by a real ecamo', () => {
  let wikiKey: GeneratedKey;
  let keygenOutput: string;
  let ecamo: Ecamo;

  before(async () => {
    const printed = await runCli(['keygen', '--kid', 'wiki-1', '--origin', 'https://wiki.corp.example']);
    keygenOutput = printed.stdout;
    const parsed = JSON.parse(keygenOutput) as GeneratedKey & { ECAMO_SERVICE_PUBLIC_KEYS: object };
    wikiKey = parsed;
    // Secure mode, canonical host as in the snippets; nothing is fetched from the example hosts.
    ecamo = await startEcamo({
      ECAMO_INSECURE: 'false',
      ECAMO_CANONICAL_HOST: 'ecamo.corp.example',
      ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify(parsed.ECAMO_SERVICE_PUBLIC_KEYS),
    });
  });

  after(() => ecamo.close());

  async function assertAccepted(path: string, setCookie: string): Promise<void> {
    const answer = await ecamo.get(path, { host: 'wiki.corp.example', headers: { cookie: setCookie.split(';')[0]! } });
    assert.equal(answer.status, 302, `${path}: ${answer.header('x-ecamo-error')}`);
    assert.equal(answer.header('x-ecamo-action'), 'redirect-to-canonical');
    assert.match(answer.header('location')!, /^https:\/\/ecamo\.corp\.example\/\.ecamo\/v1\/p\//);
  }

  test('sign-on-service-origin.ts', async () => {
    const child = await spawnListening(
      [new URL('sign-on-service-origin.js', COMPILED).pathname],
      { ECAMO_SIGNER_PRIVATE_JWK: JSON.stringify(wikiKey.privateJwk) },
      /(\S+) (\S+) (__Host-ecamo_token=.*)\n/,
    );
    await child.stop();
    const [, src, internalSrc, setCookie] = child.match as unknown as [string, string, string, string];
    assert.match(setCookie, /; Path=\/; Max-Age=300; HttpOnly; SameSite=Lax; Secure$/);
    await assertAccepted(src, setCookie);
    await assertAccepted(internalSrc, setCookie);
  });

  test('sign-cli.sh', async () => {
    const work = mkdtempSync(join(dir, 'cli-'));
    writeFileSync(join(work, 'wiki-key.json'), keygenOutput);
    const run = await spawnListening(
      [new URL('sign-cli.sh', SNIPPETS).pathname],
      {
        PATH: shimPath,
        ECAMO_CANONICAL_HOST: 'ecamo.corp.example',
        ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ 'https://wiki.corp.example wiki-1': wikiKey.publicJwk }),
        ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamo.ecamoKey.kid]: ecamo.ecamoKey.privateJwk }),
      },
      /verdict: .*\n/,
      { command: 'bash', cwd: work },
    );
    const code = await run.exited;
    const lines = run.output().split('\n');
    assert.equal(code, 0, run.output());
    assert.match(run.output(), /verdict: accepted/);
    assert.match(lines[1]!, /^\/\.ecamo\/v1\/r\//);
    assert.match(lines[2]!, /^__Host-ecamo_token=/);
    await assertAccepted(lines[0]!, lines[2]!);
    await assertAccepted(lines[1]!, lines[2]!);
  });
});

describe('verifying snippets, fed by a real ecamo', () => {
  /**
   * ecamo behind a front whose 127.0.0.1 address is its canonical host, so
   * that the default JWKS URL works as in production. Sources stand behind
   * fronts too: their origin (the ID token's audience) is known before they start.
   */
  let ecamo: RunningServer;
  let ecamoFront: Front;
  let ecamoOrigin: string;
  let signer: Signer;
  let cookie: string;

  before(async () => {
    ecamoFront = await startFront();
    ecamoOrigin = ecamoFront.origin;
    const [ecamoKey, serviceKey] = await Promise.all([generateKey('ecamo-1'), generateKey('svc-1')]);
    const config = await loadConfig({
      ECAMO_CANONICAL_HOST: `127.0.0.1:${ecamoFront.port}`,
      ECAMO_INSECURE: 'true',
      ECAMO_PRIVATE_KEYS: JSON.stringify({ [ecamoKey.kid]: ecamoKey.privateJwk }),
      ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`http://wiki.test ${serviceKey.kid}`]: serviceKey.publicJwk }),
      ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: '^http://127\\.0\\.0\\.1:',
    });
    ecamo = await startServer(config, { logger: createLogger('silent'), listen: { host: '127.0.0.1', port: 0 } });
    ecamoFront.target(ecamo.port);
    signer = await createSigner({ origin: 'http://wiki.test', kid: serviceKey.kid, privateJwk: serviceKey.privateJwk });
    const auth = await signer.authCookie({ canonicalOrigin: ecamoOrigin, ttlSeconds: 300, insecure: true });
    cookie = `${auth.name}=${auth.token}`;
  });

  after(async () => {
    await ecamo.close(0);
    await ecamoFront.close();
  });

  async function throughEcamo(sourceUrl: string, sendToken: boolean): Promise<Answer> {
    const redirect = await fetchAnswer(`${ecamo.url}${await signer.url(sourceUrl, { sendToken })}`, { host: 'wiki.test', headers: { cookie } });
    assert.equal(redirect.status, 302);
    return fetchAnswer(redirect.header('location')!);
  }

  test('verify-on-source.ts', async () => {
    const front = await startFront();
    const port = front.port;
    const source = await spawnListening(
      [new URL('verify-on-source.js', COMPILED).pathname],
      { ECAMO_ORIGIN: ecamoOrigin, SOURCE_ORIGIN: front.origin, PORT: '0' },
      /source listening on .*port: (\d+)/,
    );
    front.target(Number(source.match[1]));
    try {
      const image = await throughEcamo(`http://127.0.0.1:${port}/42.svg`, true);
      assert.equal(image.status, 200, image.header('x-ecamo-error'));
      assert.match(image.body, /for http:\/\/wiki\.test/);
      const refused = await throughEcamo(`http://127.0.0.1:${port}/42.svg`, false);
      assert.equal(refused.status, 401);
      assert.equal(refused.header('x-ecamo-error'), 'source-response');
      const direct = await fetchAnswer(`http://127.0.0.1:${port}/42.svg`);
      assert.equal(direct.header('x-ecamo-error'), 'missing-token');
    } finally {
      await source.stop();
      await front.close();
    }
  });

  test('verify-proxy.sh', async () => {
    const upstream: Source = await startImageSource();
    const front = await startFront();
    const port = front.port;
    const proxy = await spawnListening(
      [new URL('verify-proxy.sh', SNIPPETS).pathname],
      {
        PATH: shimPath,
        ECAMO_ORIGIN: ecamoOrigin,
        SOURCE_ORIGIN: front.origin,
        UPSTREAM: upstream.origin,
        LISTEN: '127.0.0.1:0',
      },
      /"url":"http:\/\/127\.0\.0\.1:(\d+)".*"msg":"verify-proxy listening"/,
      { command: 'bash' },
    );
    front.target(Number(proxy.match[1]));
    try {
      const image = await throughEcamo(`http://127.0.0.1:${port}/cat.png`, true);
      assert.equal(image.status, 200, image.header('x-ecamo-error'));
      assert.deepEqual(image.bytes, IMAGE);
      assert.equal(upstream.requests.at(-1)!.headers['x-ecamo-service'], 'http://wiki.test');
      const direct = await fetchAnswer(`http://127.0.0.1:${port}/cat.png`);
      assert.equal(direct.status, 401);
      assert.equal(direct.header('x-ecamo-error'), 'missing-token');
    } finally {
      await proxy.stop();
      await upstream.close();
      await front.close();
    }
  });
});
