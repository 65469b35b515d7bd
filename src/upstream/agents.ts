import { Agent, buildConnector } from 'undici';
import { guardedConnector } from './guarded-connect.js';
import { finishingPausedResponses } from './paused-responses.js';
import { closingUnusedConnections } from './unused-connections.js';
import { admits, type UrlMatcher } from './url-policy.js';

/**
 * The two keep-alive pools sources are fetched through: one whose sockets may
 * only reach global addresses, and one for URLs the operator allowed to be
 * private (ECAMO_PRIVATE_SOURCE_ALLOWED_REGEXP), chosen per hop.
 */
export class SourceAgents {
  readonly #guarded: Agent;
  readonly #open: Agent;

  constructor(private readonly privateSourceAllowedRegexp: UrlMatcher | undefined, connect: { readonly ca?: string | Buffer } = {}) {
    const pool = { keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connections: 256 };
    this.#guarded = new Agent({ ...pool, connect: finishingPausedResponses(closingUnusedConnections(guardedConnector({ ...connect }))) });
    this.#open = new Agent({ ...pool, connect: finishingPausedResponses(closingUnusedConnections(buildConnector({ ...connect }))) });
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
