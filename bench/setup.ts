/**
 * Everything measured, started side by side on 127.0.0.1: the nginx origin,
 * ecamo (one process per kind of load, its cache at the defaults, and 2
 * workers for scaling), camo, the nginx proxy and a bare Node proxy, plus the request lists each
 * scenario drives them with, all checked once.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateKey } from '../src/config/generate-key.js';
import { createSigner } from '../src/signer/index.js';
import { checkRequest, type Expectation } from './check.js';
import { writeImage } from './fixtures.js';
import { originConfig, proxyConfig, startNginx } from './nginx.js';
import type { ScenarioId, Options } from './options.js';
import { camoPaths, mintedProxyPaths, nginxPaths, pageViews, sourceUrls, userCookie, writeRequests, type RequestLine } from './pools.js';
import type { Child } from './processes.js';
import type { Tools } from './prerequisites.js';
import { startBareProxy, startCamo, startEcamo } from './servers.js';

export interface Target {
  readonly id: string;
  readonly label: string;
  /** The process whose liveness and memory count for this target. */
  readonly server: Child;
  /** `http://127.0.0.1:port/` for wrk. */
  readonly url: string;
  readonly requestsFile: string;
  /**
   * Warm-up traffic: the measured list itself. On the proxy's long tail the runs go on where warm-up
   * stopped (measure.ts), so no image is asked for twice within the cache's admission window and no
   * token within the token caches' reach: a separate small warm-up list was a hot set, kept by the cache.
   */
  readonly warmupFile: string;
  /** What the first and last request must answer before anything is measured. */
  readonly expect: Expectation;
  readonly firstAndLast: readonly RequestLine[];
}

export interface Scenario {
  readonly id: ScenarioId;
  readonly title: string;
  readonly targets: readonly Target[];
  /** Sample RSS during its runs. */
  readonly watchMemory: boolean;
  /** Report throughput in MB/s first. */
  readonly bulk: boolean;
  /** wrk threads and connections when not the options' own. */
  readonly load?: { readonly threads: number; readonly connections: number };
  /** Also measure one pass over the pool before the rounds: every token's first request. */
  readonly firstSight: boolean;
  readonly bodyBytes?: number;
}

export interface Lab {
  readonly scenarios: readonly Scenario[];
  /** Every server, the origin included: any of them dying invalidates the numbers. */
  readonly servers: readonly Child[];
}

const SMALL_BYTES = 30 * 1024;
/** The hot-images scenario: this many distinct images, each with its one proxy token, requested round robin. */
const HOT_IMAGES = 1000;
const LARGE_BYTES = 1024 * 1024;
/**
 * Distinct 1 MiB downloads: more than the cache's admission window at its defaults (8,192), so that
 * each is a one-hit image, streamed and never kept, and the figure is the streaming path's memory.
 * (With 2,000, each was asked for again within the window and kept: 64 MiB of 1 MiB entries
 * churning, 256 MiB of peak RSS against 128 for camo.)
 */
const LARGE_POOL = 10_000;
/** The bench's own load shape, kept for the hot path and the large bodies (64 concurrent downloads). */
const WIDE_LOAD = { threads: 2, connections: 64 } as const;

