/**
 * `node dist/bench/sniff.js [--ms N --rounds N]`: what the byte check of a
 * source's 200 costs per response, by kind of body: `judgeBytes`
 * (src/content/sniff.ts, the check as ecamo runs it) and `fileTypeFromBuffer`
 * alone (what every check cost before the signature fast path,
 * src/content/signatures.ts, answered the common images first).
 *
 * Each body is the window ecamo judges: a real image from test/helpers/images.ts
 * followed by zeros up to SNIFF_WINDOW_BYTES, or that much HTML, or random
 * bytes. Per round, every body is judged one call after the other for `ms`
 * milliseconds by each function, alternating which goes first; the main thread's
 * CPU time per call (µs), median over the rounds, goes to stdout as Markdown with the
 * Node version and the load average at its start and end. Ratios mean more than µs on a shared machine.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { fileTypeFromBuffer } from 'file-type/core';
import { DEFAULT_CONTENT_TYPES } from '../src/config/settings.js';
import { judgeBytes, SNIFF_WINDOW_BYTES, type ContentRules } from '../src/content/sniff.js';
import { APNG, AVIF, GIF, HEIC, JPEG, PNG, SVG, WEBP } from '../test/helpers/images.js';
import { cpuNsPerCall, measurementOptions, median } from './micro.js';

const { ms: MILLISECONDS, rounds: ROUNDS } = measurementOptions({ ms: 200, rounds: 7 });

const RULES: ContentRules = { contentTypeAllowed: new Set(DEFAULT_CONTENT_TYPES), svg: 'sandbox' };

const window = (start: Buffer): Buffer => Buffer.concat([start, Buffer.alloc(SNIFF_WINDOW_BYTES)]).subarray(0, SNIFF_WINDOW_BYTES);
const HTML = Buffer.from(`<!DOCTYPE html><html><head><title>not an image</title></head><body>${'<p>text</p>'.repeat(400)}`);

const BODIES: Readonly<Record<string, Buffer>> = {
  PNG: window(PNG),
  APNG: window(APNG),
  GIF: window(GIF),
  JPEG: window(JPEG),
  WebP: window(WEBP),
  AVIF: window(AVIF),
  'HEIC (file-type)': window(HEIC),
  'SVG (file-type, then the SVG rule)': window(SVG),
  HTML: window(HTML),
  'random bytes': randomBytes(SNIFF_WINDOW_BYTES),
};

const CHECKS = {
  judgeBytes: (bytes: Buffer) => judgeBytes(bytes, RULES),
  fileTypeFromBuffer: (bytes: Buffer) => fileTypeFromBuffer(bytes),
};
type Check = keyof typeof CHECKS;

/** Main-thread CPU per call, µs. */
async function cost(check: Check, bytes: Buffer): Promise<number> {
  return (await cpuNsPerCall(() => CHECKS[check](bytes), MILLISECONDS, 100)) / 1000;
}

async function main(): Promise<void> {
  const names = Object.keys(CHECKS) as Check[];
  const costs = new Map(Object.keys(BODIES).map((body) => [body, { judgeBytes: [] as number[], fileTypeFromBuffer: [] as number[] }]));
  for (const bytes of Object.values(BODIES)) for (const name of names) await cost(name, bytes); // warm-up
  const loadBefore = os.loadavg()[0]!;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [body, bytes] of Object.entries(BODIES)) {
      for (const name of round % 2 === 0 ? names : [...names].reverse()) costs.get(body)![name].push(await cost(name, bytes));
    }
    process.stderr.write(`bench: round ${round + 1} of ${ROUNDS}\n`);
  }
  const rows = [...costs].map(([body, measured]) => {
    const judge = median(measured.judgeBytes);
    const fileType = median(measured.fileTypeFromBuffer);
    return `| ${body} | ${judge.toFixed(2)} | ${fileType.toFixed(2)} | ${(fileType / judge).toFixed(1)} × |`;
  });
  process.stdout.write(
    [
      `Node ${process.version}, ${MILLISECONDS} ms per measurement x ${ROUNDS} rounds, ${SNIFF_WINDOW_BYTES}-byte windows; medians of main-thread CPU per call; load average ${loadBefore.toFixed(1)} → ${os.loadavg()[0]!.toFixed(1)} (1 min, start → end) on ${os.availableParallelism()} CPUs`,
      '',
      '| body | judgeBytes (µs) | fileTypeFromBuffer alone (µs) | file-type ÷ judgeBytes |',
      '|---|--:|--:|--:|',
      ...rows,
      '',
    ].join('\n'),
  );
}

await main();
