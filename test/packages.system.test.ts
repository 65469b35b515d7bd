/**
 * What `npm pack` makes of each package of the workspace, installed as a user
 * would: the SDK tarballs go into an empty project with `npm install
 * --offline` and an empty npm cache, beside a tarball of the `jose` that
 * `npm ci` installed (the only dependency from outside; nothing is fetched),
 * and a script there signs a URL with `@ecamo/signer` and verifies an ID token
 * with `@ecamo/verify`, both checked against the server's own code. The server
 * tarball needs a hundred packages from the registry to install, so it is
 * unpacked into that project instead, which is enough for its `ecamo/signer`
 * and `ecamo/verify` entry points.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generateKey } from '../src/config/generate-key.js';
import { loadEcamoKeys, loadServicePublicKeys } from '../src/config/keys.js';
import { signIdToken } from '../src/tokens/id-token.js';
import { verifyUrlToken } from '../src/tokens/url-token.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVICE_ORIGIN = 'https://wiki.example';
const ECAMO_ORIGIN = 'https://ecamo.example';
const SOURCE_ORIGIN = 'https://screenshots.example';
const SOURCE_URL = `${SOURCE_ORIGIN}/42.png`;

interface Packed {
  readonly name: string;
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}

let dir: string;
let project: string;
/** By package name. */
let packed: Map<string, Packed>;

/** npm as a user runs it: none of the `npm_*` variables of the `npm test` this may run under, never the registry. */
function npm(args: readonly string[], cwd: string): Promise<{ stdout: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')));
  return run('npm', [...args, '--no-update-notifier', '--no-audit', '--no-fund'], { cwd, env, maxBuffer: 16 * 1024 * 1024 });
}

/** Runs an ES module in the project; it prints one JSON line. */
async function inProject(name: string, code: string, input: unknown = null): Promise<unknown> {
  writeFileSync(join(project, name), code);
  const { stdout } = await run(process.execPath, [name], { cwd: project, env: { ...process.env, CHECK_INPUT: JSON.stringify(input) } });
  return JSON.parse(stdout);
}