export async function buildLab(tools: Tools, options: Options, dir: string, repoRoot: string, log: (line: string) => void): Promise<Lab> {
  const wanted = (id: ScenarioId): boolean => options.scenarios.includes(id);
  const www = join(dir, 'www');
  mkdirSync(www, { mode: 0o755 });
  const small = writeImage(www, '30k.png', SMALL_BYTES, 1);
  const large = writeImage(www, '1m.png', LARGE_BYTES, 2);

  const base = (port: number): string => `http://127.0.0.1:${port}`;
  const [ecamoKey, serviceKey] = await Promise.all([generateKey('bench-ecamo'), generateKey('bench-service')]);
  const camoKey = randomBytes(20).toString('hex');

  // Each server takes a port of its own as it starts (no port is probed and handed over), in the order the
  // addresses are needed: the origin's is in every source URL, ecamo's own is its canonical and service origin.
  log('starting servers');
  const originDir = join(dir, 'nginx-origin');
  const { port: originPort, child: origin } = await startNginx(tools.nginx, 'nginx origin', originDir, (port) => originConfig(originDir, port, www));
  const hot = wanted('hot') || wanted('hot-2x64');
  const ecamoCommon = { cli: tools.ecamo, node: options.node, ecamoKey, serviceKey, originPort, cwd: repoRoot, camoKey };
  // The proxy and redirect scenarios' ecamo; it also mints every proxy token the benchmark sends.
  const { port: ecamoPort, child: ecamo } = await startEcamo({ ...ecamoCommon, name: 'ecamo', serviceOrigin: undefined, workers: 1 });
  const ecamoOrigin = base(ecamoPort);
  // ecamo is its own service origin too: redirect requests then carry the right Host without tricks.
  const serviceOrigin = ecamoOrigin;
  // One process per kind of load, so that each one's memory is its own.
  const [ecamo2, ecamoLarge, ecamoHot, camo, bare] = await Promise.all([
    wanted('proxy') ? startEcamo({ ...ecamoCommon, name: 'ecamo-2w', serviceOrigin, workers: 2 }) : undefined,
    wanted('large') ? startEcamo({ ...ecamoCommon, name: 'ecamo-large', serviceOrigin, workers: 1 }) : undefined,
    hot ? startEcamo({ ...ecamoCommon, name: 'ecamo-hot', serviceOrigin, workers: 1 }) : undefined,
    wanted('proxy') || wanted('large') || hot ? startCamo(tools.camo, options.node, camoKey) : undefined,
    wanted('proxy') ? startBareProxy(options.node, tools.ecamo, originPort) : undefined,
  ]);

  const signer = await createSigner({ origin: serviceOrigin, kid: serviceKey.kid, privateJwk: serviceKey.privateJwk });
  const poolSize = options.pool;
  // Without the proxy scenario one token is still needed, for the Location of nginx's 302.
  const smallUrls = sourceUrls(originPort, small.name, wanted('proxy') ? poolSize : 1);
  const largeUrls = wanted('large') ? sourceUrls(originPort, large.name, Math.min(poolSize, LARGE_POOL)) : [];
  const hotUrls = hot ? sourceUrls(originPort, small.name, HOT_IMAGES, 'hot') : [];
  log(`minting ${smallUrls.length + largeUrls.length + hotUrls.length} proxy tokens through ecamo's redirect endpoint`);
  const cookie = await userCookie(signer, ecamoOrigin, 0);
  const mint = (urls: readonly string[]): Promise<string[]> => mintedProxyPaths(signer, ecamoOrigin, cookie, urls);
  const ecamoSmall = await mint(smallUrls);
  const ecamoLargePaths = await mint(largeUrls);
  const ecamoHotPaths = await mint(hotUrls);
  const views = wanted('redirect') ? await pageViews(signer, ecamoOrigin, sourceUrls(originPort, small.name, options.images, 'img'), options.users) : [];

  const proxyDir = join(dir, 'nginx-proxy');
  // nginx's 302 points at a real ecamo proxy URL, so its Location is as long as ecamo's.
  const { port: proxyPort, child: nginx } = await startNginx(tools.nginx, 'nginx proxy', proxyDir, (port) =>
    proxyConfig(proxyDir, port, originPort, `${ecamoOrigin}${ecamoSmall[0]}`),
  );
  const file = (name: string, lines: readonly (RequestLine | string)[]): string => writeRequests(join(dir, `${name}.txt`), lines);
  const ends = <T>(list: readonly T[]): T[] => [list[0]!, list[list.length - 1]!];
  const asLines = (paths: readonly string[]): RequestLine[] => ends(paths).map((path) => ({ path }));

  const scenarios: Scenario[] = [];
  if (wanted('proxy')) {
    const expect: Expectation = { kind: 'image', image: small };
    const ecamoFile = file('proxy-ecamo', ecamoSmall);
    const nginxLines = nginxPaths(ecamoSmall, small.name);
    const nginxFile = file('proxy-nginx', nginxLines);
    const camoLines = camoPaths(camoKey, smallUrls);
    const camoFile = file('proxy-camo', camoLines);
    scenarios.push({
      id: 'proxy',
      title: `(a) proxy endpoint: a long tail of ${poolSize} distinct ${kib(small.size)} images, each once per pass`,
      watchMemory: true,
      bulk: false,
      firstSight: true,
      bodyBytes: small.size,
      targets: [
        {
          id: 'ecamo', label: 'ecamo (1 worker)', server: ecamo, url: base(ecamoPort),
          requestsFile: ecamoFile, warmupFile: ecamoFile, expect, firstAndLast: asLines(ecamoSmall),
        },
        {
          id: 'camo', label: 'camo', server: camo!.child, url: base(camo!.port),
          requestsFile: camoFile, warmupFile: camoFile, expect, firstAndLast: asLines(camoLines),
        },
        // The very paths camo gets, served by ecamo (ECAMO_CAMO_KEY): HMAC instead of a proxy token, the same pipeline after it.
        {
          id: 'ecamo-camo', label: 'ecamo, camo URLs', server: ecamo, url: base(ecamoPort),
          requestsFile: camoFile, warmupFile: camoFile, expect, firstAndLast: asLines(camoLines),
        },
        {
          id: 'nginx', label: 'nginx proxy_pass (ceiling)', server: nginx, url: base(proxyPort),
          requestsFile: nginxFile, warmupFile: nginxFile, expect, firstAndLast: asLines(nginxLines),
        },
        // What a Node proxy with no checks at all reaches here (bare-proxy.ts), on nginx's very paths: the part of nginx's rate that Node can reach.
        {
          id: 'bare-node', label: 'bare Node proxy (reference)', server: bare!.child, url: base(bare!.port),
          requestsFile: nginxFile, warmupFile: nginxFile, expect, firstAndLast: asLines(nginxLines),
        },
        // (d) the same paths against the 2-worker instance: its canonical host is its own address, and the tokens don't name it.
        {
          id: 'ecamo-2w', label: 'ecamo (2 workers)', server: ecamo2!.child, url: base(ecamo2!.port),
          requestsFile: ecamoFile, warmupFile: ecamoFile, expect, firstAndLast: asLines(ecamoSmall),
        },
      ],
    });
  }
  if (wanted('redirect')) {
    const expect: Expectation = { kind: 'redirect', locationPrefix: `${ecamoOrigin}/.ecamo/v1/p/`, follow: small };
    const requestsFile = file('redirect', views);
    scenarios.push({
      id: 'redirect',
      title: `(b) redirect endpoint page views: ${options.users} users × ${options.images} URL tokens → 302`,
      watchMemory: false,
      bulk: false,
      firstSight: false,
      targets: [
        { id: 'ecamo', label: 'ecamo (1 worker)', server: ecamo, url: base(ecamoPort), requestsFile, warmupFile: requestsFile, expect, firstAndLast: ends(views) },
        { id: 'nginx', label: 'nginx return 302 (ceiling)', server: nginx, url: base(proxyPort), requestsFile, warmupFile: requestsFile, expect, firstAndLast: ends(views) },
      ],
    });
  }
  if (wanted('large')) {
    const expect: Expectation = { kind: 'image', image: large };
    const ecamoFile = file('large-ecamo', ecamoLargePaths);
    const nginxLines = nginxPaths(ecamoLargePaths, large.name);
    const nginxFile = file('large-nginx', nginxLines);
    const camoLines = camoPaths(camoKey, largeUrls);
    const camoFile = file('large-camo', camoLines);
    scenarios.push({
      id: 'large',
      title: `(c) large bodies: ${kib(large.size)} image, ${WIDE_LOAD.connections} concurrent downloads`,
      watchMemory: true,
      bulk: true,
      load: WIDE_LOAD,
      // Token checks are noise next to moving a megabyte; warm-up may use the measured pool.
      firstSight: false,
      bodyBytes: large.size,
      targets: [
        {
          id: 'ecamo', label: 'ecamo (1 worker)', server: ecamoLarge!.child, url: base(ecamoLarge!.port),
          requestsFile: ecamoFile, warmupFile: ecamoFile, expect, firstAndLast: asLines(ecamoLargePaths),
        },
        { id: 'camo', label: 'camo', server: camo!.child, url: base(camo!.port), requestsFile: camoFile, warmupFile: camoFile, expect, firstAndLast: asLines(camoLines) },
        { id: 'nginx', label: 'nginx proxy_pass (ceiling)', server: nginx, url: base(proxyPort), requestsFile: nginxFile, warmupFile: nginxFile, expect, firstAndLast: asLines(nginxLines) },
      ],
    });
  }

  if (hot) {
    const expect: Expectation = { kind: 'image', image: small };
    const ecamoFile = file('hot-ecamo', ecamoHotPaths);
    const camoLines = camoPaths(camoKey, hotUrls);
    const camoFile = file('hot-camo', camoLines);
    const nginxLines = nginxPaths(ecamoHotPaths, small.name).map((path) => `/cached${path}`);
    const nginxFile = file('hot-nginx', nginxLines);
    const targets: Target[] = [
      { id: 'ecamo', label: 'ecamo (1 worker, cache)', server: ecamoHot!.child, url: base(ecamoHot!.port), requestsFile: ecamoFile, warmupFile: ecamoFile, expect, firstAndLast: asLines(ecamoHotPaths) },
      { id: 'camo', label: 'camo (no cache)', server: camo!.child, url: base(camo!.port), requestsFile: camoFile, warmupFile: camoFile, expect, firstAndLast: asLines(camoLines) },
      { id: 'nginx', label: 'nginx proxy_cache', server: nginx, url: base(proxyPort), requestsFile: nginxFile, warmupFile: nginxFile, expect, firstAndLast: asLines(nginxLines) },
    ];
    const title = `(e) hot images: ${HOT_IMAGES} distinct ${kib(small.size)} images, each with its proxy token, round robin; caches on`;
    // The warm-up is the measured list itself: it fills every cache, as a popular page does.
    const common = { watchMemory: false, bulk: false, firstSight: false, bodyBytes: small.size, targets };
    if (wanted('hot')) scenarios.push({ ...common, id: 'hot', title });
    if (wanted('hot-2x64')) scenarios.push({ ...common, id: 'hot-2x64', title: `${title}, ${WIDE_LOAD.threads} × ${WIDE_LOAD.connections}`, load: WIDE_LOAD });
  }

  log('checking every target answers correctly');
  for (const scenario of scenarios) {
    for (const target of scenario.targets) {
      for (const line of target.firstAndLast) await checkRequest(`${scenario.id} / ${target.label}`, target.url, line, target.expect);
    }
  }
  const servers = [origin, ecamo, ecamo2?.child, ecamoLarge?.child, ecamoHot?.child, camo?.child, bare?.child, nginx].filter((child): child is Child => child !== undefined);
  return { scenarios, servers };
}

function kib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}
