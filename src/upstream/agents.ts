import { Agent, buildConnector } from './undici.js';
import type { AddressRanges } from '../config/ip-address.js';
import { globalOnly, guardedConnector, refusingBlocked } from './guarded-connect.js';
import { finishingPausedResponses } from './paused-responses.js';
import { closingUnusedConnections } from './unused-connections.js';
import { admits, type UrlMatcher } from './url-policy.js';

/**
 * The two keep-alive pools sources are fetched through: one whose sockets may
 * only reach global addresses, and one for URLs the operator allowed to be
 * private (ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP), chosen per hop. Neither
 * connects to an address of ECAMO_SOURCE_BLOCKED_CIDRS.
 */
export class SourceAgents {
  readonly #guarded: Agent;
  readonly #open: Agent;

  constructor(
    private readonly privateSourceAllowedRegexp: UrlMatcher | undefined,
    blocked: AddressRanges | undefined,
    connect: { readonly ca?: string | Buffer } = {},
  ) {
    const pool = { keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connections: 256 };
    // The operator's deny list holds in both pools, private addresses allowed or not.
    const guarded = guardedConnector({ ...connect }, blocked === undefined ? globalOnly : refusingBlocked(blocked, globalOnly));
    const open = blocked === undefined ? buildConnector({ ...connect }) : guardedConnector({ ...connect }, refusingBlocked(blocked));
    this.#guarded = new Agent({ ...pool, connect: finishingPausedResponses(closingUnusedConnections(guarded)) });
    this.#open = new Agent({ ...pool, connect: finishingPausedResponses(closingUnusedConnections(open)) });
  }

  /** The pool for this URL: the guarded one unless the operator allowed it to be private. */
  for(url: URL): Agent {
    // A URL too long to be judged is not allowed to be private.
    return this.privateSourceAllowedRegexp !== undefined && admits(this.privateSourceAllowedRegexp, url.href) ? this.#open : this.#guarded;
  }

  async close(): Promise<void> {
    await Promise.all([this.#guarded.close(), this.#open.close()]);
  }
}