/** What `tsc` makes of a package's `src/`: each `.ts` as `.js` and `.d.ts` under `dist/src/`. */
function compiledSources(packageRoot: string): string[] {
  const src = join(packageRoot, 'src');
  return readdirSync(src, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .flatMap((name) => [`dist/src/${name.replace(/\.ts$/, '.js')}`, `dist/src/${name.replace(/\.ts$/, '.d.ts')}`]);
}

function tarball(name: string): Packed {
  const found = packed.get(name);
  assert.ok(found !== undefined, `npm pack made no tarball of ${name}`);
  return found;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecamo-pack-'));
  project = join(dir, 'project');
  mkdirSync(project);
  // --ignore-scripts: the root's `prepare` would rebuild dist/ under the running tests.
  const { stdout } = await npm(['pack', '--workspaces', '--include-workspace-root', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
  packed = new Map((JSON.parse(stdout) as Packed[]).map((entry) => [entry.name, entry]));
  const jose = JSON.parse((await npm(['pack', join(ROOT, 'node_modules', 'jose'), '--ignore-scripts', '--json', '--pack-destination', dir], dir)).stdout) as Packed[];
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'project', private: true, type: 'module' }));
  const sdks = ['@ecamo/protocol', '@ecamo/signer', '@ecamo/verify'].map((name) => join(dir, tarball(name).filename));
  await npm(['install', '--offline', '--ignore-scripts', '--cache', join(dir, 'npm-cache'), join(dir, jose[0]!.filename), ...sdks], project);
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('npm pack', () => {
  test('each SDK tarball holds its package.json, README, LICENSE and its compiled src/: no tests, no sources, no source maps, nothing of another package', () => {
    for (const folder of ['protocol', 'signer', 'verify']) {
      const packageRoot = join(ROOT, 'packages', folder);
      const files = tarball(`@ecamo/${folder}`).files.map((file) => file.path).sort();
      assert.deepEqual(files, ['LICENSE', 'README.md', ...compiledSources(packageRoot), 'package.json'].sort(), folder);
    }
  });

  test('the server tarball holds its compiled src/ with source maps and nothing else: no tests, no packages/', () => {
    const compiled = new Set(compiledSources(ROOT).flatMap((file) => (file.endsWith('.d.ts') ? [file] : [file, `${file}.map`])));
    const files = tarball('ecamo').files.map((file) => file.path);
    assert.deepEqual(files.filter((file) => !compiled.has(file)).sort(), ['LICENSE', 'README.md', 'package.json']);
    assert.ok(files.includes('dist/src/signer/index.js') && files.includes('dist/src/verify/index.js') && files.includes('dist/src/cli/main.js'));
  });

  test("installed offline in an empty project: a URL the packed signer signs passes ecamo's verifier, an ID token ecamo mints passes the packed verifier, a forged one does not", async () => {
    const service = await generateKey('wiki-1');
    const ecamo = await generateKey('ecamo-1');
    const impostor = await generateKey('ecamo-1');
    const ecamoKeys = await loadEcamoKeys('ECAMO_PRIVATE_KEYS', JSON.stringify({ [ecamo.kid]: ecamo.privateJwk }), 'ECAMO_SIGNING_KID', ecamo.kid);
    const impostorKeys = await loadEcamoKeys('ECAMO_PRIVATE_KEYS', JSON.stringify({ [impostor.kid]: impostor.privateJwk }), 'ECAMO_SIGNING_KID', impostor.kid);
    const claims = { canonicalOrigin: ECAMO_ORIGIN, sourceOrigin: SOURCE_ORIGIN, serviceOrigin: SERVICE_ORIGIN };
    const result = (await inProject(
      'check.mjs',
      `import { createSigner } from '@ecamo/signer';
import { createIdTokenVerifier } from '@ecamo/verify';
const input = JSON.parse(process.env.CHECK_INPUT);
const signer = await createSigner({ origin: input.serviceOrigin, kid: input.serviceKid, privateJwk: input.servicePrivateJwk });
const url = await signer.url(input.sourceUrl, { sendToken: true });
const verifier = createIdTokenVerifier({ ecamoOrigin: input.ecamoOrigin, audience: input.sourceOrigin, keys: { keys: input.ecamoPublicJwks } });
const { serviceOrigin } = await verifier.verify('Bearer ' + input.idToken);
const forged = await verifier.verify('Bearer ' + input.forgedIdToken).then(() => 'accepted', (error) => error.code);
console.log(JSON.stringify({ url, serviceOrigin, forged }));
`,
      {
        serviceOrigin: SERVICE_ORIGIN,
        serviceKid: service.kid,
        servicePrivateJwk: service.privateJwk,
        sourceUrl: SOURCE_URL,
        ecamoOrigin: ECAMO_ORIGIN,
        sourceOrigin: SOURCE_ORIGIN,
        ecamoPublicJwks: ecamoKeys.publicJwks,
        idToken: await signIdToken(claims, ecamoKeys.signing, 45),
        forgedIdToken: await signIdToken(claims, impostorKeys.signing, 45),
      },
    )) as { url: string; serviceOrigin: string; forged: string };

    const token = /^\/\.ecamo\/v1\/r\/([^/]+)$/.exec(result.url)?.[1];
    assert.ok(token !== undefined, result.url);
    const serviceKeys = await loadServicePublicKeys('ECAMO_SERVICE_PUBLIC_KEYS', JSON.stringify({ [`${SERVICE_ORIGIN} ${service.kid}`]: service.publicJwk }));
    assert.deepEqual(await verifyUrlToken(token, SERVICE_ORIGIN, serviceKeys), { url: SOURCE_URL, sendToken: true, exp: undefined });
    assert.equal(result.serviceOrigin, SERVICE_ORIGIN);
    assert.equal(result.forged, 'invalid-token');
  });

  test("the server tarball's ecamo/signer and ecamo/verify are the installed @ecamo/signer and @ecamo/verify", async () => {
    await run('tar', ['-xzf', join(dir, tarball('ecamo').filename), '-C', dir]);
    renameSync(join(dir, 'package'), join(project, 'node_modules', 'ecamo'));
    const result = (await inProject(
      'entry-points.mjs',
      `import * as serverSigner from 'ecamo/signer';
import * as serverVerify from 'ecamo/verify';
import * as signer from '@ecamo/signer';
import * as verify from '@ecamo/verify';
const differing = (entry, pkg) => Object.keys({ ...entry, ...pkg }).filter((name) => entry[name] !== pkg[name]);
console.log(JSON.stringify({ signer: Object.keys(serverSigner).sort(), verify: Object.keys(serverVerify).sort(), differing: [...differing(serverSigner, signer), ...differing(serverVerify, verify)] }));
`,
    )) as { signer: string[]; verify: string[]; differing: string[] };
    assert.deepEqual(result.differing, []);
    assert.deepEqual(result.signer, ['camoUrl', 'createSigner']);
    assert.deepEqual(result.verify, ['IdTokenError', 'MemoryReplayStore', 'createIdTokenVerifier', 'createRedisReplayStore']);
  });
});
