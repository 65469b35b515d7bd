import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { spawnChild } from '../helpers/children.js';
import { unlessInstalled } from '../helpers/programs.js';

const skip = unlessInstalled('chromium');

const CHROMIUM = '/usr/bin/chromium';
const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

// Flags for a closed network: no background connections, no sandbox as root.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The page's DOM as far as this test reads it: the project compiles without the DOM lib. */
declare const document: { getElementById(id: string): { readonly complete: boolean; readonly naturalWidth: number } | null };

let demo: ChildProcess | undefined;
let browser: Browser | undefined;
let pageUrl: string;
let output = '';

before(async () => {
  if (skip !== false) return;
  demo = spawnChild(process.execPath, [CLI, 'demo', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  demo.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  demo.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  while (!/Open (http:\/\/\S+)/.test(output)) {
    if (demo.exitCode !== null) throw new Error(`demo exited: ${output}`);
    await once(demo.stdout!, 'data');
  }
  pageUrl = /Open (http:\/\/\S+)/.exec(output)![1]!;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  if (demo && demo.exitCode === null) {
    demo.kill('SIGTERM');
    await once(demo, 'exit');
  }
});

test('the demo page renders the proxied images in Chromium and not the refused one', { skip }, async () => {
  const page = await browser!.newPage();
  const statuses = new Map<string, number>();
  page.on('response', (response) => statuses.set(response.url(), response.status()));
  await page.goto(pageUrl, { waitUntil: 'load' });
  // Runs in the page: a missing element reads as an image that did not render.
  const images = await page.evaluate(() => {
    const rendered = (id: string): { complete: boolean; width: number } => {
      const image = document.getElementById(id);
      return { complete: image?.complete ?? false, width: image?.naturalWidth ?? 0 };
    };
    return { public: rendered('public'), internal: rendered('internal'), refused: rendered('refused') };
  });
  assert.ok(images.public.width > 0, 'public image rendered');
  assert.ok(images.internal.width > 0, 'ID-token image rendered');
  assert.equal(images.refused.complete, true);
  assert.equal(images.refused.width, 0, 'refused image not rendered');

  // The images really came through the canonical origin's proxy endpoint.
  const proxied = [...statuses].filter(([url]) => /\/\.ecamo\/v1\/p\//.test(url));
  assert.deepEqual(proxied.map(([, status]) => status).sort(), [200, 200, 403]);
  const redirects = [...statuses].filter(([url]) => /\/\.ecamo\/v1\/r\//.test(url));
  assert.deepEqual(redirects.map(([, status]) => status), [302, 302, 302]);

  if (process.env.ECAMO_SCREENSHOT) await page.screenshot({ path: process.env.ECAMO_SCREENSHOT, fullPage: true });
  await page.close();
});

test('opening an image URL directly sends a person to the source itself', { skip }, async () => {
  const page = await browser!.newPage();
  await page.goto(pageUrl, { waitUntil: 'load' });
  const src = await page.getAttribute('#public', 'src');
  const response = await page.goto(new URL(src!, pageUrl).href);
  assert.match(page.url(), /\/public\.svg$/);
  assert.equal(response?.status(), 200);
  await page.close();
});
