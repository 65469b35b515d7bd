/** What the response cache tests share: an image, sources closed after their block, proxied requests signed with ecamo's key, a source held until released. */
import type http from 'node:http';
import { after } from 'node:test';
import type { AcceptClass } from '../../src/cache/accept-class.js';
import { cacheKey } from '../../src/cache/cache.js';
import { urlDigest } from '../../src/tokens/digest.js';
import { signProxyToken } from '../../src/tokens/proxy-token.js';
import { CANONICAL_HOST, SERVICE_ORIGIN, startSource, type Answer, type Ecamo, type Source } from '../helpers/harness.js';
import { paddedPng } from '../helpers/images.js';
import { until } from '../helpers/poll.js';

/** A real PNG, padded to 2 KB. */
export const PNG = paddedPng(2008);

/** Call inside a describe block: starts sources for its tests, and closes every one after them. */
export function sourcesOfBlock(): (handler: http.RequestListener) => Promise<Source> {
  const sources: Source[] = [];
  after(async () => {
    for (const source of sources) await source.close();
  });
  return async (handler) => {
    const started = await startSource(handler);
    sources.push(started);
    return started;
  };
}

export interface ProxiedOptions {
  readonly sendToken?: boolean;
  readonly serviceOrigin?: string;
  readonly method?: 'GET' | 'HEAD';
  readonly accept?: string;
}

/** A request on the proxy endpoint with a freshly minted proxy token for `url`. */
export async function proxied(ecamo: Ecamo, url: string, options: ProxiedOptions = {}): Promise<Answer> {
  const token = await signProxyToken(
    { url, serviceOrigin: options.serviceOrigin ?? SERVICE_ORIGIN, sendToken: options.sendToken ?? false },
    ecamo.config.ecamoKeys.signing,
    45,
  );
  return ecamo.get(`/${ecamo.config.prefix}/v1/p/${urlDigest(url)}?t=${token}`, {
    host: CANONICAL_HOST,
    method: options.method ?? 'GET',
    headers: options.accept === undefined ? {} : { accept: options.accept },
  });
}

/** A proxied request whose body may be cut: 'cut off', or the status and x-ecamo-cache of a complete answer. */
export async function attempt(ecamo: Ecamo, url: string): Promise<string> {
  try {
    const answer = await proxied(ecamo, url);
    return `complete ${answer.status} ${answer.header('x-ecamo-cache')}`;
  } catch {
    return 'cut off';
  }
}

/** A clock for ecamo's cache (StartEcamoOptions.cacheClock) that runs with the real one, and that a test moves ahead instead of waiting. */
export interface MovableClock {
  readonly now: () => number;
  advance(ms: number): void;
}

export function movableClock(): MovableClock {
  let ahead = 0;
  return {
    now: () => Date.now() + ahead,
    advance(ms) {
      ahead += ms;
    },
  };
}

/** Resolves once `count` requests wait on the fetch in flight for `url` (GET, no Accept, proxy token for SERVICE_ORIGIN), besides the one fetching. */
export async function joined(ecamo: Ecamo, url: string, count: number, variant: AcceptClass = 'other'): Promise<void> {
  const key = cacheKey(url, SERVICE_ORIGIN, false);
  await until(() => ecamo.server.app.cache!.waitingOn(key, variant) >= count);
}

/** A gate a source handler waits at until the test opens it. */
export interface Gate {
  readonly opened: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open = (): void => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}
