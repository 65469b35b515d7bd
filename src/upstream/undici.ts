/**
 * undici's Agent and buildConnector, required from their own modules: its
 * index also loads its fetch, WebSocket, cache and EventSource, and through
 * `globalThis.Headers` Node's bundled copy of undici as well, which a process
 * that only dispatches requests never uses (docs/performance.md, "Where the
 * memory goes"). The index also adds request(), stream() and the rest of its
 * API to every Dispatcher: an Agent from here has dispatch() (all that
 * fetch.ts calls) and those only once something has loaded the index.
 * undici has no `exports` map, so these paths resolve as any file of the
 * package; test/upstream/undici.test.ts checks that they are the very
 * functions the index exports.
 */
import { createRequire } from 'node:module';
import type { Agent as UndiciAgent, buildConnector as undiciBuildConnector } from 'undici';

const require = createRequire(import.meta.url);

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof UndiciAgent;
export type Agent = UndiciAgent;
export const buildConnector = require('undici/lib/core/connect.js') as typeof undiciBuildConnector;
// eslint-disable-next-line @typescript-eslint/no-namespace -- the types undici declares under the function's name
export declare namespace buildConnector {
  export type BuildOptions = undiciBuildConnector.BuildOptions;
  export type connector = undiciBuildConnector.connector;
}
