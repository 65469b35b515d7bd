/**
 * `npm run bench:jws [-- --tokens N --rounds N --concurrency N]`: what one
 * ES256 token verification costs the event loop, jose.jwtVerify (WebCrypto)
 * against verifyEs256Jwt (src/tokens/jws.ts, node:crypto on libuv's thread
 * pool), with the same key, token and claim rules.
 *
 * Each round verifies the same pool of distinct proxy-token-like tokens with
 * `concurrency` verifications in flight, as concurrent requests would, first
 * with one verifier then the other (alternating which goes first). Measured
 * per verification: the CPU time of the main thread, the event loop's (from
 * /proc/self/task/<pid>/schedstat, in ns: what a request path pays, and,
 * unlike event-loop utilisation, not inflated when other processes take the
 * core), and process CPU (every thread, libuv's pool included). The medians
 * over the rounds and their ratio go to stdout as Markdown, with the Node
 * version. Linux only. Run with another Node by calling its binary on
 * dist/bench/jws-verify.js. On a shared machine the ratio means more than
 * the absolute numbers.
 */
import { parseArgs } from 'node:util';
import { SignJWT, importJWK, jwtVerify, type CryptoKey } from 'jose';
import { generateKey } from '../src/config/generate-key.js';
import { CLOCK_TOLERANCE_SECONDS, verifyEs256Jwt, type ClaimRules, type TimeClaim } from '../src/tokens/jws.js';
import { mainThreadCpuNs, median } from './micro.js';

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '32' },
  },
});
const TOKENS = Number(values.tokens);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
for (const [name, value] of Object.entries({ tokens: TOKENS, rounds: ROUNDS, concurrency: CONCURRENCY })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
}

const RULES: ClaimRules<TimeClaim> = { issuer: 'ecamo:s', audience: 'ecamo:p', requiredClaims: ['exp'], maxLifetimeSeconds: 24 * 3600 };

interface Cost {
  /** Main-thread (event-loop) CPU time per verification, µs. */
  readonly eventLoopUs: number;
  /** Process CPU (all threads) per verification, µs. */
  readonly cpuUs: number;
}

/** Verifies every token once, `CONCURRENCY` at a time. */
async function measure(tokens: readonly string[], verify: (token: string) => Promise<unknown>): Promise<Cost> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tokens.length) await verify(tokens[next++]!);
  };
  const loopBefore = mainThreadCpuNs();
  const cpuBefore = process.cpuUsage();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const loopNs = mainThreadCpuNs() - loopBefore;
  const cpu = process.cpuUsage(cpuBefore);
  return { eventLoopUs: loopNs / 1000 / tokens.length, cpuUs: (cpu.user + cpu.system) / tokens.length };
}

async function main(): Promise<void> {
  const key = await generateKey('bench');
  const privateKey = (await importJWK(key.privateJwk, 'ES256')) as CryptoKey;
  const publicKey = (await importJWK(key.publicJwk, 'ES256')) as CryptoKey;
  const now = Math.floor(Date.now() / 1000);
  const tokens: string[] = [];
  for (let i = 0; i < TOKENS; i++) {
    const claims = { 'ecamo:svc': 'https://wiki.example', 'ecamo:url': `https://images.example/${i}.png`, 'ecamo:tok': false };
    tokens.push(
      await new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: key.kid })
        .setIssuer('ecamo:s')
        .setAudience('ecamo:p')
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + 3600)
        .sign(privateKey),
    );
  }
  const verifiers = {
    'jose.jwtVerify': (token: string) =>
      jwtVerify(token, publicKey, { algorithms: ['ES256'], issuer: 'ecamo:s', audience: 'ecamo:p', requiredClaims: ['exp'], clockTolerance: CLOCK_TOLERANCE_SECONDS }),
    verifyEs256Jwt: (token: string) => verifyEs256Jwt(token, (kid) => (kid === key.kid ? publicKey : undefined), RULES),
  };
  // Both verifiers accept every token: a refusal would be measured as a cheap path.
  for (const verify of Object.values(verifiers)) await verify(tokens[0]!);

  const costs: Record<keyof typeof verifiers, Cost[]> = { 'jose.jwtVerify': [], verifyEs256Jwt: [] };
  const names = Object.keys(verifiers) as (keyof typeof verifiers)[];
  await measure(tokens, verifiers.verifyEs256Jwt);
  await measure(tokens, verifiers['jose.jwtVerify']);
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) costs[name].push(await measure(tokens, verifiers[name]));
    process.stderr.write(`bench: round ${round + 1} of ${ROUNDS}\n`);
  }

  const jose = { eventLoopUs: median(costs['jose.jwtVerify'].map((c) => c.eventLoopUs)), cpuUs: median(costs['jose.jwtVerify'].map((c) => c.cpuUs)) };
  const ours = { eventLoopUs: median(costs.verifyEs256Jwt.map((c) => c.eventLoopUs)), cpuUs: median(costs.verifyEs256Jwt.map((c) => c.cpuUs)) };
  const row = (name: string, cost: Cost): string => `| ${name} | ${cost.eventLoopUs.toFixed(1)} | ${cost.cpuUs.toFixed(1)} |`;
  process.stdout.write(
    [
      `Node ${process.version}, ${TOKENS} tokens x ${ROUNDS} rounds, ${CONCURRENCY} in flight; medians per verification`,
      '',
      '| verifier | event-loop CPU (µs) | process CPU (µs) |',
      '|---|---|---|',
      row('jose.jwtVerify', jose),
      row('verifyEs256Jwt', ours),
      '',
      `event-loop CPU, jose ÷ ours: ${(jose.eventLoopUs / ours.eventLoopUs).toFixed(2)} ×; process CPU, jose ÷ ours: ${(jose.cpuUs / ours.cpuUs).toFixed(2)} ×`,
      '',
    ].join('\n'),
  );
}

await main();
