import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { generateKey } from '../../src/config/generate-key.js';
import { loadConfig } from '../../src/config/load.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { createSigner, type Signer } from '../../src/signer/index.js';
import { spawnChild } from '../helpers/children.js';
import { GIF } from '../helpers/images.js';
import { unlessInstalled } from '../helpers/programs.js';

const skip = unlessInstalled('nginx');

const NGINX = '/usr/sbin/nginx';
const SNIPPET = new URL('../../../contrib/deploy/nginx/service-origin.conf', import.meta.url).pathname;

let dir: string | undefined;
let nginx: ChildProcess | undefined;
let ecamo: RunningServer | undefined;
/** nginx listens on a unix socket in `dir`: no port to pick, none to race for. */
let toNginx: Agent;
let signer: Signer;
let source: http.Server | undefined;
let sourcePort: number;

/** Host names only ever sent in Host headers: nothing resolves or dials them. */
const WIKI_HOST = 'wiki.test';
const CANONICAL_HOST = 'ecamo.test';

before(async () => {
  if (skip !== false) return;
  const gifSource = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/gif' }).end(GIF));
  source = gifSource;
  await new Promise<void>((resolve) => gifSource.listen(0, '127.0.0.1', resolve));
  sourcePort = (gifSource.address() as AddressInfo).port;

  const serviceOrigin = `http://${WIKI_HOST}`;
  const [ecamoKey, serviceKey] = await Promise.all([generateKey('e1'), generateKey('w1')]);
  const config = await loadConfig({
    ECAMO_CANONICAL_HOST: CANONICAL_HOST,
    ECAMO_INSECURE: 'true',
    ECAMO_PRIVATE_KEYS: JSON.stringify({ e1: ecamoKey.privateJwk }),
    ECAMO_SERVICE_PUBLIC_KEYS: JSON.stringify({ [`${serviceOrigin} w1`]: serviceKey.publicJwk }),
    ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP: `^http://127\\.0\\.0\\.1:${sourcePort}/`,
    ECAMO_LOG_LEVEL: 'silent',
  });
  ecamo = await startServer(config, { listen: { host: '127.0.0.1', port: 0 } });
  signer = await createSigner({ origin: serviceOrigin, kid: 'w1', privateJwk: serviceKey.privateJwk });

  dir = mkdtempSync(join(tmpdir(), 'ecamo-nginx-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream ecamo_upstream { server 127.0.0.1:${ecamo.port}; keepalive 8; }
  server {
    listen unix:${dir}/wiki.sock;
    include ${SNIPPET};
    location / { return 200 "the wiki itself\\n"; }
  }
}
`,
  );
  nginx = spawnChild(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore', detached: true });
  toNginx = new Agent({ connect: { socketPath: join(dir, 'wiki.sock') } });
  for (let attempt = 0; ; attempt++) {
    try {
      await (await request(`http://${WIKI_HOST}/`, { dispatcher: toNginx })).body.text();
      break;
    } catch (error) {
      if (attempt > 100) throw error;
      await sleep(50);
    }
  }
});

after(async () => {
  nginx?.kill('SIGQUIT');
  await toNginx?.close();
  await ecamo?.close(0);
  source?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('contrib nginx snippet routes the prefix to ecamo with the service Host intact', { skip }, async () => {
  const cookie = await signer.authCookie({ canonicalOrigin: `http://${ecamo!.app.config.canonicalHost}`, ttlSeconds: 60, insecure: true });
  const path = await signer.url(`http://127.0.0.1:${sourcePort}/a.gif`);
  const redirect = await request(`http://${WIKI_HOST}${path}`, { dispatcher: toNginx, headers: { cookie: `${cookie.name}=${cookie.token}` } });
  await redirect.body.dump();
  assert.equal(redirect.statusCode, 302);
  assert.equal(redirect.headers['x-ecamo-action'], 'redirect-to-canonical');

  const location = new URL(String(redirect.headers.location));
  assert.equal(location.host, CANONICAL_HOST);
  const image = await request(`${ecamo!.url}${location.pathname}${location.search}`, { headers: { host: CANONICAL_HOST } });
  assert.equal(image.statusCode, 200);
  assert.deepEqual(Buffer.from(await image.body.arrayBuffer()), GIF);

  const wiki = await request(`http://${WIKI_HOST}/page`, { dispatcher: toNginx });
  assert.equal(await wiki.body.text(), 'the wiki itself\n');
});
